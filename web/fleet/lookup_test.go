package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/fleet"
	"github.com/cardstop/cardstop/web/wire"
)

// The station takes its cards from a ReadThrough.
var _ station.Cards = (*fleet.ReadThrough)(nil)

const apiBase = "/CertificateManagement/api/v1.0"

// lookupTimeout is short: the slow upstream's case waits it out.
const lookupTimeout = 200 * time.Millisecond

var hub = domain.Origin{Actor: "upstream:hub", Role: domain.RoleOperator, Source: "hub"}

func card(n byte, serial string, st domain.CardStatus) storage.Smartcard {
	return storage.Smartcard{Uuid: guid.GUID{0: n, 6: 0x40, 8: 0x80, 15: n}, Status: st, SerialNumber: serial}
}

// upstreamHolding is a MIM CM that holds cards, answering GET
// /smartcards?cardid= with the card as a JSON object, or 404; answer, when
// set, replaces that.
func upstreamHolding(t *testing.T, answer http.HandlerFunc, cards ...storage.Smartcard) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "GET" || r.URL.Path != apiBase+"/smartcards" || r.Header.Get("Authorization") != "Bearer station-token" {
			t.Errorf("unexpected %s %s (%q)", r.Method, r.URL, r.Header.Get("Authorization"))
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		if answer != nil {
			answer(w, r)
			return
		}
		want := storage.NormalizeSerial(r.URL.Query().Get("cardid"))
		for _, c := range cards {
			if storage.NormalizeSerial(c.SerialNumber) == want {
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(wire.SmartcardFrom(c))
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"Message":"no such smartcard"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newUpstream(t *testing.T, url string) *fleet.Upstream {
	t.Helper()
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("station-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up, err := fleet.NewUpstream(fleet.UpstreamConfig{URL: url + apiBase, TokenFile: token, Station: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	return up
}

func newStore(t *testing.T, cards ...storage.Smartcard) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if len(cards) > 0 {
		if err := s.ImportCards(context.Background(), domain.Origin{Actor: "cli", Role: domain.RoleAdmin}, cards); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestReadThrough: the upstream's answer is taken in and decides; without
// one, the records here do, within about the timeout.
func TestReadThrough(t *testing.T) {
	onlyUp := card(1, "{aa01}", domain.CardActive)
	both := card(2, "{aa02}", domain.CardActive)
	sleep := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * lookupTimeout):
		}
	}
	fail := func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}
	garbage := func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) }
	tests := []struct {
		name     string
		local    []storage.Smartcard
		upstream []storage.Smartcard
		answer   http.HandlerFunc
		down     bool // the upstream's server is closed
		serial   string
		want     storage.Smartcard // zero: domain.ErrNotFound; else the store holds it too
	}{
		{name: "only upstream", upstream: []storage.Smartcard{onlyUp}, serial: "AA01", want: onlyUp},
		{name: "status refreshed", local: []storage.Smartcard{both}, upstream: []storage.Smartcard{withStatus(both, domain.CardDisabled)},
			serial: "aa02", want: withStatus(both, domain.CardDisabled)},
		{name: "same status", local: []storage.Smartcard{both}, upstream: []storage.Smartcard{both}, serial: "aa02", want: both},
		{name: "only here", local: []storage.Smartcard{both}, serial: "aa02", want: both},
		{name: "nowhere", local: []storage.Smartcard{both}, upstream: []storage.Smartcard{onlyUp}, serial: "aa03"},
		{name: "serial taken here", local: []storage.Smartcard{both}, upstream: []storage.Smartcard{card(3, "{AA02}", domain.CardDisabled)},
			serial: "aa02", want: both},
		{name: "upstream down", local: []storage.Smartcard{both}, down: true, serial: "aa02", want: both},
		{name: "upstream down, card nowhere", down: true, serial: "aa02"},
		{name: "upstream slow", local: []storage.Smartcard{both}, answer: sleep, serial: "aa02", want: both},
		{name: "upstream fails", local: []storage.Smartcard{both}, answer: fail, serial: "aa02", want: both},
		{name: "upstream answers no card", local: []storage.Smartcard{both}, answer: garbage, serial: "aa02", want: both},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := upstreamHolding(t, tt.answer, tt.upstream...)
			if tt.down {
				srv.Close()
			}
			s := newStore(t, tt.local...)
			r := fleet.NewReadThrough(s, newUpstream(t, srv.URL), hub, lookupTimeout, nil)

			start := time.Now()
			got, err := r.CardBySerial(tt.serial)
			took := time.Since(start)

			if took > 5*lookupTimeout {
				t.Errorf("the look-up took %s; the timeout is %s", took, lookupTimeout)
			}
			if tt.want.Uuid.IsNil() {
				if !errors.Is(err, domain.ErrNotFound) {
					t.Fatalf("CardBySerial(%q) = %v, %v; want ErrNotFound", tt.serial, got.Uuid, err)
				}
				if n, _ := s.Cards(storage.CardFilter{}); len(n) != len(tt.local) {
					t.Errorf("%d cards stored; want %d", len(n), len(tt.local))
				}
				return
			}
			if err != nil || got.Uuid != tt.want.Uuid || got.Status != tt.want.Status {
				t.Fatalf("CardBySerial(%q) = %v %v, %v; want %v %v", tt.serial, got.Uuid, got.Status, err, tt.want.Uuid, tt.want.Status)
			}
			if here, err := s.CardBySerial(tt.serial); err != nil || here.Uuid != tt.want.Uuid || here.Status != tt.want.Status {
				t.Errorf("the store holds %v %v, %v; want %v %v", here.Uuid, here.Status, err, tt.want.Uuid, tt.want.Status)
			}
		})
	}
}

