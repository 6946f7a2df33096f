package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

const pagePass = "a long enough password"

// people adds one user per role to e and returns a signed-in cookie for each.
func (e *env) people() map[domain.Role]*http.Cookie {
	e.t.Helper()
	cookies := map[domain.Role]*http.Cookie{}
	for _, r := range []domain.Role{domain.RoleViewer, domain.RoleOperator, domain.RoleAdmin} {
		if err := e.store.AddUser(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "p-"+r.String(), r, pagePass); err != nil {
			e.t.Fatal(err)
		}
		rec := e.form(nil, "POST", "/signin", url.Values{"name": {"p-" + r.String()}, "password": {pagePass}})
		if rec.Code != http.StatusSeeOther {
			e.t.Fatalf("sign in as %s: %d %s", r, rec.Code, rec.Body)
		}
		cookies[r] = rec.Result().Cookies()[0]
	}
	return cookies
}

// form sends a page request (a form body when values is not nil).
func (e *env) form(c *http.Cookie, method, path string, values url.Values, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if values != nil {
		body = strings.NewReader(values.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	req.RemoteAddr = "192.0.2.7:40000"
	if values != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c != nil {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

func TestSignInCookieAndSignOut(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	c := cookies[domain.RoleOperator]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ (Secure only under TLS)", c)
	}
	if rec := e.form(c, "GET", "/cards", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="cards"`) {
		t.Fatalf("cards page: %d", rec.Code)
	}
	if rec := e.form(c, "POST", "/signout", url.Values{}); rec.Code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", rec.Code)
	}
	if rec := e.form(c, "GET", "/cards", nil); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/signin" {
		t.Fatalf("after sign out: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if rec := e.form(nil, "POST", "/signin", url.Values{"name": {"p-admin"}, "password": {"nope nope nope"}}); rec.Code != 401 ||
		!strings.Contains(rec.Body.String(), "Wrong user name or password") {
		t.Fatalf("wrong password: %d", rec.Code)
	}
	if rec := e.form(nil, "POST", "/signin?next=//evil.example/", url.Values{"name": {"p-admin"}, "password": {pagePass}}); rec.Header().Get("Location") != "/cards" {
		t.Fatalf("an open redirect after sign-in: %s", rec.Header().Get("Location"))
	}
}

func TestSessionLimits(t *testing.T) {
	now := time.Date(2026, 1, 2, 8, 0, 0, 0, time.UTC)
	st, err := storage.Open(t.TempDir(), storage.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin := domain.Origin{Actor: "test", Role: domain.RoleAdmin}
	if err := st.AddUser(context.Background(), admin, "ann", domain.RoleViewer, pagePass); err != nil {
		t.Fatal(err)
	}
	srv := New(st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	get := func(c *http.Cookie) int {
		req := httptest.NewRequest("GET", "/cards", nil)
		req.AddCookie(c)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		return rec.Code
	}
	signIn := func() *http.Cookie {
		secret, _, err := st.SignIn(context.Background(), domain.Origin{}, "ann", pagePass)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Cookie{Name: sessionCookie, Value: secret}
	}
	c := signIn()
	now = now.Add(29 * time.Minute)
	if get(c) != 200 {
		t.Fatal("a session used within 30 minutes ended")
	}
	now = now.Add(31 * time.Minute)
	if get(c) != http.StatusSeeOther {
		t.Fatal("a session idle for 31 minutes is still alive")
	}
	c = signIn()
	for range 25 { // used every 29 minutes: alive until 12 h after sign-in
		now = now.Add(29 * time.Minute)
		get(c)
	}
	if get(c) != http.StatusSeeOther {
		t.Fatal("a session in use for more than 12 hours is still alive")
	}
	c = signIn()
	if err := st.RemoveUser(context.Background(), admin, "ann"); err != nil {
		t.Fatal(err)
	}
	if get(c) != http.StatusSeeOther {
		t.Fatal("removing a user did not end the session")
	}
}

// TestPageRefusals: refused page requests show a readable page and change nothing.
func TestPageRefusals(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	retireReq := e.createRequest(domain.RoleAdmin, `{"type":"Retire","smartcard":"`+cardAssigned+`"}`)
	if rec := e.do(domain.RoleAdmin, "PUT", api+"/requests/"+retireReq+"/smartcards/"+cardAssigned, `{"status":"Retired"}`); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	active, retired := "/cards/"+cardActive, "/cards/"+cardAssigned
	tests := []struct {
		name   string
		role   domain.Role // RoleNone: no session
		method string
		path   string
		form   url.Values
		header []string
		code   int
		text   string
	}{
		{"no session, GET", domain.RoleNone, "GET", active, nil, nil, 303, ""},
		{"no session, POST", domain.RoleNone, "POST", active + "/disable", url.Values{"reason": {"lost"}}, nil, 303, ""},
		{"viewer opens an action", domain.RoleViewer, "GET", active + "/disable", nil, nil, 403, "needs the operator role"},
		{"viewer posts an action", domain.RoleViewer, "POST", active + "/disable", url.Values{"reason": {"lost"}}, nil, 403, "needs the operator role"},
		{"operator retires", domain.RoleOperator, "POST", active + "/retire", url.Values{"reason": {"expired"}, "serial": {serialActive}}, nil, 409, "You cannot retire this card"},
		{"operator re-enables", domain.RoleOperator, "GET", active + "/enable", nil, nil, 409, "You cannot re-enable this card"},
		{"reason not in the list", domain.RoleOperator, "POST", active + "/disable", url.Values{"reason": {"bored"}}, nil, 400, "Choose a reason"},
		{"comment too long", domain.RoleOperator, "POST", active + "/disable", url.Values{"reason": {"lost"}, "comment": {strings.Repeat("x", 1025)}}, nil, 400, "longer than 1024"},
		{"retire with the wrong serial", domain.RoleAdmin, "POST", active + "/retire", url.Values{"reason": {"expired"}, "serial": {"{00000000-0000-0000-0000-000000000000}"}}, nil, 400, "not this card"},
		{"disable a retired card", domain.RoleAdmin, "POST", retired + "/disable", url.Values{"reason": {"lost"}}, nil, 409, "Retired"},
		{"unknown action", domain.RoleAdmin, "POST", active + "/explode", url.Values{}, nil, 404, "no action"},
		{"unknown card", domain.RoleAdmin, "GET", "/cards/00000000-0000-4000-8000-000000000000", nil, nil, 404, "not found"},
		{"not a card id", domain.RoleAdmin, "GET", "/cards/nope", nil, nil, 404, "no card with the id"},
		{"cross-origin post", domain.RoleAdmin, "POST", active + "/disable", url.Values{"reason": {"lost"}}, []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}, 403, "sent from another site"},
		{"operator on the admin page", domain.RoleOperator, "GET", "/admin/tokens", nil, nil, 403, "needs the admin role"},
		{"admin adds a user with a short password", domain.RoleAdmin, "POST", "/admin/users", url.Values{"name": {"bob"}, "role": {"viewer"}, "password": {"short"}}, nil, 400, "at least 10 characters"},
		{"admin adds a token with a bad role", domain.RoleAdmin, "POST", "/admin/tokens", url.Values{"name": {"t"}, "role": {"root"}}, nil, 400, "unknown role"},
		{"admin removes themself", domain.RoleAdmin, "POST", "/admin/users/remove", url.Values{"name": {"p-admin"}}, nil, 409, "your own account"},
		{"audit filter with a bad action", domain.RoleViewer, "GET", "/audit?action=nope", nil, nil, 400, "no action"},
		{"unknown page", domain.RoleViewer, "GET", "/nothing", nil, nil, 404, "no page at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			rec := e.form(cookies[tt.role], tt.method, tt.path, tt.form, tt.header...)
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.text) {
				t.Fatalf("%s %s = %d; want %d with %q\n%s", tt.method, tt.path, rec.Code, tt.code, tt.text, rec.Body)
			}
			if tt.code != 303 && rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
				t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
			if strings.Contains(rec.Body.String(), "goroutine ") {
				t.Fatal("a stack trace reached the page")
			}
			if after := e.snapshot(); after != before {
				t.Fatal("a refused page request changed the database")
			}
		})
	}
}

func TestPageHeadersAndHost(t *testing.T) {
	e := newEnv(t)
	srv := New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AllowedHosts: DefaultAllowedHosts("127.0.0.1:8080")})
	for host, code := range map[string]int{"127.0.0.1:8080": 200, "localhost:8080": 200, "rebind.evil.example:8080": 421} {
		req := httptest.NewRequest("GET", "/signin", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code != code {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, code)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("security headers: %v", rec.Header())
		}
	}
}

// TestActionAndAuditExport: an action through the page is one change with
// its history, and the exported audit log verifies.
func TestActionAndAuditExport(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	rec := e.form(cookies[domain.RoleOperator], "POST", "/cards/"+cardActive+"/disable", url.Values{"reason": {"stolen"}, "comment": {"at the gym"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", rec.Code, rec.Body)
	}
	page := e.form(cookies[domain.RoleOperator], "GET", rec.Header().Get("Location"), nil).Body.String()
	for _, want := range []string{"Done: Disable. The card is now Disabled.", "Active → Disabled", "user:p-operator", "Reason: stolen", "Comment: at the gym", "Disabled on the page"} {
		if !strings.Contains(page, want) {
			t.Errorf("the card page lacks %q", want)
		}
	}
	rec = e.form(cookies[domain.RoleViewer], "GET", "/audit.jsonl", nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/x-ndjson; charset=utf-8" {
		t.Fatalf("export: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var events []storage.Event
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		var ev storage.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}
	if err := storage.VerifyChain(events); err != nil || events[len(events)-1].Action != storage.ActionCardStatus || events[len(events)-1].Reason != "stolen" {
		t.Fatalf("exported log: %v (%d events)", err, len(events))
	}
}

// TestPageChangesSucceed walks every page change that succeeds: the card
// actions from Active through Suspended, Active, Disabled, Active to
// Retired, and the admin pages' token and user changes, each leaving its
// audit event, and the made token working at once.
func TestPageChangesSucceed(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	op, admin := cookies[domain.RoleOperator], cookies[domain.RoleAdmin]
	card := "/cards/" + cardActive
	for _, step := range []struct {
		who    *http.Cookie
		action string
		values url.Values
		status string // the card's status after
	}{
		{op, "suspend", url.Values{"reason": {"leave of absence"}}, "Suspended"},
		{op, "reinstate", url.Values{"reason": {"returned"}}, "Active"},
		{op, "disable", url.Values{"reason": {"lost"}}, "Disabled"},
		{admin, "enable", url.Values{"reason": {"found"}}, "Active"},
		{admin, "retire", url.Values{"reason": {"expired"}, "serial": {"{d1ef6869-5517-42a0-8f05-16ca1a0b834d}"}}, "Retired"},
	} {
		before := len(e.events())
		rec := e.form(step.who, "POST", card+"/"+step.action, step.values)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("%s: %d %s", step.action, rec.Code, rec.Body)
		}
		page := e.form(step.who, "GET", rec.Header().Get("Location"), nil).Body.String()
		if !strings.Contains(page, "The card is now "+step.status+".") || !strings.Contains(page, step.values.Get("reason")) {
			t.Fatalf("after %s the card page says:\n%s", step.action, page)
		}
		if n := len(e.events()); n != before+1 {
			t.Fatalf("%s made %d audit events, want 1", step.action, n-before)
		}
	}

	// A token made on the page is shown once and works at once; revoked, it does not.
	rec := e.form(admin, "POST", "/admin/tokens", url.Values{"name": {"scripts"}, "role": {"operator"}})
	secret := regexp.MustCompile(`data-testid="new-secret">([^<]+)<`).FindStringSubmatch(rec.Body.String())
	if rec.Code != 200 || secret == nil {
		t.Fatalf("create token: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.store.Authenticate(secret[1]); err != nil {
		t.Fatalf("the new token: %v", err)
	}
	if page := e.form(admin, "GET", "/admin/tokens", nil).Body.String(); strings.Contains(page, secret[1]) || !strings.Contains(page, "scripts") {
		t.Fatal("the tokens page shows the secret again, or not the token")
	}
	if rec := e.form(admin, "POST", "/admin/tokens/revoke", url.Values{"name": {"scripts"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
	}
	if _, err := e.store.Authenticate(secret[1]); err == nil {
		t.Fatal("a revoked token still works")
	}

	// A user added on the page can sign in; removed, cannot.
	if rec := e.form(admin, "POST", "/admin/users", url.Values{"name": {"vera"}, "role": {"viewer"}, "password": {pagePass}}); rec.Code != 200 ||
		!strings.Contains(rec.Body.String(), "The user vera was added.") {
		t.Fatalf("add user: %d %s", rec.Code, rec.Body)
	}
	if rec := e.form(nil, "POST", "/signin", url.Values{"name": {"vera"}, "password": {pagePass}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("the new user signs in: %d", rec.Code)
	}
	if rec := e.form(admin, "POST", "/admin/users/remove", url.Values{"name": {"vera"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("remove user: %d %s", rec.Code, rec.Body)
	}
	if rec := e.form(nil, "POST", "/signin", url.Values{"name": {"vera"}, "password": {pagePass}}); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a removed user signs in: %d", rec.Code)
	}
}

func (e *env) events() []storage.Event {
	e.t.Helper()
	evs, err := e.store.Events(0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// TestPageActionAlreadyDone: a person who confirms a change that someone
// else made meanwhile is told that nothing changed, and by whom the card
// was changed; their reason and comment are kept in the history. An
// operator opening the re-enable page gets the refusal and no form.
func TestPageActionAlreadyDone(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	op := cookies[domain.RoleOperator]
	card := "/cards/" + cardActive
	if rec := e.form(op, "GET", card+"/disable", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `data-testid="confirm"`) {
		t.Fatalf("the disable page: %d", rec.Code)
	}
	// Meanwhile an admin disables the card.
	if rec := e.form(cookies[domain.RoleAdmin], "POST", card+"/disable", url.Values{"reason": {"lost"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("the admin's disable: %d %s", rec.Code, rec.Body)
	}
	before := len(e.events())
	rec := e.form(op, "POST", card+"/disable", url.Values{"reason": {"stolen"}, "comment": {"ticket 4711"}})
	if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "unchanged=disable") {
		t.Fatalf("the operator's disable: %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if n := len(e.events()); n != before+1 {
		t.Fatalf("%d events written, want one card.status.unchanged", n-before)
	}
	page := e.form(op, "GET", rec.Header().Get("Location"), nil).Body.String()
	for _, want := range []string{"Nothing changed: the card was already Disabled — by user:p-admin at 2015-07-07 23:36:21 UTC.", `class="notice warn"`,
		"Disable asked on the page: nothing changed, the card was already Disabled", "Reason: stolen", "Comment: ticket 4711"} {
		if !strings.Contains(page, want) {
			t.Errorf("the card page lacks %q", want)
		}
	}
	if strings.Contains(page, "Done:") {
		t.Error("the card page claims the operator's change was done")
	}

	rec = e.form(op, "GET", card+"/enable", nil)
	body := rec.Body.String()
	if rec.Code != http.StatusConflict || !strings.Contains(body, "You cannot re-enable this card") ||
		strings.Contains(body, `data-testid="confirm"`) || strings.Contains(body, "<form method=\"post\" class=\"stack") {
		t.Fatalf("an operator's re-enable page: %d\n%s", rec.Code, body)
	}
}

// TestEventView: events read in words, whichever format and way in; no
// internal key and no empty label reach the page.
func TestEventView(t *testing.T) {
	at := time.Date(2026, 11, 29, 16, 47, 52, 0, time.UTC)
	walkUp := &domain.Evidence{Reader: "Virtual PCD 00 00", Atr: "3b80800101", Identifier: "{c1}",
		InsertedAt: at.Add(-7 * time.Second), PressedAt: at.Add(-time.Second)}
	hub := &domain.Evidence{Reader: "ACS ACR122U", Station: "annex", Committed: at}
	tests := []struct {
		name     string
		e        storage.Event
		what     string
		change   string
		evidence string
	}{
		{"walk-up", storage.Event{Action: storage.ActionCardStatus, Actor: "station:lobby", CardAction: domain.Disable, Via: domain.ViaStation,
			OldStatus: "Active", NewStatus: "Disabled", Evidence: walkUp}, "Disabled at station lobby", "Active → Disabled",
			"read on Virtual PCD 00 00, identifier {c1}, ATR 3b80800101, inserted 16:47:45, pressed 16:47:51"},
		{"a hub's station", storage.Event{Action: storage.ActionCardStatus, Actor: "station:annex-token", CardAction: domain.Disable,
			Via: domain.ViaStation, OldStatus: "Active", NewStatus: "Disabled", Evidence: hub}, "Disabled at station annex", "Active → Disabled",
			"read on ACS ACR122U, committed at the station 16:47:52"},
		{"page re-enable", storage.Event{Action: storage.ActionCardStatus, CardAction: domain.Enable, Via: domain.ViaPage,
			OldStatus: "Disabled", NewStatus: "Active"}, "Re-enabled on the page", "Disabled → Active", ""},
		{"format 1", storage.Event{Action: storage.ActionCardStatus, OldStatus: "Suspended", NewStatus: "Active"}, "Reinstated", "Suspended → Active", ""},
		{"unchanged", storage.Event{Action: storage.ActionCardStatusUnchanged, CardAction: domain.Disable, Via: domain.ViaPage,
			OldStatus: "Disabled", NewStatus: "Disabled"}, "Disable asked on the page: nothing changed, the card was already Disabled", "Disabled (unchanged)", ""},
		{"request created", storage.Event{Action: storage.ActionRequestCreate, RequestType: "Retire"}, "Retire request created", "", ""},
		{"request abandoned", storage.Event{Action: storage.ActionRequestStatus, OldStatus: "Approved", NewStatus: "Canceled", StatusWord: "Abandoned"},
			"Request set to Canceled (asked as “Abandoned”)", "Approved → Canceled", ""},
		{"token", storage.Event{Action: storage.ActionTokenCreate, Name: "scripts", Role: "operator"}, "API token created: scripts", "operator", ""},
		{"later version", storage.Event{Action: "card.something"}, "card.something", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := eventView(tt.e)
			if v.What != tt.what || v.Change != tt.change || v.Evidence != tt.evidence {
				t.Errorf("got %q, %q, %q\nwant %q, %q, %q", v.What, v.Change, v.Evidence, tt.what, tt.change, tt.evidence)
			}
		})
	}
}
