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

// TestApplyUnchanged: a command that finds the card in its status already
// changes nothing and says so; a person's or station's reason, comment and
// evidence are kept in one card.status.unchanged event, and an API
// command carrying out a request (whose request keeps them) writes nothing.
func TestApplyUnchanged(t *testing.T) {
	pressed := time.Date(2026, 11, 29, 16, 47, 51, 0, time.UTC)
	ev := &domain.Evidence{Reader: "Virtual PCD 00 00", Atr: "3b80800101", Identifier: "{c1}", PressedAt: pressed}
	tests := []struct {
		name      string
		cmd       func(s *storage.Store, card storage.Smartcard) domain.Command
		wantEvent bool
	}{
		{"page", func(*storage.Store, storage.Smartcard) domain.Command {
			return domain.Command{Action: domain.Disable, Reason: "stolen", Comment: "ticket 4711", Via: domain.ViaPage}
		}, true},
		{"station", func(*storage.Store, storage.Smartcard) domain.Command {
			return domain.Command{Action: domain.Disable, Reason: "walk-up", Evidence: ev, Via: domain.ViaStation}
		}, true},
		{"api", func(s *storage.Store, card storage.Smartcard) domain.Command {
			r := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
			return domain.Command{Request: r.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			card := newCard(1, "{c1}", domain.CardActive)
			importCards(t, s, card)
			first := domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}
			if _, changed, err := s.ApplyChanged(context.Background(), admin, first); err != nil || !changed {
				t.Fatalf("the first disable: changed %v, %v", changed, err)
			}
			before := mustCard(t, s, card.Uuid)
			cmd := tt.cmd(s, card)
			cmd.Card = card.Uuid
			n := len(allEvents(t, s)) // after the API case's request.create
			got, changed, err := s.ApplyChanged(context.Background(), operator, cmd)
			if err != nil || changed {
				t.Fatalf("the second disable: changed %v, %v", changed, err)
			}
			if got != before || mustCard(t, s, card.Uuid) != before {
				t.Errorf("the card changed: %+v, want %+v", got, before)
			}
			events := allEvents(t, s)
			if !tt.wantEvent {
				if len(events) != n {
					t.Errorf("%d events written, want none", len(events)-n)
				}
				checkStore(t, s)
				return
			}
			if len(events) != n+1 {
				t.Fatalf("%d events written, want 1", len(events)-n)
			}
			e := events[n]
			if e.Action != storage.ActionCardStatusUnchanged || e.OldStatus != "Disabled" || e.NewStatus != "Disabled" ||
				e.Reason != cmd.Reason || e.Comment != cmd.Comment || e.Via != cmd.Via || e.CardAction != domain.Disable ||
				e.CardUuid != card.Uuid || !e.RequestUuid.IsNil() || (e.Evidence == nil) != (cmd.Evidence == nil) {
				t.Errorf("the event: %+v", e)
			}
			checkStore(t, s)
		})
	}
}
