package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBadInputChangesNothing feeds bad input through every door: import
// files, the configuration, the REST API and the page's forms. Each gets a
// clear error and leaves the cards, the requests and the audit log as
// they were (compared through export and the audit log).
func TestBadInputChangesNothing(t *testing.T) {
	dir := t.TempDir()
	_, admin, _ := cardstop(t, "", "token", "create", "--data-dir", dir, "--role", "admin", "--name", "admin")
	admin = strings.TrimSpace(admin)
	_, viewer, _ := cardstop(t, "", "token", "create", "--data-dir", dir, "--role", "viewer", "--name", "viewer")
	viewer = strings.TrimSpace(viewer)
	cardstop(t, "", "import", "--data-dir", dir, examples)
	if code, _, stderr := cardstop(t, "a long passphrase\n", "user", "add", "--data-dir", dir, "ada", "--role", "admin"); code != 0 {
		t.Fatal(stderr)
	}
	const active, assigned = "438d1b30-f3b4-4bed-85fa-285e08605ba7", "17cf063d-e337-4aa9-a822-346554ddd3c9"

	offline := func() string {
		_, cards, _ := cardstop(t, "", "export", "--data-dir", dir)
		_, log, _ := cardstop(t, "", "audit", "export", "--data-dir", dir)
		return cards + log
	}
	file := func(name, text string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	card := func(extra string) string {
		return `[{"Uuid":"11111111-2222-4333-8444-555555555555","SerialNumber":"{aaaaaaaa-0000-4000-8000-000000000000}"` + extra + `}]`
	}
	// A wrong --data-dir: commands that only read say so and create nothing.
	missing := filepath.Join(t.TempDir(), "docs")
	cli := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"import: not JSON", []string{"import", "--data-dir", dir, file("a.json", "[{")}, 1, "not a JSON array"},
		{"import: unknown key", []string{"import", "--data-dir", dir, file("b.json", card(`,"Stauts":3`))}, 1, `unknown key "Stauts"`},
		{"import: bad GUID", []string{"import", "--data-dir", dir, file("c.json", `[{"Uuid":"nope","SerialNumber":"x"}]`)}, 1, "uuid must be a GUID"},
		{"import: bad status", []string{"import", "--data-dir", dir, file("d.json", card(`,"Status":9`))}, 1, "unknown smartcard status"},
		{"import: no serial", []string{"import", "--data-dir", dir, file("e.json", `[{"Uuid":"11111111-2222-4333-8444-555555555555"}]`)}, 1, `"serialnumber" is required`},
		{"import: card exists", []string{"import", "--data-dir", dir, examples}, 1, "already exists"},
		{"import: serial taken", []string{"import", "--data-dir", dir, file("f.json", `[{"Uuid":"11111111-2222-4333-8444-555555555555","SerialNumber":"{D1EF6869-5517-42A0-8F05-16CA1A0B834D}"}]`)}, 1, "already has the serial number"},
		{"import: second card bad", []string{"import", "--data-dir", dir, file("g.json", `[{"Uuid":"11111111-2222-4333-8444-555555555555","SerialNumber":"{x1}"},{"Uuid":"x"}]`)}, 1, "record 2"},
		{"import: CSV unknown column", []string{"import", "--data-dir", dir, file("h.csv", "Uuid,Serial\n1,2\n")}, 1, `unknown column "serial"`},
		{"import: CSV bad quote", []string{"import", "--data-dir", dir, file("i.csv", "Uuid,SerialNumber\n\"11111111-2222-4333-8444-555555555555,x\n")}, 1, "line 2"},
		{"import: empty file", []string{"import", "--data-dir", dir, file("j.json", "")}, 1, "empty"},
		{"import: trailing data", []string{"import", "--data-dir", dir, file("k.json", card("")+"]")}, 1, "more than one JSON value"},
		{"config: unknown key", []string{"token", "create", "--data-dir", dir, "--config", file("a.toml", "lisen = \":8443\"\n"), "--role", "admin", "--name", "x"}, 2, `unknown key "lisen"`},
		{"config: bad duration", []string{"serve", "--data-dir", dir, "--config", file("b.toml", "confirm-window = \"soon\"\n")}, 2, "confirm-window"},
		{"config: wrong type", []string{"serve", "--data-dir", dir, "--config", file("c.toml", "listen = 1.5\n")}, 2, "must be a string"},
		{"config: not TOML", []string{"serve", "--data-dir", dir, "--config", file("d.toml", "listen = = 1\n")}, 2, "line 1"},
		{"config: missing file", []string{"serve", "--data-dir", dir, "--config", filepath.Join(dir, "none.toml")}, 2, "no such file"},
		{"config: bad panel", []string{"serve", "--data-dir", dir, "--panel", "leds"}, 2, "--panel must be"},
		{"config: bad listen", []string{"serve", "--data-dir", dir, "--listen", "nowhere"}, 1, "missing port"},
		{"config: bad role", []string{"token", "create", "--data-dir", dir, "--role", "root", "--name", "x"}, 2, `unknown role "root"`},
		{"no database: export", []string{"export", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: token list", []string{"token", "list", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: user list", []string{"user", "list", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: audit export", []string{"audit", "export", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: audit verify", []string{"audit", "verify", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: backup", []string{"backup", "--data-dir", missing, filepath.Join(dir, "b.db")}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: backup to stdout", []string{"backup", "--data-dir", missing, "-"}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: check", []string{"check", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: token revoke", []string{"token", "revoke", "--data-dir", missing, "x"}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: user remove", []string{"user", "remove", "--data-dir", missing, "x"}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: outbox list", []string{"outbox", "list", "--data-dir", missing}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: outbox retry", []string{"outbox", "retry", "--data-dir", missing, "1"}, 1, "no database at " + missing + " (is --data-dir right?)"},
		{"no database: outbox drop", []string{"outbox", "drop", "--data-dir", missing, "1"}, 1, "no database at " + missing + " (is --data-dir right?)"},
	}
	before := offline()
	for _, tt := range cli {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cardstop(t, "", tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "goroutine ") {
				t.Fatalf("exit %d, %q; want exit %d and %q", code, stderr, tt.code, tt.want)
			}
			if after := offline(); after != before {
				t.Fatal("the bad input changed the database")
			}
			if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a command made %s: %v", missing, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "b.db")); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("backup of no database wrote a file")
			}
		})
	}

	srv := startServer(t, dir)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func(name string) {
		resp, err := browser.PostForm(srv.base+"/signin", url.Values{"name": {name}, "password": {"a long passphrase"}})
		if err != nil || resp.StatusCode != 303 {
			t.Fatalf("sign in as %s: %v %v", name, resp, err)
		}
		resp.Body.Close()
	}
	signIn("ada")
	online := func() string {
		_, cards := srv.call(t, admin, "GET", "/CertificateManagement/api/v1.0/smartcards", "")
		_, reqs := srv.call(t, admin, "GET", "/CertificateManagement/api/v1.0/requests", "")
		resp, err := browser.Get(srv.base + "/audit.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		log, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// Signing in is itself an audited change; compare the card and request events.
		var kept []string
		for _, l := range strings.Split(string(log), "\n") {
			if !strings.Contains(l, `"Action":"user.sign`) {
				kept = append(kept, l)
			}
		}
		return cards + reqs + strings.Join(kept, "\n")
	}
	_, retire := srv.call(t, admin, "POST", "/CertificateManagement/api/v1.0/requests", `{"type":"Retire","smartcard":"`+assigned+`"}`)
	retireReq := strings.Trim(strings.TrimPrefix(strings.Trim(retire, `"`), "api/v1.0/requests/"), `"`)
	srv.call(t, admin, "PUT", "/CertificateManagement/api/v1.0/requests/"+retireReq+"/smartcards/"+assigned, `{"status":"Retired"}`)
	_, dis := srv.call(t, admin, "POST", "/CertificateManagement/api/v1.0/requests", `{"type":"Disable","smartcard":"`+active+`"}`)
	disReq := strings.Trim(strings.TrimPrefix(strings.Trim(dis, `"`), "api/v1.0/requests/"), `"`)
	apiPath := "/CertificateManagement/api/v1.0/requests/" + disReq + "/smartcards/" + active

	type httpRow struct {
		name string
		do   func() (*http.Response, error)
		code int
		want string
	}
	api := func(token, method, path, ctype, body string) func() (*http.Response, error) {
		return func() (*http.Response, error) {
			req, _ := http.NewRequest(method, srv.base+path, strings.NewReader(body))
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			return http.DefaultClient.Do(req)
		}
	}
	form := func(path string, v url.Values, header ...string) func() (*http.Response, error) {
		return func() (*http.Response, error) {
			req, _ := http.NewRequest("POST", srv.base+path, strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(header); i += 2 {
				if header[i] == "Host" {
					req.Host = header[i+1]
				} else {
					req.Header.Set(header[i], header[i+1])
				}
			}
			return browser.Do(req)
		}
	}
	const js = "application/json"
	rows := []httpRow{
		{"api: no credential", api("", "PUT", apiPath, js, `{"status":"Disabled"}`), 401, "authentication required"},
		{"api: wrong token", api("cst_nope", "PUT", apiPath, js, `{"status":"Disabled"}`), 401, "not valid"},
		{"api: viewer changes", api(viewer, "PUT", apiPath, js, `{"status":"Disabled"}`), 403, "operator role"},
		{"api: malformed JSON", api(admin, "PUT", apiPath, js, `{"status":`), 400, "not valid JSON"},
		{"api: unknown key", api(admin, "PUT", apiPath, js, `{"stauts":"Disabled"}`), 400, "this takes only: status"},
		{"api: unknown status", api(admin, "PUT", apiPath, js, `{"status":"Gone"}`), 400, "unknown smartcard status"},
		{"api: wrong content type", api(admin, "PUT", apiPath, "text/plain", `{"status":"Disabled"}`), 415, "Content-Type: application/json"},
		{"api: body too large", api(admin, "PUT", apiPath, js, `{"status":"`+strings.Repeat("D", 70000)+`"}`), 413, "64 KiB"},
		{"api: bad GUID in the path", api(admin, "PUT", "/CertificateManagement/api/v1.0/requests/nope/smartcards/"+active, js, `{"status":"Disabled"}`), 400, "must be a GUID"},
		{"api: unknown card", api(admin, "PUT", "/CertificateManagement/api/v1.0/requests/"+disReq+"/smartcards/00000000-0000-4000-8000-000000000009", js, `{"status":"Disabled"}`), 404, "not found"},
		{"api: type does not allow the status", api(admin, "PUT", apiPath, js, `{"status":"Suspended"}`), 409, "a Disable request can set"},
		{"api: retired card", api(admin, "POST", "/CertificateManagement/api/v1.0/requests", js, `{"type":"Disable","smartcard":"`+assigned+`"}`), 409, "Retired, which is final"},
		{"api: unsupported type", api(admin, "POST", "/CertificateManagement/api/v1.0/requests", js, `{"type":"Enroll"}`), 400, "does not carry out Enroll"},
		{"page: cross-origin post", form("/cards/"+active+"/disable", url.Values{"reason": {"lost"}}, "Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"), 403, "from another site"},
		{"page: foreign host", form("/cards/"+active+"/disable", url.Values{"reason": {"lost"}}, "Host", "rebind.evil.example"), 421, "does not answer to the name"},
		{"page: reason not in the list", form("/cards/"+active+"/disable", url.Values{"reason": {"bored"}}), 400, "Choose a reason"},
		{"page: comment too long", form("/cards/"+active+"/disable", url.Values{"reason": {"lost"}, "comment": {strings.Repeat("c", 1100)}}), 400, "longer than 1024"},
		{"page: wrong serial to retire", form("/cards/"+active+"/retire", url.Values{"reason": {"expired"}, "serial": {"{bad}"}}), 400, "not this card"},
		{"page: retired card", form("/cards/"+assigned+"/disable", url.Values{"reason": {"lost"}}), 409, "Retired"},
		{"page: unknown action", form("/cards/"+active+"/explode", url.Values{}), 404, "no action"},
		{"page: short password", form("/admin/users", url.Values{"name": {"bob"}, "role": {"viewer"}, "password": {"short"}}), 400, "at least 10 characters"},
		{"page: bad token name", form("/admin/tokens", url.Values{"name": {"no spaces please"}, "role": {"viewer"}}), 400, "token name"},
		{"page: form too large", form("/cards/"+active+"/disable", url.Values{"reason": {"lost"}, "comment": {strings.Repeat("c", 70000)}}), 413, "larger than the limit of 64 KiB"},
	}
	before = online()
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.do()
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code || !strings.Contains(string(body), tt.want) || strings.Contains(string(body), "goroutine ") {
				t.Fatalf("%d %s; want %d with %q", resp.StatusCode, body, tt.code, tt.want)
			}
			if after := online(); after != before {
				t.Fatal("the bad input changed the database")
			}
		})
	}
	if n := len(cli) + len(rows); n < 40 {
		t.Fatalf("only %d bad inputs", n)
	}

	// No secret that crossed the wire, good or bad, is in the log.
	secrets := []string{admin, viewer, "a long passphrase", "cst_nope"}
	base, _ := url.Parse(srv.base)
	for _, c := range jar.Cookies(base) {
		secrets = append(secrets, c.Value)
	}
	srv.stop(t)
	log := srv.log.String()
	if !strings.Contains(log, `"msg":"http"`) {
		t.Fatal("serve logged no requests")
	}
	for _, secret := range secrets {
		if secret == "" || strings.Contains(log, secret) {
			t.Errorf("the log holds a secret (%.8s...)", secret)
		}
	}
}
