package web

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/fleet"
	"github.com/cardstop/cardstop/web/wire"
)

// fixedNow is the clock of every test store: the documentation's example
// request was submitted at this time.
var fixedNow = time.Date(2015, 7, 7, 23, 36, 21, 930_000_000, time.UTC)

// env is a server on a real bbolt file with the documented example cards
// and one token per role.
type env struct {
	t       *testing.T
	dir     string         // the store's data directory
	changes *ChangeCounter // the store's changes, counted
	store   *storage.Store
	srv     *Server
	tokens  map[domain.Role]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	changes := &ChangeCounter{}
	// Every change also goes to an upstream's outbox, which nothing
	// delivers: the outbox's routes have items to show.
	st, err := storage.Open(dir, storage.Options{Now: func() time.Time { return fixedNow }, Changed: changes.Add,
		Sinks: []string{storage.SinkUpstream}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Error(err)
		}
		st.Close()
	})
	f, err := os.Open(filepath.Join("..", "docs", "examples", "cards.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cards, err := wire.ReadSmartcards(f)
	if err != nil {
		t.Fatal(err)
	}
	records := make([]storage.Smartcard, len(cards))
	for i, c := range cards {
		records[i] = c.Record()
	}
	cli := domain.Origin{Actor: "test", Role: domain.RoleAdmin}
	if err := st.ImportCards(context.Background(), cli, records); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, store: st, changes: changes, tokens: map[domain.Role]string{}}
	for _, r := range []domain.Role{domain.RoleViewer, domain.RoleOperator, domain.RoleAdmin} {
		secret, _, err := st.CreateToken(context.Background(), cli, r.String(), r)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = secret
	}
	e.srv = New(st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return fixedNow }})
	return e
}

// The documentation's example cards.
const (
	cardAssigned = "17cf063d-e337-4aa9-a822-346554ddd3c9" // Status 2, serial {bc88f13f-...}
	cardActive   = "438d1b30-f3b4-4bed-85fa-285e08605ba7" // Status 3, serial {d1ef6869-...}
	serialActive = "d1ef6869-5517-42a0-8f05-16ca1a0b834d"
	api          = "/CertificateManagement/api/v1.0"
)

// do sends one request as role (RoleNone: no credential) with a JSON body
// (empty: none) and returns the recorded response.
func (e *env) do(role domain.Role, method, path, body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = "192.0.2.1:50000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != domain.RoleNone {
		req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

// createRequest makes a request as role and returns its uuid.
func (e *env) createRequest(role domain.Role, body string) string {
	e.t.Helper()
	rec := e.do(role, "POST", api+"/requests", body)
	if rec.Code != http.StatusCreated {
		e.t.Fatalf("POST /requests %s: %d %s", body, rec.Code, rec.Body)
	}
	s := strings.Trim(rec.Body.String(), `"`)
	return strings.TrimPrefix(s, "api/v1.0/requests/")
}

// snapshot is everything a refused request must leave unchanged.
func (e *env) snapshot() string {
	e.t.Helper()
	var b bytes.Buffer
	cards, err := e.store.Cards(storage.CardFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	out := make([]wire.Smartcard, len(cards))
	for i, c := range cards {
		out[i] = wire.SmartcardFrom(c)
	}
	if err := wire.WriteSmartcards(&b, out); err != nil {
		e.t.Fatal(err)
	}
	reqs, err := e.store.Requests(storage.RequestFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range reqs {
		b.WriteString(r.Uuid.String() + " " + r.Status.String() + "\n")
	}
	events, err := e.store.Events(0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := storage.VerifyChain(events); err != nil {
		e.t.Fatal(err)
	}
	if n := len(events); n > 0 {
		b.WriteString(events[n-1].Hash)
	}
	return b.String()
}

// golden compares got with testdata/NAME, and writes testdata/NAME.actual
// on a mismatch (or the golden file itself with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		_ = os.WriteFile(path+".actual", got, 0o644)
		t.Errorf("%s differs from the golden file; see %s.actual\n got: %s\nwant: %s", name, path, got, want)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files")

// fakeForwarder is an upstream in state (zero: ok) whose deliveries go
// well; it counts its wake-ups in wakes, when set.
type fakeForwarder struct {
	state   fleet.State
	problem string
	wakes   *atomic.Int32
}

func (fakeForwarder) Sinks() []string { return []string{storage.SinkUpstream} }

func (f fakeForwarder) Wake() {
	if f.wakes != nil {
		f.wakes.Add(1)
	}
}

func (f fakeForwarder) Status() []fleet.SinkStatus {
	return []fleet.SinkStatus{{Name: storage.SinkUpstream, State: cmp.Or(f.state, fleet.StateOK), Problem: f.problem, Delivered: 3}}
}
