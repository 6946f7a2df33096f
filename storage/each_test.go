package storage_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// manyID is a version-4 GUID whose order follows n, for more than 256.
func manyID(n int) guid.GUID {
	var g guid.GUID
	binary.BigEndian.PutUint32(g[:4], uint32(n))
	g[6], g[8] = 0x40, 0x80
	return g
}

// manyCards imports n cards in uuid order, statuses and users in turn,
// and returns them.
func manyCards(t *testing.T, s *storage.Store, n int) []storage.Smartcard {
	t.Helper()
	cards := manyCardsFrom(0, n)
	importCards(t, s, cards...)
	return cards
}

// manyCardsFrom makes cards first to first+n-1 of manyCards' series.
func manyCardsFrom(first, n int) []storage.Smartcard {
	cards := make([]storage.Smartcard, n)
	for k := range cards {
		i := first + k
		cards[k] = storage.Smartcard{Uuid: manyID(i), SerialNumber: fmt.Sprintf("s%05d", i),
			Status: domain.CardStatus(i%6 + 1), AssignedUserUuid: testID(byte(0x50 + i%3))}
	}
	return cards
}

func uuidsOf[T any](recs []T, id func(T) guid.GUID) []guid.GUID {
	out := make([]guid.GUID, len(recs))
	for i, r := range recs {
		out[i] = id(r)
	}
	return out
}

func cardID(c storage.Smartcard) guid.GUID { return c.Uuid }

// TestEachCardMatchesAFilteredSlice checks EachCard, over several of its
// batches, against the same selection made on a plain slice.
func TestEachCardMatchesAFilteredSlice(t *testing.T) {
	s := newStore(t)
	cards := manyCards(t, s, 700)
	disabled := domain.CardDisabled
	where := func(keep func(i int, c storage.Smartcard) bool) []guid.GUID {
		var out []guid.GUID
		for i, c := range cards {
			if keep(i, c) {
				out = append(out, c.Uuid)
			}
		}
		return out
	}
	ofUser := where(func(i int, _ storage.Smartcard) bool { return i%3 == 1 })
	tests := []struct {
		name string
		f    storage.CardFilter
		want []guid.GUID
	}{
		{name: "all", want: uuidsOf(cards, cardID)},
		{name: "limit", f: storage.CardFilter{Limit: 300}, want: uuidsOf(cards[:300], cardID)},
		{name: "after", f: storage.CardFilter{After: manyID(255)}, want: uuidsOf(cards[256:], cardID)},
		{name: "after and limit", f: storage.CardFilter{After: manyID(100), Limit: 400}, want: uuidsOf(cards[101:501], cardID)},
		{name: "after the last", f: storage.CardFilter{After: manyID(699)}, want: nil},
		{name: "status", f: storage.CardFilter{Status: &disabled}, want: where(func(_ int, c storage.Smartcard) bool { return c.Status == disabled })},
		{name: "status after", f: storage.CardFilter{Status: &disabled, After: manyID(500)},
			want: where(func(i int, c storage.Smartcard) bool { return i > 500 && c.Status == disabled })},
		{name: "user", f: storage.CardFilter{AssignedUser: testID(0x51)}, want: ofUser},
		{name: "user after and limit", f: storage.CardFilter{AssignedUser: testID(0x51), After: ofUser[99], Limit: 7}, want: ofUser[100:107]},
		{name: "user and status", f: storage.CardFilter{AssignedUser: testID(0x51), Status: &disabled},
			want: where(func(i int, c storage.Smartcard) bool { return i%3 == 1 && c.Status == disabled })},
		{name: "nobody's", f: storage.CardFilter{AssignedUser: testID(0x99)}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []guid.GUID
			err := s.EachCard(context.Background(), tt.f, func(c storage.Smartcard) error {
				got = append(got, c.Uuid)
				return nil
			})
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %d cards (%v), want %d", len(got), err, len(tt.want))
			}
		})
	}
}

