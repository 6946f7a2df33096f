package storage_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// fixedNow is the clock of every test store. It is deliberately not UTC:
// the store must record it in UTC.
var fixedNow = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.FixedZone("CET", 3600))

func clock() time.Time { return fixedNow }

// The credentials the tests act as.
var (
	viewer = domain.Origin{Actor: "token:view", ActorUuid: testID(0xa1), Role: domain.RoleViewer,
		Source: "192.0.2.1", CorrelationID: testID(0xc1)}
	operator = domain.Origin{Actor: "token:ops", ActorUuid: testID(0xa2), Role: domain.RoleOperator,
		Source: "192.0.2.2", CorrelationID: testID(0xc2)}
	admin = domain.Origin{Actor: "user:root", ActorUuid: testID(0xa3), Role: domain.RoleAdmin,
		Source: "192.0.2.3", CorrelationID: testID(0xc3)}
)

// testID is a version-4 GUID whose order follows n.
func testID(n byte) guid.GUID {
	return guid.GUID{0: n, 6: 0x40, 8: 0x80, 15: n}
}

// openStore opens the store in dir with the fixed clock and closes it when
// the test ends (closing twice is harmless).
func openStore(t *testing.T, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(dir, storage.Options{Now: clock})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a store in a fresh directory.
func newStore(t *testing.T) *storage.Store {
	t.Helper()
	return openStore(t, t.TempDir())
}

// checkStore runs bbolt's consistency check and verifies the audit chain.
func checkStore(t *testing.T, s *storage.Store) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	evs, err := s.Events(0, 0)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	if err := storage.VerifyChain(evs); err != nil {
		t.Errorf("VerifyChain: %v", err)
	}
}

func allEvents(t *testing.T, s *storage.Store) []storage.Event {
	t.Helper()
	evs, err := s.Events(0, 0)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	return evs
}

// newCard is a valid card numbered n.
func newCard(n byte, serial string, status domain.CardStatus) storage.Smartcard {
	return storage.Smartcard{
		Uuid:                   testID(n),
		Status:                 status,
		AssignedUserUuid:       testID(0x50),
		ProfileTemplateUuid:    testID(0x60),
		ProfileTemplateVersion: 1,
		SerialNumber:           serial,
		Middleware:             "Base CSP",
		Atr:                    "3B8D01",
	}
}

func importCards(t *testing.T, s *storage.Store, cards ...storage.Smartcard) {
	t.Helper()
	if err := s.ImportCards(context.Background(), admin, cards); err != nil {
		t.Fatalf("ImportCards: %v", err)
	}
}

func mustCard(t *testing.T, s *storage.Store, id guid.GUID) storage.Smartcard {
	t.Helper()
	c, err := s.Card(id)
	if err != nil {
		t.Fatalf("Card(%s): %v", id, err)
	}
	return c
}

func mustRequest(t *testing.T, s *storage.Store, id guid.GUID) storage.Request {
	t.Helper()
	r, err := s.Request(id)
	if err != nil {
		t.Fatalf("Request(%s): %v", id, err)
	}
	return r
}

func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	card := newCard(1, "{D1EF5A7C-0000-4AA9-A822-346554DDD3C9}", domain.CardActive)
	importCards(t, s, card)
	req, err := s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid, Comment: "lost on the train"})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	secret, _, err := s.CreateToken(context.Background(), admin, "backup-robot", domain.RoleViewer)
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	checkStore(t, s)

	cardBefore := mustCard(t, s, card.Uuid)
	reqBefore := mustRequest(t, s, req.Uuid)
	evBefore := allEvents(t, s)
	tokBefore, err := s.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(evBefore) != 4 {
		t.Fatalf("%d events before restart, want 4 (import, request, status, token)", len(evBefore))
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, dir)
	if got := mustCard(t, s, card.Uuid); !reflect.DeepEqual(got, cardBefore) {
		t.Errorf("card after restart:\n got %+v\nwant %+v", got, cardBefore)
	}
	if got := mustCard(t, s, card.Uuid); got.Status != domain.CardDisabled || got.PreviousStatus != domain.CardActive ||
		got.StatusChangedBy != "token:ops" || got.StatusReason != "lost on the train" || got.StatusRequestUuid != req.Uuid ||
		!got.StatusChanged.Equal(fixedNow) {
		t.Errorf("card after restart lost its status change: %+v", got)
	}
	if got, err := s.CardBySerial("d1ef5a7c-0000-4aa9-a822-346554ddd3c9"); err != nil || got.Uuid != card.Uuid {
		t.Errorf("CardBySerial after restart = %v, %v", got.Uuid, err)
	}
	disabled := domain.CardDisabled
	if got, err := s.Cards(storage.CardFilter{Status: &disabled}); err != nil || len(got) != 1 || got[0].Uuid != card.Uuid {
		t.Errorf("Cards(Disabled) after restart = %v, %v", got, err)
	}
	if got := mustRequest(t, s, req.Uuid); !reflect.DeepEqual(got, reqBefore) || got.Status != domain.RequestExecuting {
		t.Errorf("request after restart:\n got %+v\nwant %+v", got, reqBefore)
	}
	if got := allEvents(t, s); !reflect.DeepEqual(got, evBefore) {
		t.Errorf("events after restart:\n got %+v\nwant %+v", got, evBefore)
	}
	if got, err := s.Tokens(); err != nil || !reflect.DeepEqual(got, tokBefore) {
		t.Errorf("Tokens after restart = %+v, %v; want %+v", got, err, tokBefore)
	}
	if tok, err := s.Authenticate(secret); err != nil || tok.Name != "backup-robot" {
		t.Errorf("Authenticate after restart = %+v, %v", tok, err)
	}

	// The chain goes on where it stopped.
	if _, err := s.SetRequestStatus(context.Background(), operator, req.Uuid, domain.RequestCompleted, "Completed"); err != nil {
		t.Fatalf("SetRequestStatus after restart: %v", err)
	}
	evs := allEvents(t, s)
	if len(evs) != 5 || evs[4].Seq != 5 || evs[4].PrevHash != evBefore[3].Hash {
		t.Errorf("event after restart does not continue the chain: %+v", evs[len(evs)-1])
	}
	checkStore(t, s)
}

