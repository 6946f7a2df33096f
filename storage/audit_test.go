package storage_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	bolt "go.etcd.io/bbolt"
)

// chainOf makes a store write six events of different kinds and returns them.
func chainOf(t *testing.T) []storage.Event {
	t.Helper()
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card, newCard(2, "def", domain.CardNew))
	req := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRequestStatus(context.Background(), operator, req.Uuid, domain.RequestCompleted, "Completed"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateToken(context.Background(), admin, "t1", domain.RoleViewer); err != nil {
		t.Fatal(err)
	}
	checkStore(t, s)
	evs := allEvents(t, s)
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	return evs
}

func TestVerifyChain(t *testing.T) {
	base := chainOf(t)
	tests := []struct {
		name    string
		tamper  func([]storage.Event) []storage.Event
		wantErr string // "" means the chain verifies
	}{
		{"untouched", func(e []storage.Event) []storage.Event { return e }, ""},
		{"empty", func(e []storage.Event) []storage.Event { return nil }, ""},
		{"prefix", func(e []storage.Event) []storage.Event { return e[:3] }, ""},
		{"edited comment", func(e []storage.Event) []storage.Event {
			e[2].Comment = "nothing to see"
			return e
		}, "event 3: content does not match its hash"},
		{"edited comment, hash recomputed", func(e []storage.Event) []storage.Event {
			e[2].Comment = "nothing to see"
			e[2].Hash = e[2].ComputeHash()
			return e
		}, "event 4: does not follow event 3"},
		{"edited actor", func(e []storage.Event) []storage.Event {
			e[3].Actor = "user:someone-else"
			return e
		}, "event 4: content does not match its hash"},
		{"edited new status", func(e []storage.Event) []storage.Event {
			e[2].NewStatus = "Active"
			return e
		}, "event 3: content does not match its hash"},
		{"edited time", func(e []storage.Event) []storage.Event {
			e[1].Time = e[1].Time.Add(1)
			return e
		}, "event 2: content does not match its hash"},
		{"edited last hash", func(e []storage.Event) []storage.Event {
			e[5].Hash = strings.Repeat("f", 64)
			return e
		}, "event 6: content does not match its hash"},
		{"removed event", func(e []storage.Event) []storage.Event {
			return slices.Delete(e, 2, 3)
		}, "event 3: sequence number 4, want 3"},
		{"removed first event", func(e []storage.Event) []storage.Event {
			return e[1:]
		}, "event 1: sequence number 2, want 1"},
		{"removed and renumbered", func(e []storage.Event) []storage.Event {
			e = slices.Delete(e, 2, 3)
			for i := range e {
				e[i].Seq = uint64(i + 1)
			}
			return e
		}, "event 3: does not follow event 2"},
		{"swapped events", func(e []storage.Event) []storage.Event {
			e[2], e[3] = e[3], e[2]
			return e
		}, "event 3: sequence number 4, want 3"},
		{"swapped and renumbered", func(e []storage.Event) []storage.Event {
			e[2], e[3] = e[3], e[2]
			e[2].Seq, e[3].Seq = 3, 4
			return e
		}, "event 3: does not follow event 2"},
		{"duplicated event", func(e []storage.Event) []storage.Event {
			return slices.Insert(e, 3, e[2])
		}, "event 4: sequence number 3, want 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := tt.tamper(slices.Clone(base))
			err := storage.VerifyChain(evs)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("VerifyChain: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyChain accepted a tampered log")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("VerifyChain: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestVerifyChainAfterExport checks that a log written out as JSON and read
// back, as the CLI does offline, still verifies.
func TestVerifyChainAfterExport(t *testing.T) {
	evs := chainOf(t)
	data, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	var back []storage.Event
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyChain(back); err != nil {
		t.Errorf("VerifyChain after a JSON round trip: %v", err)
	}
	// An edit in the exported text is caught too.
	edited := strings.Replace(string(data), `"Comment":"Disable it"`, `"Comment":"Disable it later"`, 1)
	if edited == string(data) {
		t.Fatal("exported log has no Disable comment to edit")
	}
	back = nil
	if err := json.Unmarshal([]byte(edited), &back); err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyChain(back); err == nil {
		t.Error("VerifyChain accepted an edited export")
	}
}

func TestComputeHashIgnoresHash(t *testing.T) {
	evs := chainOf(t)
	e := evs[0]
	h := e.ComputeHash()
	e.Hash = "anything"
	if e.ComputeHash() != h || h != evs[0].Hash || len(h) != 64 {
		t.Errorf("ComputeHash = %q, want %q independent of Hash", e.ComputeHash(), h)
	}
}

// FuzzReadEventLines: an exported log comes from anywhere; reading it
// never panics, and what it reads verifies only if it is a chain.
func FuzzReadEventLines(f *testing.F) {
	e := storage.Event{Seq: 1, Actor: "cli", Action: storage.ActionCardImport, PrevHash: strings.Repeat("0", 64)}
	e.Hash = e.ComputeHash()
	line, _ := json.Marshal(e)
	f.Add(string(line) + "\n")
	f.Add(string(line) + "\n\n" + string(line))
	f.Add("{\"Seq\":1}\nnot json\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, log string) {
		events, err := storage.ReadEventLines(strings.NewReader(log))
		if err != nil {
			return
		}
		if storage.VerifyChain(events) == nil {
			for i, e := range events {
				if e.Seq != uint64(i+1) || e.ComputeHash() != e.Hash {
					t.Fatalf("a broken chain verified: %+v", events)
				}
			}
		}
	})
}

// TestCardHistory: a card's events are found whether the audit.card index
// holds them or the chain of its status changes does (schema 2 writes no
// index entry for a status change), newest first by AuditPage, page by
// page, and oldest first by EachEvent, over more than one batch; an index
// entry a schema 1 file wrote for a status change now chained too is not
// shown twice.
func TestCardHistory(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	card, other := newCard(1, "{c1}", domain.CardActive), newCard(2, "{c2}", domain.CardActive)
	importCards(t, s, card, other)
	ctx := context.Background()
	change := func(id guid.GUID, i int) {
		t.Helper()
		cmd := domain.Command{Card: id, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}
		if i%2 == 1 {
			cmd.Action, cmd.Reason = domain.Enable, "found"
		}
		if _, err := s.Apply(ctx, admin, cmd); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 300 {
		change(card.Uuid, i)
		if i%7 == 0 {
			change(other.Uuid, i/7)
		}
		if i%10 == 0 { // the card has the status already: an unchanged event, indexed
			if _, changed, err := s.ApplyChanged(ctx, admin, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); err != nil || changed {
				t.Fatalf("disabling a disabled card: changed %v, %v", changed, err)
			}
			if _, err := s.CreateRequest(ctx, admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var want []uint64
	var statusChanges int
	var lastChange uint64
	for _, e := range allEvents(t, s) {
		if e.CardUuid == card.Uuid {
			want = append(want, e.Seq)
			if e.Action == storage.ActionCardStatus {
				statusChanges, lastChange = statusChanges+1, e.Seq
			}
		}
	}
	check := func(t *testing.T) {
		var got []uint64
		if err := s.EachEvent(ctx, storage.AuditFilter{Card: card.Uuid}, func(e storage.Event) error {
			got = append(got, e.Seq)
			return nil
		}); err != nil || !slices.Equal(got, want) {
			t.Fatalf("EachEvent: %d events (%v); want %d", len(got), err, len(want))
		}
		var pages []uint64
		for before := uint64(0); ; {
			page, err := s.AuditPage(storage.AuditFilter{Card: card.Uuid, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				pages = append(pages, e.Seq)
			}
			before = page[len(page)-1].Seq
		}
		slices.Reverse(pages)
		if !slices.Equal(pages, want) {
			t.Fatalf("AuditPage, page by page: %d events; want %d", len(pages), len(want))
		}
	}
	check(t)
	s.Close()

	// The index holds the card's other events only, and a schema 1 entry
	// for one of its status changes is not shown twice.
	db, err := bolt.Open(filepath.Join(dir, storage.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	indexed := 0
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("audit.card")).ForEach(func(k, _ []byte) error {
			if bytes.HasPrefix(k, card.Uuid[:]) {
				indexed++
			}
			return nil
		})
	})
	if statusChanges != 300 || indexed != len(want)-statusChanges {
		t.Errorf("%d index entries for %d events of which %d status changes; want only the others indexed", indexed, len(want), statusChanges)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("audit.card")).Put(append(card.Uuid[:], binary.BigEndian.AppendUint64(nil, lastChange)...), nil)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = openStore(t, dir)
	check(t)
}
