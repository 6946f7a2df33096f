package web

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestStationWords: every state has its own headline, colour, legend line
// and next step, so that no state name reaches the screen; a card with
// nothing to disable says why.
func TestStationWords(t *testing.T) {
	all := []station.State{station.NoReader, station.Ready, station.Reading, station.Confirm, station.Disabled,
		station.NothingToDo, station.UnknownCard, station.TimedOut, station.Error, station.SeveralCards}
	if len(stationStates) != len(all) {
		t.Errorf("%d states have words, want %d", len(stationStates), len(all))
	}
	headlines := map[string]bool{}
	for _, st := range all {
		w := wordsOf(st)
		if w.headline == string(st) || w.legend == "" || len(w.next) == 0 || !strings.Contains("go wait stop", w.tone) {
			t.Errorf("%s: %+v", st, w)
		}
		if headlines[w.headline] {
			t.Errorf("%s shares its headline %q", st, w.headline)
		}
		headlines[w.headline] = true
	}
	for _, tt := range []struct {
		status domain.CardStatus
		want   string
	}{
		{domain.CardDisabled, "This card is already blocked"},
		{domain.CardSuspended, "This card is suspended"},
		{domain.CardRetired, "This card is retired"},
		{domain.CardNone, "Nothing to block on this card"},
	} {
		if got := nothingToDo(tt.status); got != tt.want {
			t.Errorf("nothing to do with a %s card: %q, want %q", tt.status, got, tt.want)
		}
	}
}

// liveStation is a station whose status the test changes.
type liveStation struct {
	mu sync.Mutex
	st station.Status
}

func (l *liveStation) Status() station.Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *liveStation) set(st station.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st = st
}

// TestStationLive: the panel shows the owner, the status and the
// countdown; the event stream sends the panel at once and again at a
// change, and "signin" when the session ends; the live routes answer a
// missing session with 401, never the sign-in page.
func TestStationLive(t *testing.T) {
	e := newEnv(t)
	cookie := e.people()[domain.RoleViewer]
	card, err := e.store.Card(mustGUID(t, cardActive))
	if err != nil {
		t.Fatal(err)
	}
	deadline := fixedNow.Add(7300 * time.Millisecond)
	status, id := int(card.Status), card.Uuid
	stn := &liveStation{st: station.Status{State: station.Confirm, LEDs: station.Signal(station.Confirm), Deadline: &deadline,
		Card: &station.Card{Kind: "piv", Serial: card.SerialNumber, Uuid: &id, Status: &status}}}
	srv := New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Station: stn, Now: func() time.Time { return fixedNow }})
	e.srv = srv

	rec := e.form(cookie, "GET", "/station/panel", nil)
	owner, _, _ := strings.Cut(card.AssignedUserUuid.String(), "-")
	for _, want := range []string{"Press the button to block this card", `data-remaining-ms="7300"`, owner + "…", ">Active<"} {
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("the panel (%d) lacks %q", rec.Code, want)
		}
	}
	for _, path := range []string{"/station/panel", "/station/events"} {
		if rec := e.form(nil, "GET", path, nil); rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "<form") {
			t.Errorf("%s without a session: %d %q, want a bare 401", path, rec.Code, rec.Body)
		}
	}

	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.StopStreams()
	req, _ := http.NewRequest("GET", ts.URL+"/station/events", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("the stream: %d %s", resp.StatusCode, ct)
	}
	lines := bufio.NewScanner(resp.Body)
	next := func() (event, data string) {
		t.Helper()
		for lines.Scan() {
			switch l := lines.Text(); {
			case l == "" && event != "":
				return event, data
			case strings.HasPrefix(l, "event: "):
				event = strings.TrimPrefix(l, "event: ")
			case strings.HasPrefix(l, "data: "):
				data += strings.TrimPrefix(l, "data: ")
			}
		}
		t.Fatalf("the stream ended: %v", lines.Err())
		return "", ""
	}
	if ev, data := next(); ev != "panel" || !strings.Contains(data, `data-state="confirm"`) {
		t.Fatalf("first event %s %q", ev, data)
	}
	stn.set(station.Status{State: station.Ready, LEDs: station.Signal(station.Ready)})
	if ev, data := next(); ev != "panel" || !strings.Contains(data, "Insert your card") {
		t.Fatalf("after the change: %s %q", ev, data)
	}
	if rec := e.form(cookie, "POST", "/signout", nil); rec.Code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", rec.Code)
	}
	if ev, data := next(); ev != "signin" || data != "/signin" {
		t.Fatalf("after the session ended: %s %q", ev, data)
	}
}

// TestStationPressOnlyForOperators: the simulated panel's button is on
// the page only for those who may press it.
func TestStationPressOnlyForOperators(t *testing.T) {
	e := newEnv(t)
	stn := &liveStation{st: station.Status{State: station.Ready, LEDs: station.Signal(station.Ready)}}
	e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Station: stn, PressButton: func() {}})
	people := e.people()
	for role, want := range map[domain.Role]bool{domain.RoleViewer: false, domain.RoleOperator: true, domain.RoleAdmin: true} {
		rec := e.form(people[role], "GET", "/station/panel", nil)
		if got := strings.Contains(rec.Body.String(), `data-testid="press"`); rec.Code != 200 || got != want {
			t.Errorf("%s: %d, press button shown %v; want %v", role, rec.Code, got, want)
		}
	}
}
