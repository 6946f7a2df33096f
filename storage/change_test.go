package storage_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestChangedHook: Options.Changed hears of each committed status change,
// once, after its commit, and of no change that changed nothing or was
// refused or failed.
func TestChangedHook(t *testing.T) {
	var heard []domain.CardStatus
	var fail error
	s, err := storage.Open(t.TempDir(), storage.Options{Now: clock,
		Changed:     func(o domain.Origin, to domain.CardStatus) { heard = append(heard, to) },
		InjectFault: func() error { return fail }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	card := newCard(1, "{c1}", domain.CardActive)
	importCards(t, s, card)
	disable := domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}
	fail = errors.New("disk full")
	if _, err := s.Apply(context.Background(), operator, disable); err == nil {
		t.Fatal("a failing commit succeeded")
	}
	fail = nil
	for range 2 { // the second changes nothing
		if _, err := s.Apply(context.Background(), operator, disable); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Apply(context.Background(), operator, domain.Command{Card: card.Uuid, Action: domain.Retire, Reason: "expired", Via: domain.ViaPage}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("an operator retired: %v", err)
	}
	if len(heard) != 1 || heard[0] != domain.CardDisabled {
		t.Fatalf("the hook heard %v; want one Disabled", heard)
	}
}

// TestChangeGivenUpWhileHeld: a change waiting for the start-up check's
// verdict ends when its caller's context does, and changes nothing, even
// once changes are let through.
func TestChangeGivenUpWhileHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		card := newCard(1, "{c1}", domain.CardActive)
		importCards(t, s, card)
		s.HoldChanges()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := s.Apply(ctx, operator, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("after %s: %v; want the context's end after 1 s", time.Since(start), err)
		}
		s.ReleaseChanges()
		if c := mustCard(t, s, card.Uuid); c.Status != domain.CardActive || len(allEvents(t, s)) != 1 {
			t.Fatalf("a change given up on was made: %s, %d events", c.Status, len(allEvents(t, s)))
		}
	})
}
