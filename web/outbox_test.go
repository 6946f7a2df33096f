package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/fleet"
)

// parkFirst parks the upstream's first pending item, as the forwarder does
// when the upstream refuses it for good, and returns its number.
func (e *env) parkFirst() uint64 {
	e.t.Helper()
	pending, err := e.store.OutboxPending(storage.SinkUpstream, 0, 1)
	if err != nil || len(pending) != 1 {
		e.t.Fatalf("pending: %v %v", pending, err)
	}
	if err := e.store.OutboxPark(context.Background(), domain.Origin{Actor: "outbox", Role: domain.RoleAdmin}, pending[0], "409: the smartcard is Retired upstream"); err != nil {
		e.t.Fatal(err)
	}
	return pending[0].Seq
}

// lastEvent is the newest event of the audit log.
func (e *env) lastEvent() storage.Event {
	e.t.Helper()
	events, err := e.store.Events(0, 0)
	if err != nil || len(events) == 0 {
		e.t.Fatalf("events: %v", err)
	}
	return events[len(events)-1]
}

// TestOutboxPageFlow: an admin retries and drops a parked change through
// the page; each changes the store, is audited, and the page says so.
func TestOutboxPageFlow(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	admin := cookies[domain.RoleAdmin]
	if rec := e.form(cookies[domain.RoleOperator], "POST", "/cards/"+cardActive+"/disable", url.Values{"reason": {"lost"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	seq := e.parkFirst()
	item := url.Values{"sink": {storage.SinkUpstream}, "seq": {strconv.FormatUint(seq, 10)}}
	var wakes atomic.Int32
	e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return fixedNow },
		Forwarder: fakeForwarder{wakes: &wakes}})

	body := e.form(admin, "GET", "/admin/outbox", nil).Body.String()
	for _, want := range []string{`data-testid="parked-row"`, "Retry change " + item.Get("seq") + " to upstream", "Active → Disabled",
		"409: the smartcard is Retired upstream", `<td data-testid="sink-state">ok</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the outbox page lacks %q", want)
		}
	}

	steps := []struct {
		name     string
		path     string
		action   storage.Action
		pending  int
		notice   string
		wakes    int32
		parkNext bool // park the item again after the step
	}{
		{"retry", "/admin/outbox/retry", storage.ActionOutboxRetry, 1, "is pending again.", 1, true},
		{"drop", "/admin/outbox/drop", storage.ActionOutboxDrop, 0, "was dropped: it stays made here", 1, false},
	}
	for _, st := range steps {
		rec := e.form(admin, "POST", st.path, item)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/admin/outbox?") {
			t.Fatalf("%s: %d %s", st.name, rec.Code, rec.Body)
		}
		if page := e.form(admin, "GET", rec.Header().Get("Location"), nil).Body.String(); !strings.Contains(page, "Change "+item.Get("seq")+" to upstream "+st.notice) ||
			!strings.Contains(page, `data-testid="no-parked"`) {
			t.Errorf("%s: the page after it does not say so:\n%s", st.name, page)
		}
		pending, _ := e.store.OutboxPending(storage.SinkUpstream, 0, 10)
		parked, _ := e.store.OutboxParked(storage.SinkUpstream, 0, 10)
		if len(pending) != st.pending || len(parked) != 0 {
			t.Errorf("%s: %d pending, %d parked; want %d and 0", st.name, len(pending), len(parked), st.pending)
		}
		if ev := e.lastEvent(); ev.Action != st.action || ev.Actor != "user:p-admin" || ev.Name != storage.SinkUpstream {
			t.Errorf("%s: the audit event %+v", st.name, ev)
		}
		if got := wakes.Load(); got != st.wakes {
			t.Errorf("%s: the forwarder was woken %d times, want %d", st.name, got, st.wakes)
		}
		if audit := e.form(admin, "GET", "/audit?action="+string(st.action), nil); audit.Code != 200 || !strings.Contains(audit.Body.String(), string(st.action)) {
			t.Errorf("%s: the audit page filtered by %s: %d", st.name, st.action, audit.Code)
		}
		if st.parkNext {
			e.parkFirst()
		}
	}
}

// TestOutboxPageRefusals: what the outbox page refuses changes nothing
// and says why.
func TestOutboxPageRefusals(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	if rec := e.form(cookies[domain.RoleOperator], "POST", "/cards/"+cardActive+"/disable", url.Values{"reason": {"lost"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	seq := strconv.FormatUint(e.parkFirst(), 10)
	tests := []struct {
		name   string
		role   domain.Role
		method string
		path   string
		form   url.Values
		header []string
		code   int
		text   string
	}{
		{"operator opens the page", domain.RoleOperator, "GET", "/admin/outbox", nil, nil, 403, "needs the admin role"},
		{"operator retries", domain.RoleOperator, "POST", "/admin/outbox/retry", url.Values{"sink": {"upstream"}, "seq": {seq}}, nil, 403, "needs the admin role"},
		{"no session", domain.RoleNone, "POST", "/admin/outbox/drop", url.Values{"sink": {"upstream"}, "seq": {seq}}, nil, 303, ""},
		{"cross-origin drop", domain.RoleAdmin, "POST", "/admin/outbox/drop", url.Values{"sink": {"upstream"}, "seq": {seq}},
			[]string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}, 403, "sent from another site"},
		{"no number", domain.RoleAdmin, "POST", "/admin/outbox/retry", url.Values{"sink": {"upstream"}}, nil, 400, "names no parked change"},
		{"unknown item", domain.RoleAdmin, "POST", "/admin/outbox/drop", url.Values{"sink": {"upstream"}, "seq": {"99"}}, nil, 404, "no longer there"},
		{"unknown sink", domain.RoleAdmin, "POST", "/admin/outbox/retry", url.Values{"sink": {"webhook https://x.example/"}, "seq": {seq}}, nil, 404, "no longer there"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			rec := e.form(cookies[tt.role], tt.method, tt.path, tt.form, tt.header...)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.text) {
				t.Fatalf("%s %s = %d; want %d with %q\n%s", tt.method, tt.path, rec.Code, tt.code, tt.text, rec.Body)
			}
			if after := e.snapshot(); after != before {
				t.Fatal("a refused outbox action changed the database")
			}
		})
	}
	// The item is still parked, and without a forwarder the page says that
	// nothing is configured but still lists it.
	body := e.form(cookies[domain.RoleAdmin], "GET", "/admin/outbox", nil).Body.String()
	for _, want := range []string{"No upstream or webhook is configured; changes stay in this station's database.",
		`data-testid="parked-row"`, `<td data-testid="sink-state">off</td>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the outbox page without a forwarder lacks %q", want)
		}
	}
}

