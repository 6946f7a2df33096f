package storage_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// BenchmarkStatusChange measures the durable status change transaction
// (request check, card and index update, audit event, fsync) with 32
// concurrent writers sharing commits, on a file of 10,000 cards.
func BenchmarkStatusChange(b *testing.B) {
	s, err := storage.Open(b.TempDir(), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const n = 10_000
	cards := make([]storage.Smartcard, n)
	for i := range cards {
		cards[i] = storage.Smartcard{Uuid: guid.New(), SerialNumber: fmt.Sprintf("{%08d}", i), Status: domain.CardActive}
	}
	if err := s.ImportCards(context.Background(), admin, cards); err != nil {
		b.Fatal(err)
	}
	reqs := make([]guid.GUID, n)
	for i, c := range cards {
		r, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeSuspendOrReinstate, Smartcard: c.Uuid})
		if err != nil {
			b.Fatal(err)
		}
		reqs[i] = r.Uuid
	}
	var next atomic.Int64
	b.SetParallelism(16) // 32 writers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := int(next.Add(1))
			i := k % n
			to := domain.CardSuspended
			if (k/n)%2 == 1 {
				to = domain.CardActive
			}
			if _, err := s.Apply(context.Background(), admin, domain.Command{Request: reqs[i], Card: cards[i].Uuid, To: to, Via: domain.ViaAPI}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
