package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// upstreamOrigin is who the read-through lookup acts as.
var upstreamOrigin = domain.Origin{Actor: "upstream:hub", Role: domain.RoleOperator, Source: "hub"}

// TestAdoptUpstreamCard: a card the upstream holds is stored or has its
// status refreshed, audited, with no outbox item; nothing is written when
// nothing differs, or when a change made here still waits to go upstream.
func TestAdoptUpstreamCard(t *testing.T) {
	local := newCard(1, "{c1}", domain.CardActive)
	local.Atr = "3b8d01" // as stored: imports keep ATRs in lowercase
	other := newCard(4, "{c4}", domain.CardActive)
	tests := []struct {
		name    string
		local   []storage.Smartcard // imported first
		disable guid.GUID           // disabled here, so that its change waits in the upstream outbox
		up      storage.Smartcard
		want    storage.Smartcard // the card as stored and returned; zero for an error
		wantErr error
		events  int // new audit events
		heard   int // status changes the Changed hook hears of
	}{
		{name: "new card", up: newCard(2, "{c2}", domain.CardDisabled),
			want: withAtr(newCard(2, "{c2}", domain.CardDisabled), "3b8d01"), events: 1},
		{name: "status refreshed", local: []storage.Smartcard{local}, up: withStatus(local, domain.CardDisabled),
			want: refreshed(local, domain.CardDisabled), events: 1, heard: 1},
		{name: "other fields stay local", local: []storage.Smartcard{local}, up: withComment(withStatus(local, domain.CardSuspended), "upstream's"),
			want: refreshed(local, domain.CardSuspended), events: 1, heard: 1},
		{name: "same status", local: []storage.Smartcard{local}, up: withComment(local, "upstream's"), want: local},
		{name: "local change pending", local: []storage.Smartcard{local}, disable: local.Uuid, up: local,
			want: disabledHere(local)},
		{name: "other card's change pending", local: []storage.Smartcard{local, other}, disable: other.Uuid,
			up: withStatus(local, domain.CardDisabled), want: refreshed(local, domain.CardDisabled), events: 1, heard: 1},
		{name: "serial taken", local: []storage.Smartcard{local}, up: newCard(3, "{C1}", domain.CardActive),
			wantErr: domain.ErrConflict},
		{name: "invalid", up: newCard(3, "", domain.CardActive), wantErr: domain.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var heard []domain.CardStatus
			s, err := storage.Open(t.TempDir(), storage.Options{Now: clock, Sinks: []string{storage.SinkUpstream},
				Changed: func(o domain.Origin, to domain.CardStatus) { heard = append(heard, to) }})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if len(tt.local) > 0 {
				importCards(t, s, tt.local...)
			}
			if !tt.disable.IsNil() {
				if _, err := s.Apply(context.Background(), operator, domain.Command{Card: tt.disable, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); err != nil {
					t.Fatal(err)
				}
			}
			before, heardBefore := len(allEvents(t, s)), len(heard)
			outBefore := upstreamItems(t, s)

			got, err := s.AdoptUpstreamCard(context.Background(), upstreamOrigin, tt.up)

			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("AdoptUpstreamCard: %v; want %v", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("AdoptUpstreamCard: %v", err)
			}
			if tt.want.Uuid.IsNil() {
				if _, err := s.Card(tt.up.Uuid); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("a refused card was stored: %v", err)
				}
			} else {
				wantStored(t, "returned", got, tt.want)
				wantStored(t, "stored", mustCard(t, s, tt.up.Uuid), tt.want)
			}
			evs := allEvents(t, s)
			if n := len(evs) - before; n != tt.events {
				t.Fatalf("%d new audit events; want %d", n, tt.events)
			}
			if tt.events == 1 {
				e := evs[len(evs)-1]
				if e.Action != storage.ActionCardUpstream || e.CardUuid != tt.up.Uuid || e.Actor != upstreamOrigin.Actor ||
					e.NewStatus != tt.want.Status.String() || (tt.heard == 1 && e.OldStatus != local.Status.String()) {
					t.Errorf("audit event %+v", e)
				}
			}
			if n := len(heard) - heardBefore; n != tt.heard {
				t.Errorf("the Changed hook heard %d changes; want %d", n, tt.heard)
			}
			if out := upstreamItems(t, s); out != outBefore {
				t.Errorf("%d upstream outbox items, were %d: a change from upstream was sent back", out, outBefore)
			}
			checkStore(t, s)
		})
	}
}

func withStatus(c storage.Smartcard, st domain.CardStatus) storage.Smartcard {
	c.Status = st
	return c
}

func withAtr(c storage.Smartcard, atr string) storage.Smartcard {
	c.Atr = atr
	return c
}

func withComment(c storage.Smartcard, comment string) storage.Smartcard {
	c.Comment = comment
	return c
}

// refreshed is c after the upstream set its status.
func refreshed(c storage.Smartcard, st domain.CardStatus) storage.Smartcard {
	c.PreviousStatus, c.Status = c.Status, st
	c.StatusChanged, c.StatusChangedBy = fixedNow.UTC(), upstreamOrigin.Actor
	return c
}

// disabledHere is c after an operator disabled it on the page (its request
// uuid is not compared).
func disabledHere(c storage.Smartcard) storage.Smartcard {
	c.PreviousStatus, c.Status = c.Status, domain.CardDisabled
	c.StatusChanged, c.StatusChangedBy, c.StatusReason = fixedNow.UTC(), operator.Actor, "lost"
	return c
}

func wantStored(t *testing.T, what string, got, want storage.Smartcard) {
	t.Helper()
	got.StatusRequestUuid, got.StatusEvent = want.StatusRequestUuid, want.StatusEvent // the store's own references
	if !got.StatusChanged.Equal(want.StatusChanged) {
		t.Errorf("%s StatusChanged %s; want %s", what, got.StatusChanged, want.StatusChanged)
	}
	got.StatusChanged = want.StatusChanged
	if got != want {
		t.Errorf("%s card\n%+v\nwant\n%+v", what, got, want)
	}
}

func upstreamItems(t *testing.T, s *storage.Store) int {
	t.Helper()
	items, err := s.OutboxPending(storage.SinkUpstream, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(items)
}