func withStatus(c storage.Smartcard, st domain.CardStatus) storage.Smartcard {
	c.Status = st
	return c
}

// TestReadThroughApply: a change goes to the store.
func TestReadThroughApply(t *testing.T) {
	c := card(1, "{aa01}", domain.CardActive)
	s := newStore(t, c)
	r := fleet.NewReadThrough(s, newUpstream(t, upstreamHolding(t, nil, c).URL), hub, lookupTimeout, nil)
	station := domain.Origin{Actor: "station:s1", Role: domain.RoleOperator, Source: "reader 0"}
	got, err := r.Apply(context.Background(), station, domain.Command{Card: c.Uuid, Action: domain.Disable, Reason: "walk-up", Via: domain.ViaStation})
	if err != nil || got.Status != domain.CardDisabled {
		t.Fatalf("Apply = %v, %v; want Disabled", got.Status, err)
	}
	if here, _ := s.Card(c.Uuid); here.Status != domain.CardDisabled {
		t.Errorf("the store holds %v", here.Status)
	}
}

// TestReadThroughLogsOncePerKind: an upstream that stays away is one
// warning, not one per card; its return is said once.
func TestReadThroughLogsOncePerKind(t *testing.T) {
	var mu sync.Mutex
	down := true
	srv := upstreamHolding(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNotFound)
	})
	logs := &records{}
	r := fleet.NewReadThrough(newStore(t), newUpstream(t, srv.URL), hub, lookupTimeout, slog.New(logs))
	look := func(n int) {
		for range n {
			if _, err := r.CardBySerial("aa01"); !errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("CardBySerial: %v; want ErrNotFound", err)
			}
		}
	}
	look(3)
	if got := logs.count(slog.LevelWarn); got != 1 {
		t.Errorf("%d warnings for an upstream away during 3 look-ups; want 1", got)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	look(2)
	if got := logs.count(slog.LevelInfo); got != 1 {
		t.Errorf("%d notes of the upstream's return; want 1", got)
	}
	srv.Close()
	look(2)
	if got := logs.count(slog.LevelWarn); got != 2 {
		t.Errorf("%d warnings after it went away again; want 2", got)
	}
}

// records counts log records by level.
type records struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *records) WithGroup(string) slog.Handler            { return h }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[slog.Level]int{}
	}
	h.n[r.Level]++
	return nil
}

func (h *records) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[l]
}