// TestOutboxStationLine: the station page says when changes wait for the
// upstream, and why, only when a forwarder runs.
func TestOutboxStationLine(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return fixedNow.Add(90 * time.Second) }
	stn := fakeStation{station.Status{State: station.Ready, LEDs: station.Signal(station.Ready), Readers: []station.ReaderStatus{}}}
	tests := []struct {
		name    string
		fw      Forwarder // nil: none
		changed bool      // a change was made: one item is pending
		want    string    // "": no line
	}{
		{"nothing pending", fakeForwarder{}, false, ""},
		{"one pending", fakeForwarder{}, true, "1 change is waiting to reach the upstream (the oldest for 1m30s)."},
		{"unreachable", fakeForwarder{state: fleet.StateUnreachable, problem: "connection refused"}, true,
			"1 change is waiting to reach the upstream (unreachable; the oldest for 1m30s)."},
		{"unauthorized", fakeForwarder{state: fleet.StateUnauthorized, problem: "401: bad token"}, true,
			"The upstream refuses this station&#39;s token: changes are kept until it is mended."},
		{"no forwarder", nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.changed {
				if pending, _ := e.store.OutboxPending(storage.SinkUpstream, 0, 1); len(pending) == 0 {
					if rec := e.form(cookies[domain.RoleOperator], "POST", "/cards/"+cardActive+"/disable", url.Values{"reason": {"lost"}}); rec.Code != http.StatusSeeOther {
						t.Fatalf("disable: %d %s", rec.Code, rec.Body)
					}
				}
			}
			e.srv = New(e.store, Options{Logger: quiet, Now: now, Station: stn, Forwarder: tt.fw})
			for _, path := range []string{"/station", "/station/panel"} {
				body := e.form(cookies[domain.RoleViewer], "GET", path, nil).Body.String()
				if tt.want == "" && strings.Contains(body, `data-testid="outbox-waiting"`) || !strings.Contains(body, tt.want) {
					t.Errorf("%s: want %q in\n%s", path, tt.want, body)
				}
			}
		})
	}
}
