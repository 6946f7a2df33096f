package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// benchStore is a store in a fresh directory, closed when the benchmark
// ends, with an admin's origin and token.
func benchStore(b *testing.B) (*storage.Store, domain.Origin, string) {
	st, err := storage.Open(b.TempDir(), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	admin := domain.Origin{Actor: "bench", Role: domain.RoleAdmin}
	token, _, err := st.CreateToken(context.Background(), admin, "bench", domain.RoleAdmin)
	if err != nil {
		b.Fatal(err)
	}
	return st, admin, token
}

// BenchmarkPutStatus is the whole status change through the handler:
// authentication, the body, the durable transaction and the answer, with
// 32 concurrent clients. Profile it with -cpuprofile to see where a
// change's time goes (docs/PERFORMANCE.md).
func BenchmarkPutStatus(b *testing.B) {
	st, admin, token := benchStore(b)
	const n = 3200
	cards := make([]storage.Smartcard, n)
	for i := range cards {
		cards[i] = storage.Smartcard{Uuid: guid.New(), SerialNumber: fmt.Sprintf("{%08d}", i), Status: domain.CardActive}
	}
	if err := st.ImportCards(context.Background(), admin, cards); err != nil {
		b.Fatal(err)
	}
	paths := make([]string, n)
	var wg sync.WaitGroup
	for w := range 32 { // concurrent, so that the requests share commits
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				r, err := st.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeSuspendOrReinstate, Smartcard: cards[i].Uuid})
				if err != nil {
					b.Error(err)
					return
				}
				paths[i] = api + "/requests/" + r.Uuid.String() + "/smartcards/" + cards[i].Uuid.String()
			}
		}()
	}
	wg.Wait()
	srv := New(st, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	var next atomic.Int64
	b.SetParallelism(16) // 32 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := int(next.Add(1))
			to := `{"status":"Suspended"}`
			if (k/n)%2 == 1 {
				to = `{"status":"Active"}`
			}
			req := httptest.NewRequest("PUT", paths[k%n], strings.NewReader(to))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Errorf("%d %s", rec.Code, rec.Body)
				return
			}
		}
	})
}

// BenchmarkGetCard is a GET of one card through the whole handler
// (authentication, the read, the answer and the access line, as serve
// writes it), without net/http's own work: the request is made once and
// the answer discarded. Profile it with -cpuprofile and -memprofile to see
// what a GET costs beyond the bare server's (docs/PERFORMANCE.md).
func BenchmarkGetCard(b *testing.B) {
	st, admin, token := benchStore(b)
	card := storage.Smartcard{Uuid: guid.New(), SerialNumber: "{00000001}", Status: domain.CardActive, Middleware: "MSBaseCSP", Atr: "3b8d0180fba000000397425446590301c8"}
	if err := st.ImportCards(context.Background(), admin, []storage.Smartcard{card}); err != nil {
		b.Fatal(err)
	}
	srv := New(st, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), AccessLog: io.Discard})
	path := "/CertificateManagement/api/v1.0/smartcards/" + card.Uuid.String()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := &discardWriter{header: http.Header{}}
		for pb.Next() {
			clear(w.header)
			w.code, w.n = 0, 0
			srv.ServeHTTP(w, req)
			if w.code != 200 {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}