// TestEachStops checks that a listing stops at its consumer's first error
// and when its context has ended, in every Each*.
func TestEachStops(t *testing.T) {
	s := newStore(t)
	manyCards(t, s, 600) // 600 events too
	stop := errors.New("stop")
	each := map[string]func(context.Context, func() error) error{
		"cards": func(ctx context.Context, fn func() error) error {
			return s.EachCard(ctx, storage.CardFilter{}, func(storage.Smartcard) error { return fn() })
		},
		"events": func(ctx context.Context, fn func() error) error {
			return s.EachEvent(ctx, storage.AuditFilter{}, func(storage.Event) error { return fn() })
		},
	}
	for name, run := range each {
		t.Run(name, func(t *testing.T) {
			n := 0
			err := run(context.Background(), func() error {
				if n++; n == 300 {
					return stop
				}
				return nil
			})
			if !errors.Is(err, stop) || n != 300 {
				t.Errorf("%v after %d records, want stop after 300", err, n)
			}
			ctx, cancel := context.WithCancel(context.Background())
			n = 0
			err = run(ctx, func() error {
				if n++; n == 10 {
					cancel()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) || n != 256 { // the batch read goes out; the next is not read
				t.Errorf("%v after %d records, want context.Canceled after the first batch of 256", err, n)
			}
		})
	}
}

// TestEachEventMatchesTheLog checks EachEvent against the whole log,
// filtered on a slice: oldest first, below Before, by card and action.
func TestEachEventMatchesTheLog(t *testing.T) {
	s := newStore(t)
	cards := manyCards(t, s, 600)
	r, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: cards[6].Uuid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), admin, domain.Command{Request: r.Uuid, Card: cards[6].Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	all := allEvents(t, s)
	where := func(keep func(e storage.Event) bool) []uint64 {
		var out []uint64
		for _, e := range all {
			if keep(e) {
				out = append(out, e.Seq)
			}
		}
		return out
	}
	tests := []struct {
		name string
		f    storage.AuditFilter
		want []uint64
	}{
		{name: "all", want: where(func(storage.Event) bool { return true })},
		{name: "before", f: storage.AuditFilter{Before: 400}, want: where(func(e storage.Event) bool { return e.Seq < 400 })},
		{name: "card", f: storage.AuditFilter{Card: cards[6].Uuid}, want: where(func(e storage.Event) bool { return e.CardUuid == cards[6].Uuid })},
		{name: "card before", f: storage.AuditFilter{Card: cards[6].Uuid, Before: 602},
			want: where(func(e storage.Event) bool { return e.CardUuid == cards[6].Uuid && e.Seq < 602 })},
		{name: "action", f: storage.AuditFilter{Action: storage.ActionCardStatus},
			want: where(func(e storage.Event) bool { return e.Action == storage.ActionCardStatus })},
		{name: "actor", f: storage.AuditFilter{Actor: "root"}, want: where(func(e storage.Event) bool { return e.Actor == admin.Actor })},
		{name: "no such actor", f: storage.AuditFilter{Actor: "nobody"}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			err := s.EachEvent(context.Background(), tt.f, func(e storage.Event) error {
				got = append(got, e.Seq)
				return nil
			})
			if err != nil || !slices.Equal(got, tt.want) || (len(tt.want) == 0 && tt.name != "no such actor") {
				t.Errorf("got %d events (%v), want %d", len(got), err, len(tt.want))
			}
		})
	}
}

// TestEachRequestOldestFirst creates requests on a clock that runs
// backwards and then stands still: the listing is by submission time,
// then uuid, whatever the order they were stored in.
func TestEachRequestOldestFirst(t *testing.T) {
	now := fixedNow.Add(time.Hour)
	s, err := storage.Open(t.TempDir(), storage.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var made []storage.Request
	for i := range 300 { // more than a batch
		if i < 150 {
			now = now.Add(-time.Second) // each newer request is older
		}
		r, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeDisable})
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, r)
	}
	want := slices.Clone(made)
	slices.SortFunc(want, func(a, b storage.Request) int {
		if c := a.Submitted.Compare(b.Submitted); c != 0 {
			return c
		}
		return slices.Compare(a.Uuid[:], b.Uuid[:])
	})
	got, err := s.Requests(storage.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	reqID := func(r storage.Request) guid.GUID { return r.Uuid }
	if !slices.Equal(uuidsOf(got, reqID), uuidsOf(want, reqID)) {
		t.Errorf("the requests are not oldest first, then by uuid")
	}
	approved := domain.RequestApproved
	var n int
	if err := s.EachRequest(context.Background(), storage.RequestFilter{Status: &approved, Card: testID(1)}, func(storage.Request) error {
		n++
		return nil
	}); err != nil || n != 0 {
		t.Errorf("%d requests for a card none is for (%v)", n, err)
	}
}
