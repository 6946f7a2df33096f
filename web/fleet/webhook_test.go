package fleet_test

import (
	"bytes"
	"crypto/hmac"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/fleet"
)

// TestSign checks Sign and ReadWebhookSecret against the Standard
// Webhooks specification's example.
func TestSign(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := fleet.ReadWebhookSecret(file)
	if err != nil {
		t.Fatal(err)
	}
	got := fleet.Sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

// TestReadWebhookSecret: whsec_ and base64, or text as it is.
func TestReadWebhookSecret(t *testing.T) {
	tests := []struct {
		name, text string
		want       string // "": an error
	}{
		{name: "whsec", text: "whsec_aGVsbG8gd29ybGQgc2VjcmV0IQ==\n", want: "hello world secret!"},
		{name: "text", text: "  a long shared secret text \n", want: "a long shared secret text"},
		{name: "whsec not base64", text: "whsec_%%%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(file, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := fleet.ReadWebhookSecret(file)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "--webhook-secret-file") {
					t.Errorf("ReadWebhookSecret = %q, %v; want an error", got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("ReadWebhookSecret = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := fleet.ReadWebhookSecret(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing secret file is read")
	}
}

// TestWebhookDelivery: a receiver verifies a delivered event as Standard
// Webhooks says, and finds the CloudEvent's fields.
func TestWebhookDelivery(t *testing.T) {
	type delivery struct {
		header http.Header
		body   []byte
	}
	got := make(chan delivery, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header, body}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	send, sink := newWebhookSink(t, srv)
	st, cards := openOutbox(t, 1, sink)
	change(t, st, cards[0])
	items, err := st.OutboxPending(sink, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	it := items[0]
	f := fleet.New(st, map[string]fleet.Sender{sink: send}, fast)
	start(t, f)
	var d delivery
	select {
	case d = <-got:
	case <-time.After(patience):
		t.Fatal("no event arrived")
	}

	// What a receiver does.
	id, stamp := d.header.Get("webhook-id"), d.header.Get("webhook-timestamp")
	ts, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		t.Fatalf("webhook-timestamp %q: %v", stamp, err)
	}
	if age := time.Since(time.Unix(ts, 0)); age < -5*time.Minute || age > 5*time.Minute {
		t.Errorf("webhook-timestamp %s is %v away from now", stamp, age)
	}
	want := fleet.Sign(testSecret, id, ts, d.body)
	found := false
	for _, sig := range strings.Fields(d.header.Get("webhook-signature")) {
		found = found || hmac.Equal([]byte(sig), []byte(want))
	}
	if !found {
		t.Errorf("webhook-signature %q does not verify", d.header.Get("webhook-signature"))
	}
	if ct := d.header.Get("Content-Type"); ct != "application/cloudevents+json" {
		t.Errorf("Content-Type %q", ct)
	}

	var e map[string]any
	if err := json.Unmarshal(d.body, &e); err != nil {
		t.Fatal(err)
	}
	fields := map[string]any{"specversion": "1.0", "id": it.Change.String(), "type": fleet.EventType,
		"source": "urn:cardstop:station:s1", "subject": cards[0].String(),
		"time": it.Committed.UTC().Format(time.RFC3339Nano), "datacontenttype": "application/json"}
	for k, v := range fields {
		if e[k] != v {
			t.Errorf("the event's %s is %v, want %v", k, e[k], v)
		}
	}
	if id != it.Change.String() {
		t.Errorf("webhook-id %s, want the change %s", id, it.Change)
	}
	data, _ := e["data"].(map[string]any)
	if data["to"] != "Disabled" || data["from"] != "Active" || data["smartcard"] != cards[0].String() || data["reason"] != "lost" {
		t.Errorf("the event's data %v", data)
	}
	eventually(t, "delivered", func() bool { return status(f).Delivered == 1 })
}

// TestEventGolden: the CloudEvent of a change, exactly.
func TestEventGolden(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 30, 15, 123456789, time.FixedZone("CET", 3600))
	card := guid.GUID{0: 1, 6: 0x40, 8: 0x80, 15: 1}
	it := storage.OutboxItem{Seq: 7, Sink: storage.SinkUpstream,
		Change: guid.GUID{0: 0xc0, 6: 0x40, 8: 0x80, 15: 0xee}, Card: card, Serial: "{AA01}",
		Action: domain.Disable, RequestType: domain.TypeDisable, From: domain.CardActive, To: domain.CardDisabled,
		Reason: "lost", Comment: "at the front desk", Actor: "station", Via: domain.ViaStation,
		Evidence: &domain.Evidence{Reader: "ACS ACR39U 00 00", Atr: "3BFE1800", Identifier: "0102030405060708",
			InsertedAt: at.Add(-3 * time.Second), PressedAt: at.Add(-time.Second)},
		Committed: at, Attempts: 2, Problem: "503: busy"}
	got, err := json.MarshalIndent(fleet.NewEvent(it, "front desk"), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "event.json")
	want, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		_ = os.WriteFile(path+".actual", got, 0o644)
		t.Errorf("the event differs from %s (%v); see %s.actual\n%s", path, err, path, got)
	}
}

// TestNewWebhookRefuses: plain http only on loopback, and a real secret.
func TestNewWebhookRefuses(t *testing.T) {
	tests := []struct {
		url    string
		secret []byte
		ok     bool
	}{
		{url: "https://siem.example/hook", secret: testSecret, ok: true},
		{url: "http://127.0.0.1:8080/hook", secret: testSecret, ok: true},
		{url: "http://127.1.2.3/hook", secret: testSecret, ok: true},
		{url: "http://[::1]:8080/hook", secret: testSecret, ok: true},
		{url: "http://localhost/hook", secret: testSecret, ok: true},
		{url: "http://siem.example/hook", secret: testSecret},
		{url: "http://10.0.0.1/hook", secret: testSecret},
		{url: "http://127.attacker.example/hook", secret: testSecret},
		{url: "http://127.0.0.1.nip.io/hook", secret: testSecret},
		{url: "ftp://siem.example/hook", secret: testSecret},
		{url: "https:///hook", secret: testSecret},
		{url: "siem.example/hook", secret: testSecret},
		{url: "https://siem.example/hook", secret: []byte("short")},
		{url: "https://siem.example/hook"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			w, err := fleet.NewWebhook(tt.url, tt.secret, "s1")
			if tt.ok != (err == nil) {
				t.Errorf("NewWebhook(%q, %d bytes) = %v, %v", tt.url, len(tt.secret), w, err)
			}
			if err != nil && !strings.Contains(err.Error(), "--webhook") {
				t.Errorf("the error %q does not name the flag", err)
			}
		})
	}
}
