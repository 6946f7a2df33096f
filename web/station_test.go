package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

type fakeStation struct{ st station.Status }

func (f fakeStation) Status() station.Status { return f.st }

func TestStationRoutes(t *testing.T) {
	e := newEnv(t)
	presses := 0
	stn := fakeStation{station.Status{State: station.Confirm, LEDs: station.Signal(station.Confirm), Reader: "Virtual PCD 00 00", Readers: []station.ReaderStatus{{Name: "Virtual PCD 00 00"}}, Message: "press"}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	simulated := New(e.store, Options{Logger: quiet, Station: stn, PressButton: func() { presses++ }, Panel: "simulated"})
	gpioPanel := New(e.store, Options{Logger: quiet, Station: stn, Panel: "gpio"})
	none := New(e.store, Options{Logger: quiet})
	unsynced := New(e.store, Options{Logger: quiet, ClockSynced: func() bool { return false }})
	failed := New(e.store, Options{Logger: quiet, Station: stn, Panel: "failed", PanelFault: func() string { return "GPIO line busy: GPIO23 (button)" }})
	noReader := New(e.store, Options{Logger: quiet, Panel: "gpio",
		Station: fakeStation{station.Status{State: station.NoReader, Readers: []station.ReaderStatus{}, LEDs: station.Signal(station.NoReader), Message: "no card reader"}}})

	tests := []struct {
		name   string
		srv    *Server
		role   domain.Role
		method string
		path   string
		code   int
		body   string // a part of the body
	}{
		{"status", simulated, domain.RoleViewer, "GET", "/api/station", 200, `"state":"confirm","leds":{"green":"off","amber":"fast","red":"off"},"reader":"Virtual PCD 00 00","readers":[{"name":"Virtual PCD 00 00","card":null}]`},
		{"status needs a credential", simulated, domain.RoleNone, "GET", "/api/station", 401, "authentication required"},
		{"no station", none, domain.RoleViewer, "GET", "/api/station", 404, "runs no walk-up station"},
		{"press", simulated, domain.RoleOperator, "POST", "/api/station/button", 202, "pressed"},
		{"press needs operator", simulated, domain.RoleViewer, "POST", "/api/station/button", 403, "operator"},
		{"no simulated button on real GPIO", gpioPanel, domain.RoleOperator, "POST", "/api/station/button", 404, "no such resource"},
		{"press with GET", simulated, domain.RoleOperator, "GET", "/api/station/button", 405, "not allowed"},
		{"healthz", none, domain.RoleNone, "GET", "/healthz", 200, `{"status":"ok"}`},
		{"readyz with station", simulated, domain.RoleNone, "GET", "/readyz", 200, `{"database":"ok","reader":"Virtual PCD 00 00","panel":"simulated","station":"confirm","clock":"synchronised","upstream":"off"}`},
		{"readyz without station", none, domain.RoleNone, "GET", "/readyz", 200, `{"database":"ok","reader":"none","panel":"none","clock":"synchronised","upstream":"off"}`},
		{"readyz before the clock is set", unsynced, domain.RoleNone, "GET", "/readyz", 200, `"clock":"not synchronised since boot"`},
		{"readyz with a failed panel", failed, domain.RoleNone, "GET", "/readyz", 200, `"panel":"failed: GPIO line busy: GPIO23 (button)"`},
		{"readyz without a reader", noReader, domain.RoleNone, "GET", "/readyz", 200, `{"database":"ok","reader":"none","panel":"gpio","station":"no-reader","clock":"synchronised","upstream":"off"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.role != domain.RoleNone {
				req.Header.Set("Authorization", "Bearer "+e.tokens[tt.role])
			}
			rec := httptest.NewRecorder()
			tt.srv.ServeHTTP(rec, req)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
				t.Fatalf("%s %s = %d %s; want %d with %s", tt.method, tt.path, rec.Code, rec.Body, tt.code, tt.body)
			}
			if !json.Valid(rec.Body.Bytes()) || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("not a JSON answer: %q %q", rec.Header().Get("Content-Type"), rec.Body)
			}
		})
	}
	if presses != 1 {
		t.Fatalf("%d presses reached the panel, want 1", presses)
	}
	// The LED names are what the page and scripts read.
	if got := station.Signal(station.Ready); got != (panel.Signal{Green: panel.On, Amber: panel.Off, Red: panel.Off}) {
		t.Fatalf("ready signal %+v", got)
	}
}

func TestReadyzWhenTheDatabaseIsGone(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	st.Close()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"database":"unavailable"`) {
		t.Fatalf("readyz with a closed database: %d %s", rec.Code, rec.Body)
	}
}

// TestReadyzWhileChecking: while the start-up check runs, the service is
// not ready: reads answer, changes wait for the verdict.
func TestReadyzWhileChecking(t *testing.T) {
	e := newEnv(t)
	srv := New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	e.store.HoldChanges()
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"database":"checking"`) {
		t.Fatalf("readyz during the check: %d %s", code, body)
	}
	e.store.ReleaseChanges()
	if code, body := ready(); code != http.StatusOK || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("readyz after the check: %d %s", code, body)
	}
}

// TestStationJSON pins the exact bytes of GET /api/station: the keys, their
// order, null for an absent card or reader list, and the deadline only
// while one runs.
func TestStationJSON(t *testing.T) {
	e := newEnv(t)
	id := guid.GUID{0x43, 0x8d, 15: 7}
	status := 4
	deadline := time.Date(2026, 11, 29, 10, 0, 5, 250_000_000, time.UTC)
	card := &station.Card{Kind: reader.KindPIV, Serial: "{x}", ATR: "3b", Uuid: &id, Status: &status}
	tests := []struct {
		name string
		st   station.Status
		want string
	}{
		{"zero", station.Status{},
			`{"state":"","leds":{"green":"","amber":"","red":""},"reader":"","readers":null,"card":null,"message":""}`},
		{"no reader", station.Status{State: station.NoReader, Readers: []station.ReaderStatus{}, LEDs: station.Signal(station.NoReader), Message: "no card reader"},
			`{"state":"no-reader","leds":{"green":"off","amber":"off","red":"slow"},"reader":"","readers":[],"card":null,"message":"no card reader"}`},
		{"confirm", station.Status{State: station.Confirm, LEDs: station.Signal(station.Confirm), Reader: "B",
			Readers: []station.ReaderStatus{{Name: "A"}, {Name: "B", Card: card}}, Card: card, Deadline: &deadline, Message: "press <now> & go"},
			`{"state":"confirm","leds":{"green":"off","amber":"fast","red":"off"},"reader":"B","readers":[{"name":"A","card":null},` +
				`{"name":"B","card":{"kind":"piv","serial":"{x}","atr":"3b","uuid":"438d0000-0000-0000-0000-000000000007","status":4}}],` +
				`"card":{"kind":"piv","serial":"{x}","atr":"3b","uuid":"438d0000-0000-0000-0000-000000000007","status":4},` +
				`"confirm_deadline":"2026-11-29T10:00:05.25Z","message":"press <now> & go"}`},
		{"unknown card", station.Status{State: station.UnknownCard, Card: &station.Card{Kind: reader.KindUnknown}},
			`{"state":"unknown-card","leds":{"green":"","amber":"","red":""},"reader":"","readers":null,"card":{"kind":"unknown"},"message":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Station: fakeStation{tt.st}})
			rec := e.do(domain.RoleViewer, "GET", "/api/station", "")
			if rec.Code != http.StatusOK || rec.Body.String() != tt.want {
				t.Fatalf("GET /api/station = %d\n%s\nwant\n%s", rec.Code, rec.Body, tt.want)
			}
		})
	}
}
