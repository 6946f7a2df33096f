package fleet_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/fleet"
)

// call is one call a fake MIM CM received.
type call struct {
	Method, Path, Auth, Key, ContentType string
	Body                                 map[string]any
}

// mimcm is a fake MIM CM that takes the disable exchange, recording each
// call. hangUp, when set, is asked of each call whether to hang up on it
// instead of answering.
type mimcm struct {
	t       *testing.T
	request guid.GUID // the request it makes
	hangUp  func(n int, c call) bool

	mu    sync.Mutex
	calls []call
}

func (m *mimcm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := call{Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, apiBase), Auth: r.Header.Get("Authorization"),
		Key: r.Header.Get("Idempotency-Key"), ContentType: r.Header.Get("Content-Type")}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &c.Body); err != nil {
		m.t.Errorf("%s %s: the body is not a JSON object: %v: %s", r.Method, r.URL, err, body)
	}
	m.mu.Lock()
	m.calls = append(m.calls, c)
	n := len(m.calls)
	m.mu.Unlock()
	if m.hangUp != nil && m.hangUp(n, c) {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	if c.Method == "POST" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode("https://cm.example" + apiBase + "/requests/" + m.request.String())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *mimcm) received() []call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]call(nil), m.calls...)
}

// writeToken writes a token file and returns its name.
func writeToken(t *testing.T, file, token string) string {
	t.Helper()
	if file == "" {
		file = filepath.Join(t.TempDir(), "token")
	}
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestUpstreamExchange: a change goes upstream as MIM CM's three calls, in
// order, with the credential, the Idempotency-Key and the evidence; a
// retry after the request was made carries out the same request, with the
// token the file holds then.
func TestUpstreamExchange(t *testing.T) {
	tests := []struct {
		name   string
		hangUp func(n int, c call) bool
		want   []string // method and path of each call; the request is R, the card C
		tokens []string // the Authorization of each call
	}{
		{name: "at once",
			want:   []string{"POST /requests", "PUT /requests/R/smartcards/C", "PUT /requests/R"},
			tokens: []string{"first", "first", "first"}},
		{name: "the first PUT hangs up once",
			hangUp: func(n int, c call) bool { return n == 2 },
			want:   []string{"POST /requests", "PUT /requests/R/smartcards/C", "PUT /requests/R/smartcards/C", "PUT /requests/R"},
			tokens: []string{"first", "first", "second", "second"}},
		{name: "the POST's answer is lost",
			hangUp: func(n int, c call) bool { return n == 1 },
			want:   []string{"POST /requests", "POST /requests", "PUT /requests/R/smartcards/C", "PUT /requests/R"},
			tokens: []string{"first", "second", "second", "second"}},
		{name: "the last PUT hangs up once",
			hangUp: func(n int, c call) bool { return n == 3 },
			want:   []string{"POST /requests", "PUT /requests/R/smartcards/C", "PUT /requests/R", "PUT /requests/R/smartcards/C", "PUT /requests/R"},
			tokens: []string{"first", "first", "first", "second", "second"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := writeToken(t, "", "first")
			m := &mimcm{t: t, request: guid.New()}
			if tt.hangUp != nil {
				// The token is replaced as the sink hangs up: the
				// retry must read it anew.
				m.hangUp = func(n int, c call) bool {
					h := tt.hangUp(n, c)
					if h {
						writeToken(t, token, "second")
					}
					return h
				}
			}
			srv := httptest.NewServer(m)
			t.Cleanup(srv.Close)
			up, err := fleet.NewUpstream(fleet.UpstreamConfig{URL: srv.URL + apiBase + "/", TokenFile: token, Station: "s1"})
			if err != nil {
				t.Fatal(err)
			}
			st, cards := openOutbox(t, 1, storage.SinkUpstream)
			change(t, st, cards[0])
			items, err := st.OutboxPending(storage.SinkUpstream, 0, 10)
			if err != nil || len(items) != 1 {
				t.Fatalf("pending %v, %v", items, err)
			}
			it := items[0]
			f := fleet.New(st, map[string]fleet.Sender{storage.SinkUpstream: up}, fast)
			stop := start(t, f)
			eventually(t, "delivered", func() bool { p, _ := counts(t, st, storage.SinkUpstream); return p == 0 })
			stop()

			calls := m.received()
			var got, auth []string
			for _, c := range calls {
				p := strings.ReplaceAll(c.Path, m.request.String(), "R")
				got = append(got, c.Method+" "+strings.ReplaceAll(p, cards[0].String(), "C"))
				auth = append(auth, c.Auth)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("calls\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i, tok := range tt.tokens {
				if auth[i] != "Bearer "+tok {
					t.Errorf("call %d (%s) has Authorization %q, want Bearer %s", i, got[i], auth[i], tok)
				}
			}
			for _, c := range calls {
				if c.ContentType != "application/json" {
					t.Errorf("%s %s has Content-Type %q", c.Method, c.Path, c.ContentType)
				}
				switch {
				case c.Method == "POST":
					if c.Key != it.Change.String() {
						t.Errorf("POST has Idempotency-Key %q, want the change %s", c.Key, it.Change)
					}
					checkPostBody(t, c.Body, it)
				case strings.Contains(c.Path, "/smartcards/"):
					if c.Body["status"] != "Disabled" || len(c.Body) != 1 {
						t.Errorf("%s %s: body %v, want the card's status Disabled", c.Method, c.Path, c.Body)
					}
				default:
					if c.Body["status"] != "Completed" || len(c.Body) != 1 {
						t.Errorf("%s %s: body %v, want the request Completed", c.Method, c.Path, c.Body)
					}
				}
			}
			if s := status(f); s.State != fleet.StateOK || s.Delivered != 1 {
				t.Errorf("status %+v, want ok with one delivered", s)
			}
		})
	}
}

// checkPostBody checks POST /requests' body: the request for the change,
// with its reason and the station's evidence.
func checkPostBody(t *testing.T, body map[string]any, it storage.OutboxItem) {
	t.Helper()
	if body["type"] != "Disable" || body["smartcard"] != it.Card.String() || body["comment"] == "" {
		t.Errorf("POST body %v: want a Disable request for card %s with a comment", body, it.Card)
	}
	dc, _ := body["datacollection"].([]any)
	values := map[string]any{}
	for _, d := range dc {
		d, _ := d.(map[string]any)
		name, _ := d["name"].(string)
		values[name] = d["value"]
	}
	want := map[string]any{"Reason": "lost", storage.DataStation: "s1",
		storage.DataCommitted: it.Committed.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")}
	for name, v := range want {
		if values[name] != v {
			t.Errorf("datacollection %s is %v, want %v (all: %v)", name, values[name], v, dc)
		}
	}
}

// TestUpstreamTrust: the upstream's certificate is trusted by its pin, or
// by the CA file, or not at all; one not trusted is a sink that is away.
func TestUpstreamTrust(t *testing.T) {
	m := &mimcm{t: t, request: guid.New()}
	srv := httptest.NewTLSServer(m)
	t.Cleanup(srv.Close)
	pin := sha256.Sum256(srv.Certificate().Raw)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	colons := func(b []byte) string {
		h := strings.ToUpper(hex.EncodeToString(b))
		var parts []string
		for i := 0; i < len(h); i += 2 {
			parts = append(parts, h[i:i+2])
		}
		return strings.Join(parts, ":")
	}
	tests := []struct {
		name            string
		ca, fingerprint string
		trusted         bool
	}{
		{name: "pinned", fingerprint: hex.EncodeToString(pin[:]), trusted: true},
		{name: "pinned with colons", fingerprint: colons(pin[:]), trusted: true},
		{name: "wrong pin", fingerprint: strings.Repeat("ab", 32)},
		{name: "wrong pin, right CA", ca: ca, fingerprint: strings.Repeat("ab", 32)},
		{name: "CA file", ca: ca, trusted: true},
		{name: "system roots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := fleet.NewUpstream(fleet.UpstreamConfig{URL: srv.URL + apiBase, TokenFile: writeToken(t, "", "first"),
				CAFile: tt.ca, Fingerprint: tt.fingerprint, Station: "s1"})
			if err != nil {
				t.Fatal(err)
			}
			st, cards := openOutbox(t, 1, storage.SinkUpstream)
			change(t, st, cards[0])
			f := fleet.New(st, map[string]fleet.Sender{storage.SinkUpstream: up}, fast)
			start(t, f)
			if tt.trusted {
				eventually(t, "delivered", func() bool { return status(f).Delivered == 1 })
				return
			}
			eventually(t, "unreachable", func() bool { return status(f).State == fleet.StateUnreachable })
			if s := status(f); !strings.Contains(s.Problem, "certificate") {
				t.Errorf("status %+v: want the certificate named", s)
			}
			if p, parked := counts(t, st, storage.SinkUpstream); p != 1 || parked != 0 {
				t.Errorf("%d pending, %d parked; want the change kept pending", p, parked)
			}
		})
	}
}

