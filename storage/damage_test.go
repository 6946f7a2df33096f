package storage_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// damage overwrites the header of a page in the middle of the file, as a
// torn write or a failing SD card would.
func damage(t *testing.T, dir string, page int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, storage.FileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x55, 0xaa}, page*4096); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedFileRefusesChanges: a file that fails its check is not
// written to; reads go on.
func TestDamagedFileRefusesChanges(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	var cards []storage.Smartcard
	for i := range 300 {
		cards = append(cards, storage.Smartcard{Uuid: guid.New(), SerialNumber: fmt.Sprintf("{%08d-0000-4000-8000-000000000000}", i), Status: domain.CardActive})
	}
	importCards(t, s, cards...)
	s.Close()
	info, _ := os.Stat(filepath.Join(dir, storage.FileName))
	damage(t, dir, info.Size()/4096/2)

	// bbolt's check panics on such a page, in a goroutine of its own, which is
	// why cardstop runs it in a child process (cardstop check); the binary's
	// tests cover that. Here: a store told so refuses changes, reads go on.
	s = openStore(t, dir)
	s.RefuseChanges("page 9: invalid page type")
	if s.Damaged() == "" {
		t.Fatal("the store does not say it is damaged")
	}
	_, err := s.CreateRequest(operator, storage.NewRequest{Type: domain.TypeDisable})
	if !errors.Is(err, storage.ErrDamaged) {
		t.Fatalf("a change on a damaged file: %v; want ErrDamaged", err)
	}
	if err := s.Ping(); err != nil {
		t.Fatalf("reads stop on a damaged file: %v", err)
	}
}

// TestInjectedCommitFailure: a commit that fails leaves nothing behind and
// the next one works.
func TestInjectedCommitFailure(t *testing.T) {
	dir := t.TempDir()
	fail := errors.New("injected: fsync failed")
	var next error
	s, err := storage.Open(dir, storage.Options{Now: clock, InjectFault: func() error { return next }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	card := newCard(1, "{aa}", domain.CardActive)
	importCards(t, s, card)
	before := allEvents(t, s)
	next = fail
	if _, err := s.Apply(operator, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); !errors.Is(err, fail) {
		t.Fatalf("Apply with a failing commit: %v", err)
	}
	if c := mustCard(t, s, card.Uuid); c.Status != domain.CardActive || len(allEvents(t, s)) != len(before) {
		t.Fatal("a failed commit left a change behind")
	}
	if reqs, _ := s.Requests(storage.RequestFilter{}); len(reqs) != 0 {
		t.Fatal("a failed commit left a request behind")
	}
	next = nil
	if _, err := s.Apply(operator, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); err != nil {
		t.Fatalf("the write after a failed one: %v", err)
	}
	checkStore(t, s)
}
