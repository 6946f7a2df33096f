package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage/domain"
)

// TestSignInFirstRun: the sign-in page says how to make the first account
// exactly while there is none.
func TestSignInFirstRun(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		setup func()
		hint  bool
	}{
		{"no account", func() {}, true},
		{"one account", func() {
			if err := e.store.AddUser(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "ada", domain.RoleAdmin, pagePass); err != nil {
				t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			rec := e.form(nil, "GET", "/signin", nil)
			body := rec.Body.String()
			if rec.Code != http.StatusOK || strings.Contains(body, `data-testid="first-run"`) != tt.hint ||
				strings.Contains(body, "user add --data-dir ./var NAME --role admin") != tt.hint {
				t.Fatalf("GET /signin: %d; want the first-run hint %v\n%s", rec.Code, tt.hint, body)
			}
		})
	}
}

// TestNotFoundPages: a path without a page keeps the navigation for a
// signed-in person, and a missing card is said plainly.
func TestNotFoundPages(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	tests := []struct {
		name, path string
		role       domain.Role
		golden     string
		title      string
		text       string
		nav        bool
	}{
		{"unknown path, signed in", "/nothing/here", domain.RoleAdmin, "not_found_signed_in.html", "Not found", "There is no page at /nothing/here.", true},
		{"unknown path, signed out", "/nothing/here", domain.RoleNone, "", "Not found", "There is no page at /nothing/here.", false},
		{"unknown static file, signed in", "/static/nope.css", domain.RoleViewer, "", "Not found", "There is no page at /static/nope.css.", true},
		{"missing card", "/cards/00000000-0000-4000-8000-000000000000", domain.RoleViewer, "card_not_found.html", "Card not found",
			`There is no card with the id &#34;00000000-0000-4000-8000-000000000000&#34;.`, true},
		{"card id that is no GUID", "/cards/nope", domain.RoleViewer, "", "Card not found", `There is no card with the id &#34;nope&#34;.`, true},
		{"missing card's action", "/cards/00000000-0000-4000-8000-000000000000/disable", domain.RoleOperator, "", "Card not found", "There is no card", true},
		{"unknown action of a card", "/cards/" + cardActive + "/explode", domain.RoleOperator, "", "Not found", "There is no action", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.form(cookies[tt.role], "GET", tt.path, nil)
			body := rec.Body.String()
			if rec.Code != http.StatusNotFound || !strings.Contains(body, "<h1>"+tt.title+"</h1>") || !strings.Contains(body, tt.text) {
				t.Fatalf("GET %s: %d; want 404 titled %q saying %q\n%s", tt.path, rec.Code, tt.title, tt.text, body)
			}
			if strings.Contains(body, `aria-label="Main"`) != tt.nav {
				t.Errorf("GET %s: navigation shown %v, want %v", tt.path, !tt.nav, tt.nav)
			}
			if strings.Contains(body, "smartcard ") {
				t.Errorf("GET %s: the store's own words reached the page\n%s", tt.path, body)
			}
			if tt.golden != "" {
				golden(t, tt.golden, []byte(body))
			}
		})
	}
}

// TestAdminConfirmations: the list's Revoke and Remove open a question,
// which changes nothing; only its form's post does the change.
func TestAdminConfirmations(t *testing.T) {
	e := newEnv(t)
	admin := e.people()[domain.RoleAdmin]
	tests := []struct {
		name, path string
		code       int
		text       []string
	}{
		{"revoke a token", "/admin/tokens/revoke?name=operator", 200,
			[]string{"<h1>Revoke token operator?</h1>", "stop working", `action="/admin/tokens/revoke"`, `value="operator"`, `href="/admin/tokens"`}},
		{"revoke a token that is not there", "/admin/tokens/revoke?name=ghost", 404, []string{"There is no token named &#34;ghost&#34;."}},
		{"remove a user", "/admin/users/remove?name=p-viewer", 200,
			[]string{"<h1>Remove user p-viewer?</h1>", "can no longer sign in", `action="/admin/users/remove"`, `value="p-viewer"`, `href="/admin/users"`}},
		{"remove a user who is not there", "/admin/users/remove?name=ghost", 404, []string{"There is no user named &#34;ghost&#34;."}},
		{"remove yourself", "/admin/users/remove?name=p-admin", 409, []string{"you cannot remove your own account"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot()
			rec := e.form(admin, "GET", tt.path, nil)
			for _, want := range tt.text {
				if rec.Code != tt.code || !strings.Contains(rec.Body.String(), want) {
					t.Fatalf("GET %s: %d; want %d saying %q\n%s", tt.path, rec.Code, tt.code, want, rec.Body)
				}
			}
			if e.snapshot() != before {
				t.Fatal("asking changed the database")
			}
		})
	}
	// The confirmed post revokes, as before.
	if rec := e.form(admin, "POST", "/admin/tokens/revoke", url.Values{"name": {"operator"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("POST revoke: %d %s", rec.Code, rec.Body)
	}
	if rec := e.do(domain.RoleOperator, "GET", api+"/smartcards", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the revoked token still works: %d", rec.Code)
	}
}

// TestFaviconIco: a browser that asks for /favicon.ico is sent to the icon.
func TestFaviconIco(t *testing.T) {
	e := newEnv(t)
	rec := e.form(nil, "GET", "/favicon.ico", nil)
	if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/static/favicon.svg" {
		t.Fatalf("GET /favicon.ico: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec = e.form(nil, "GET", "/static/favicon.svg", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" || rec.Header().Get("Cache-Control") != "public, max-age=3600" {
		t.Fatalf("GET /static/favicon.svg: %d %v", rec.Code, rec.Header())
	}
}
