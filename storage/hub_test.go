package storage_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

var station = domain.Origin{Actor: "token:lobby", ActorUuid: testID(0xa4), Role: domain.RoleStation,
	Source: "192.0.2.4", CorrelationID: testID(0xc4)}

// TestIdempotencyKey: a key makes its request once per credential, also
// when the same key arrives at once from many goroutines, and after the
// file is opened again; the key is written with the request or not at all.
func TestIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	card := newCard(1, "{AB12CD34-0000-4AA9-A822-346554DDD3C9}", domain.CardActive)
	importCards(t, s, card)
	n := storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid, IdempotencyKey: "change-1"}

	var wg sync.WaitGroup
	got := make([]storage.Request, 8)
	for i := range got {
		wg.Go(func() {
			r, err := s.CreateRequest(context.Background(), station, n)
			if err != nil {
				t.Error(err)
			}
			got[i] = r
		})
	}
	wg.Wait()
	for _, r := range got[1:] {
		if r.Uuid != got[0].Uuid || r.Status != domain.RequestApproved {
			t.Fatalf("concurrent creates with one key made %s and %s", got[0].Uuid, r.Uuid)
		}
	}
	events := len(allEvents(t, s))
	s.Close()
	s = openStore(t, dir)

	tests := []struct {
		name    string
		o       domain.Origin
		n       storage.NewRequest
		same    bool
		wantErr error
	}{
		{"the key again after reopening", station, n, true, nil},
		{"another credential, the same key", operator, n, false, nil},
		{"the same key for a Retire", admin, storage.NewRequest{Type: domain.TypeRetire, Smartcard: card.Uuid, IdempotencyKey: "r"}, false, nil},
		{"reused for another type", admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid, IdempotencyKey: "r"}, false, domain.ErrConflict},
		{"no key", station, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid}, false, nil},
		{"a refused request stores no key", station, storage.NewRequest{Type: domain.TypeDisable, Smartcard: testID(0x99), IdempotencyKey: "k"}, false, domain.ErrNotFound},
		{"so the key is free after", station, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid, IdempotencyKey: "k"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(allEvents(t, s))
			r, err := s.CreateRequest(context.Background(), tt.o, tt.n)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("CreateRequest = %v, want %v", err, tt.wantErr)
			}
			if (err == nil && r.Uuid == got[0].Uuid) != tt.same {
				t.Errorf("request %s; the first was %s; want the same: %v", r.Uuid, got[0].Uuid, tt.same)
			}
			if added := len(allEvents(t, s)) - before; added != map[bool]int{true: 1, false: 0}[err == nil && !tt.same] {
				t.Errorf("%d events added", added)
			}
		})
	}
	if events != len(allEvents(t, s))-4 {
		t.Errorf("the keyed requests made %d events", len(allEvents(t, s))-events)
	}
	checkStore(t, s)
}

// TestStationFinishesItsOwn: a station token finishes the Disable
// requests it made, and no one else's.
func TestStationFinishesItsOwn(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "{AB12CD34-0000-4AA9-A822-346554DDD3C9}", domain.CardActive)
	importCards(t, s, card)
	own := createRequest(t, s, station, domain.TypeDisable, card.Uuid)
	other := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
	tests := []struct {
		name    string
		req     storage.Request
		to      domain.RequestStatus
		word    string
		wantErr error
	}{
		{"approve its own", own, domain.RequestApproved, "Approved", nil}, // already Approved: a no-op
		{"deny its own", own, domain.RequestDenied, "Denied", domain.ErrConflict},
		{"cancel another's", other, domain.RequestCanceled, "Canceled", domain.ErrForbidden},
		{"complete another's", other, domain.RequestCompleted, "Completed", domain.ErrForbidden},
		{"abandon its own", own, domain.RequestCanceled, "Abandoned", nil},
		{"abandon it again", own, domain.RequestCanceled, "Abandoned", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.SetRequestStatus(context.Background(), station, tt.req.Uuid, tt.to, tt.word)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("SetRequestStatus = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if r := mustRequest(t, s, other.Uuid); r.Status != domain.RequestApproved {
		t.Errorf("another's request is %s", r.Status)
	}
	checkStore(t, s)
}
