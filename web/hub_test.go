package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// stationToken adds the station token lobby to e, which do then sends as
// domain.RoleStation.
func (e *env) stationToken() {
	e.t.Helper()
	secret, _, err := e.store.CreateToken(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "lobby", domain.RoleStation)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[domain.RoleStation] = secret
}

const disableActive = `{"type":"Disable","smartcard":"` + cardActive + `","comment":"lost","datacollection":[{"name":"cardstop.station","value":"lobby"}]}`

// TestStationTokenRoutes: a station token may look cards up and create,
// carry out and finish Disable requests, and nothing else: every other
// API route of the table answers 403 and changes nothing, and the pages
// do not take a token at all.
func TestStationTokenRoutes(t *testing.T) {
	e := newEnv(t)
	e.stationToken()
	own := e.createRequest(domain.RoleStation, disableActive)
	opDisable := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+cardAssigned+`"}`)
	opRetire := e.createRequest(domain.RoleAdmin, `{"type":"Retire","smartcard":"`+cardAssigned+`"}`)

	allowed := []struct {
		name, method, path, body string
		code                     int
		has                      string // in the body
	}{
		{"list cards", "GET", api + "/smartcards", "", 200, cardActive},
		{"look a card up", "GET", api + "/smartcards?cardid=" + serialActive, "", 200, cardActive},
		{"get a card", "GET", api + "/smartcards/" + cardActive, "", 200, cardActive},
		{"operations", "GET", api + "/smartcards/" + cardActive + "/operations", "", 200, `["disable"]`},
		{"create a Disable request", "POST", api + "/requests", disableActive, 201, "api/v1.0/requests/"},
		{"create a Retire request", "POST", api + "/requests", `{"type":"Retire","smartcard":"` + cardActive + `"}`, 403,
			"a station token may create only Disable requests, not Retire"},
		{"create a Suspend request", "POST", api + "/requests", `{"type":"Suspend","smartcard":"` + cardActive + `"}`, 403,
			"a station token may create only Disable requests, not SuspendOrReinstate"},
		{"carry out another's Retire request", "PUT", api + "/requests/" + opRetire + "/smartcards/" + cardAssigned, `{"status":"Retired"}`, 403,
			"a station token may not retire a smartcard"},
		{"finish another's request", "PUT", api + "/requests/" + opDisable, `{"status":"Canceled"}`, 403, "not made by this station token"},
		{"carry out its Disable request", "PUT", api + "/requests/" + own + "/smartcards/" + cardActive, `{"status":"Disabled"}`, 200, `"Status":4`},
		{"complete its request", "PUT", api + "/requests/" + own, `{"status":"Completed"}`, 200, `"Status":8`},
	}
	for _, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			rec := e.do(domain.RoleStation, tt.method, tt.path, tt.body)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.has) {
				t.Fatalf("%s %s = %d %s; want %d with %q", tt.method, tt.path, rec.Code, rec.Body, tt.code, tt.has)
			}
			if tt.code == 403 && e.snapshot() != before {
				t.Error("a refused call changed the records")
			}
		})
	}

	// Every other route of the table, with the ids filled in.
	fill := strings.NewReplacer("{id}", own, "{reqid}", own, "{scid}", cardActive, "{action}", "disable")
	for _, rt := range e.srv.routes() {
		method, path, _ := strings.Cut(rt.pattern, " ")
		if rt.station || rt.simulated || (rt.api == nil && rt.page == nil) {
			continue
		}
		path = fill.Replace(strings.TrimSuffix(path, "{$}"))
		t.Run(rt.pattern, func(t *testing.T) {
			before := e.snapshot()
			rec := e.do(domain.RoleStation, method, path, map[string]string{"POST": "{}", "PUT": "{}"}[method])
			switch {
			case rt.api != nil && (rec.Code != 403 || !strings.Contains(rec.Body.String(), `the token \"lobby\" is a station's`)):
				t.Errorf("%s = %d %s, want 403", rt.pattern, rec.Code, rec.Body)
			case rt.page != nil && rt.live && rec.Code != http.StatusUnauthorized:
				t.Errorf("%s = %d, want 401: a page's live part takes no token", rt.pattern, rec.Code)
			case rt.page != nil && !rt.live && (rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin"):
				t.Errorf("%s = %d, want the way to sign in: a page takes no token", rt.pattern, rec.Code)
			}
			if e.snapshot() != before {
				t.Error("a refused call changed the records")
			}
		})
	}
}