// TestNewUpstreamRefuses: a configuration that cannot work is refused at
// the start.
func TestNewUpstreamRefuses(t *testing.T) {
	dir := t.TempDir()
	token := writeToken(t, "", "first")
	empty := filepath.Join(dir, "empty")
	two := filepath.Join(dir, "two")
	notPEM := filepath.Join(dir, "ca.pem")
	for file, text := range map[string]string{empty: "\n", two: "a b\n", notPEM: "not a certificate"} {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		c    fleet.UpstreamConfig
		want string
	}{
		{name: "no URL", c: fleet.UpstreamConfig{TokenFile: token}, want: "--upstream"},
		{name: "no scheme", c: fleet.UpstreamConfig{URL: "hub:8443/api", TokenFile: token}, want: "--upstream"},
		{name: "ftp", c: fleet.UpstreamConfig{URL: "ftp://hub/api", TokenFile: token}, want: "--upstream"},
		{name: "no host", c: fleet.UpstreamConfig{URL: "https:///api", TokenFile: token}, want: "--upstream"},
		{name: "not a URL", c: fleet.UpstreamConfig{URL: "https://hub:port/%zz", TokenFile: token}, want: "--upstream"},
		{name: "no token file", c: fleet.UpstreamConfig{URL: "https://hub/api"}, want: "--upstream-token-file"},
		{name: "missing token file", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: filepath.Join(dir, "none")}, want: "--upstream-token-file"},
		{name: "empty token file", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: empty}, want: "--upstream-token-file"},
		{name: "two tokens", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: two}, want: "--upstream-token-file"},
		{name: "short pin", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: token, Fingerprint: "abcd"}, want: "--upstream-fingerprint"},
		{name: "pin not hex", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: token, Fingerprint: strings.Repeat("zz", 32)}, want: "--upstream-fingerprint"},
		{name: "missing CA file", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: token, CAFile: filepath.Join(dir, "none")}, want: "--upstream-ca"},
		{name: "CA file not PEM", c: fleet.UpstreamConfig{URL: "https://hub/api", TokenFile: token, CAFile: notPEM}, want: "--upstream-ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, err := fleet.NewUpstream(tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewUpstream(%+v) = %v, %v; want an error naming %s", tt.c, up, err, tt.want)
			}
		})
	}
}