func TestOpenTwiceIsInUse(t *testing.T) {
	dir := t.TempDir()
	first := openStore(t, dir)
	start := time.Now()
	second, err := storage.Open(dir, storage.Options{LockTimeout: 50 * time.Millisecond, Now: clock})
	if err == nil {
		second.Close()
		t.Fatal("second Open of a held file succeeded")
	}
	if !errors.Is(err, storage.ErrInUse) {
		t.Errorf("second Open: %v, want ErrInUse", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v despite a 50ms lock timeout", d)
	}
	// The first store is unharmed and, once closed, lets the next one in.
	importCards(t, first, newCard(1, "abc", domain.CardActive))
	checkStore(t, first)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := storage.Open(dir, storage.Options{LockTimeout: 50 * time.Millisecond, Now: clock})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	defer third.Close()
	if _, err := third.Card(testID(1)); err != nil {
		t.Errorf("Card after reopen: %v", err)
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "cardstop")
	s := openStore(t, dir)
	if _, err := os.Stat(filepath.Join(dir, storage.FileName)); err != nil {
		t.Errorf("database file: %v", err)
	}
	checkStore(t, s)
}

func TestOpenSchema(t *testing.T) {
	tests := []struct {
		name    string
		schema  string
		wantErr string // "" means Open succeeds
	}{
		{name: "current", schema: "2"},
		{name: "older", schema: "1"},
		{name: "oldest", schema: "0"},
		{name: "newer", schema: "99", wantErr: "schema version 99"},
		{name: "next", schema: "3", wantErr: "schema version 3"},
		{name: "garbage", schema: "one", wantErr: "unreadable schema version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			importCards(t, s, newCard(1, "abc", domain.CardActive))
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			setMeta(t, dir, "schema", tt.schema)

			s, err := storage.Open(dir, storage.Options{Now: clock})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer s.Close()
				if _, err := s.Card(testID(1)); err != nil {
					t.Errorf("Card: %v", err)
				}
				checkStore(t, s)
				return
			}
			if err == nil {
				s.Close()
				t.Fatalf("Open of a file with schema %q succeeded", tt.schema)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open: %v, want it to mention %q", err, tt.wantErr)
			}
			// The refusal must neither hold the lock nor rewrite the version.
			if got := getMeta(t, dir, "schema"); got != tt.schema {
				t.Errorf("schema after refused Open = %q, want %q", got, tt.schema)
			}
		})
	}
}

// TestMigrateTo2: a schema 1 file, whose status index holds the Active
// cards too, opens as schema 2 without them, and its searches and lists
// by status find what they did.
func TestMigrateTo2(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	importCards(t, s, newCard(1, "{c1}", domain.CardActive), newCard(2, "{c2}", domain.CardActive), newCard(3, "{c3}", domain.CardSuspended))
	s.Close()
	// What schema 1 wrote: an entry for every card, Active ones too.
	db, err := bolt.Open(filepath.Join(dir, storage.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	entries := func() (n int) {
		db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("cards.status")).ForEach(func(k, v []byte) error { n++; return nil })
		})
		return n
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, n := range []byte{1, 2} {
			id := testID(n)
			if err := tx.Bucket([]byte("cards.status")).Put(append([]byte{byte(domain.CardActive)}, id[:]...), nil); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 3 {
		t.Fatalf("the schema 1 file has %d status entries; want 3", n)
	}
	db.Close()

	s = openStore(t, dir)
	active, suspended := domain.CardActive, domain.CardSuspended
	for _, tt := range []struct {
		status *domain.CardStatus
		want   int
	}{{&active, 2}, {&suspended, 1}, {nil, 3}} {
		cards, total, err := s.SearchCards(storage.CardSearch{Status: tt.status})
		if err != nil || total != tt.want || len(cards) != tt.want {
			t.Errorf("SearchCards(%v) = %d cards, total %d, %v; want %d", tt.status, len(cards), total, err, tt.want)
		}
		list, err := s.Cards(storage.CardFilter{Status: tt.status})
		if err != nil || len(list) != tt.want {
			t.Errorf("Cards(%v) = %d cards, %v; want %d", tt.status, len(list), err, tt.want)
		}
	}
	checkStore(t, s)
	s.Close()
	if got := getMeta(t, dir, "schema"); got != "2" {
		t.Errorf("schema after the migration = %q; want 2", got)
	}
	db, err = bolt.Open(filepath.Join(dir, storage.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := entries(); n != 1 {
		t.Errorf("after the migration the status index has %d entries; want 1 (the Suspended card)", n)
	}
}

func setMeta(t *testing.T, dir, key, value string) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, storage.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte(key), []byte(value))
	}); err != nil {
		t.Fatal(err)
	}
}