// TestIdempotencyKey: a repeated key from the same credential gets the
// first answer and changes nothing; another credential's same key is its
// own; a bad key is refused before anything is stored.
func TestIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	e.stationToken()
	key := "change-0001"
	first := e.do(domain.RoleStation, "POST", api+"/requests", disableActive, "Idempotency-Key", key)
	if first.Code != 201 {
		t.Fatalf("first POST: %d %s", first.Code, first.Body)
	}
	before, events := e.snapshot(), len(e.events())
	tests := []struct {
		name   string
		role   domain.Role
		key    string
		body   string
		code   int
		same   bool   // the first answer again
		has    string // in the body
		change bool   // a new request and event
	}{
		{name: "repeat", role: domain.RoleStation, key: key, body: disableActive, code: 201, same: true},
		{name: "repeat with another comment", role: domain.RoleStation, key: key,
			body: `{"type":"Disable","smartcard":"` + cardActive + `","comment":"again"}`, code: 201, same: true},
		{name: "same key for another card", role: domain.RoleStation, key: key,
			body: `{"type":"Disable","smartcard":"` + cardAssigned + `"}`, code: 409, has: "use a new key for another request"},
		{name: "empty key", role: domain.RoleStation, key: "", body: disableActive, code: 400, has: "Idempotency-Key"},
		{name: "256 characters", role: domain.RoleStation, key: strings.Repeat("k", 256), body: disableActive, code: 400, has: "1 to 255 printable ASCII"},
		{name: "not ASCII", role: domain.RoleStation, key: "clé", body: disableActive, code: 400, has: "printable ASCII"},
		{name: "a control character", role: domain.RoleStation, key: "a\tb", body: disableActive, code: 400, has: "printable ASCII"},
		{name: "another credential", role: domain.RoleOperator, key: key, body: disableActive, code: 201, change: true},
		{name: "255 characters", role: domain.RoleStation, key: strings.Repeat("k", 255), body: disableActive, code: 201, change: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, events := e.snapshot(), len(e.events())
			rec := e.do(tt.role, "POST", api+"/requests", tt.body, "Idempotency-Key", tt.key)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.has) {
				t.Fatalf("POST = %d %s; want %d with %q", rec.Code, rec.Body, tt.code, tt.has)
			}
			if tt.same && (rec.Body.String() != first.Body.String() || rec.Header().Get("Location") != first.Header().Get("Location")) {
				t.Errorf("answer %s (Location %s), want the first one %s", rec.Body, rec.Header().Get("Location"), first.Body)
			}
			if tt.code == 201 && !tt.same && rec.Body.String() == first.Body.String() {
				t.Error("got the first request back, want a new one")
			}
			if changed := e.snapshot() != before || len(e.events()) != events; changed != tt.change {
				t.Errorf("records changed: %v, want %v", changed, tt.change)
			}
		})
	}
	if e.snapshot() == before || len(e.events()) != events+2 {
		t.Errorf("the two new requests made %d events, want 2", len(e.events())-events)
	}
}

// TestStationRepeatSafety: a station that repeats a step of the disable
// flow (its answer lost) gets 200 and changes nothing.
func TestStationRepeatSafety(t *testing.T) {
	e := newEnv(t)
	e.stationToken()
	id := e.createRequest(domain.RoleStation, disableActive)
	steps := []struct{ name, path, body, has string }{
		{"carry out", api + "/requests/" + id + "/smartcards/" + cardActive, `{"status":"Disabled"}`, `"Status":4`},
		{"complete", api + "/requests/" + id, `{"status":"Completed"}`, `"Status":8`},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			first := e.do(domain.RoleStation, "PUT", st.path, st.body)
			if first.Code != 200 || !strings.Contains(first.Body.String(), st.has) {
				t.Fatalf("first PUT: %d %s", first.Code, first.Body)
			}
			before, events := e.snapshot(), len(e.events())
			again := e.do(domain.RoleStation, "PUT", st.path, st.body)
			if again.Code != 200 || again.Body.String() != first.Body.String() {
				t.Errorf("repeat: %d %s, want 200 %s", again.Code, again.Body, first.Body)
			}
			if e.snapshot() != before || len(e.events()) != events {
				t.Error("the repeat changed the records")
			}
		})
	}
	req, err := e.store.Request(mustGUID(t, id))
	if err != nil || req.Status != domain.RequestCompleted || req.Originator != "token:lobby" {
		t.Fatalf("request %+v, %v", req, err)
	}
	if card, err := e.store.Card(mustGUID(t, cardActive)); err != nil || card.Status != domain.CardDisabled || card.StatusChangedBy != "token:lobby" {
		t.Fatalf("card %+v, %v", card, err)
	}
	if n, _ := e.store.Requests(storage.RequestFilter{}); len(n) != 1 {
		t.Errorf("%d requests, want 1", len(n))
	}
}

// TestStationsPage: the admin page lists each station token with what it
// did since the service started.
func TestStationsPage(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	admin := cookies[domain.RoleAdmin]
	page := func() string {
		t.Helper()
		rec := e.form(admin, "GET", "/admin/stations", nil)
		if rec.Code != 200 {
			t.Fatalf("GET /admin/stations: %d", rec.Code)
		}
		return rec.Body.String()
	}
	if body := page(); !strings.Contains(body, `data-testid="no-stations"`) || !strings.Contains(body, "since the service started") {
		t.Fatalf("no station yet:\n%s", body)
	}
	if rec := e.form(cookies[domain.RoleOperator], "GET", "/admin/stations", nil); rec.Code != 403 {
		t.Errorf("an operator on the stations page: %d, want 403", rec.Code)
	}
	e.stationToken()
	never := `<tr data-testid="station-lobby"><th scope="row">lobby</th><td>2015-07-07 23:36:21 UTC</td><td>—</td><td>—</td><td>—</td></tr>`
	if body := page(); !strings.Contains(body, never) {
		t.Fatalf("a station never seen: want %s in\n%s", never, body)
	}
	if rec := e.do(domain.RoleStation, "GET", api+"/smartcards/"+cardActive, ""); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	seen := `<td>2015-07-07 23:36:21 UTC</td><td>—</td><td>—</td></tr>`
	if body := page(); !strings.Contains(body, seen) {
		t.Fatalf("a station seen: want %s in\n%s", seen, body)
	}
	id := e.createRequest(domain.RoleStation, disableActive)
	if rec := e.do(domain.RoleStation, "PUT", api+"/requests/"+id+"/smartcards/"+cardActive, `{"status":"Disabled"}`); rec.Code != 200 {
		t.Fatal(rec.Code, rec.Body)
	}
	changed := `<td>2015-07-07 23:36:21 UTC</td><td><a href="/cards/` + cardActive + `"><code>` + cardActive + `</code></a></td></tr>`
	if body := page(); !strings.Contains(body, changed) {
		t.Fatalf("a station's change: want %s in\n%s", changed, body)
	}
}
