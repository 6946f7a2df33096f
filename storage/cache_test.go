package storage_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestCachedReadsFollowCommits: a card or token read again and again from
// other goroutines (so that it sits in the read cache) is never seen as it
// was before a change that has been answered.
func TestCachedReadsFollowCommits(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "{c1}", domain.CardActive)
	importCards(t, s, card)
	ctx := context.Background()
	var secrets []string
	for _, name := range []string{"a", "b", "c", "d"} {
		secret, _, err := s.CreateToken(ctx, admin, name, domain.RoleViewer)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}

	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Card(card.Uuid)
				for _, secret := range secrets {
					s.Authenticate(secret)
				}
				reads.Add(1)
			}
		})
	}
	defer func() { close(stop); readers.Wait() }()

	for i := range 100 {
		cmd, want := domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}, domain.CardDisabled
		if i%2 == 1 {
			cmd, want = domain.Command{Card: card.Uuid, Action: domain.Enable, Reason: "found", Via: domain.ViaPage}, domain.CardActive
		}
		if _, err := s.Apply(ctx, admin, cmd); err != nil {
			t.Fatal(err)
		}
		if got := mustCard(t, s, card.Uuid); got.Status != want {
			t.Fatalf("change %d: Card says %v right after the change to %v was answered", i+1, got.Status, want)
		}
	}
	for i, name := range []string{"a", "b", "c", "d"} {
		if err := s.RevokeToken(ctx, admin, name); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(secrets[i]); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("token %s still authenticates right after its revocation was answered: %v", name, err)
		}
	}
	if reads.Load() == 0 {
		t.Fatal("the readers read nothing: the test tested nothing")
	}
}

// TestCachedCardIsACopy: a caller changing the card it was given does not
// change what the next caller reads.
func TestCachedCardIsACopy(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "{c1}", domain.CardActive)
	importCards(t, s, card)
	c := mustCard(t, s, card.Uuid)
	c.Status, c.SerialNumber = domain.CardRetired, "changed"
	if got := mustCard(t, s, card.Uuid); got.Status != domain.CardActive || got.SerialNumber != "{c1}" {
		t.Fatalf("Card = %+v after a caller changed its copy", got)
	}
	var _ storage.Smartcard = c
}