func getMeta(t *testing.T, dir, key string) string {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, storage.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open after refused Open (lock still held?): %v", err)
	}
	defer db.Close()
	var v string
	if err := db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket([]byte("meta")).Get([]byte(key)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEventsRecordOriginAndUTCTime(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)
	req, err := s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid, Comment: "stolen"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, s)
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3", len(evs))
	}
	want := storage.Event{Seq: 3, Time: fixedNow.UTC(), Actor: "token:ops", Source: "192.0.2.2",
		Action: storage.ActionCardStatus, CardUuid: card.Uuid, RequestUuid: req.Uuid, OldStatus: "Active",
		NewStatus: "Disabled", Comment: "stolen", CorrelationId: testID(0xc2), PrevHash: evs[1].Hash,
		Format: storage.EventFormat, CardAction: domain.Disable, Via: domain.ViaAPI, RequestType: "Disable"}
	want.Hash = want.ComputeHash()
	got := evs[2]
	if !got.Time.Equal(fixedNow) || got.Time.Location() != time.UTC {
		t.Errorf("event time %v, want %v in UTC", got.Time, fixedNow.UTC())
	}
	got.Time = want.Time
	if !reflect.DeepEqual(got, want) {
		t.Errorf("card.status event:\n got %+v\nwant %+v", got, want)
	}
	if evs[0].Action != storage.ActionCardImport || evs[0].CardUuid != card.Uuid || evs[0].NewStatus != "Active" ||
		evs[0].Actor != "user:root" || evs[0].PrevHash != strings.Repeat("0", 64) {
		t.Errorf("import event: %+v", evs[0])
	}
	if evs[1].Action != storage.ActionRequestCreate || evs[1].RequestUuid != req.Uuid || evs[1].NewStatus != "Approved" ||
		evs[1].RequestType != "Disable" {
		t.Errorf("request.create event: %+v", evs[1])
	}
	// Paging: after 1, at most 1.
	page, err := s.Events(1, 1)
	if err != nil || len(page) != 1 || page[0].Seq != 2 {
		t.Errorf("Events(1, 1) = %+v, %v; want event 2 alone", page, err)
	}
	if rest, err := s.Events(3, 0); err != nil || len(rest) != 0 {
		t.Errorf("Events(3, 0) = %+v, %v; want none", rest, err)
	}
	checkStore(t, s)
}

// TestHoldChanges: while serve's start-up check runs, changes wait for
// its verdict: a release lets them go on, a refusal refuses them, and one
// that waits too long is told to try again, changing nothing.
func TestHoldChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		card := newCard(1, "abc", domain.CardActive)
		importCards(t, s, card)
		req := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
		change := func() error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}

		s.HoldChanges()
		if err := change(); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("a change held past the limit: %v", err)
		}
		if c, _ := s.Card(card.Uuid); c.Status != domain.CardActive || !s.Checking() {
			t.Fatalf("after a held change timed out: %s, checking %v", c.Status, s.Checking())
		}

		done := make(chan error)
		go func() { done <- change() }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("a held change went on before the verdict: %v", err)
		default:
		}
		s.ReleaseChanges()
		if err := <-done; err != nil || s.Checking() {
			t.Fatalf("a released change: %v, checking %v", err, s.Checking())
		}

		s.HoldChanges()
		go func() { done <- change() }()
		synctest.Wait()
		s.RefuseChanges("page 7: damaged")
		if err := <-done; !errors.Is(err, storage.ErrDamaged) {
			t.Fatalf("a held change on a refused file: %v", err)
		}
	})
}

// TestClockUnsyncedEvents: events made before the clock was synchronised
// since boot say so; later ones do not.
func TestClockUnsyncedEvents(t *testing.T) {
	synced := false
	s, err := storage.Open(t.TempDir(), storage.Options{ClockSynced: func() bool { return synced }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	importCards(t, s, newCard(1, "abc", domain.CardActive))
	synced = true
	importCards(t, s, newCard(2, "def", domain.CardActive))
	evs := allEvents(t, s)
	if len(evs) != 2 || !evs[0].ClockUnsynced || evs[1].ClockUnsynced {
		t.Fatalf("events %+v; want the first marked, the second not", evs)
	}
	checkStore(t, s)
}
