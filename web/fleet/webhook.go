package fleet

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// Webhook delivers each change to one URL as a CloudEvents 1.0 JSON event
// (structured mode), signed as the Standard Webhooks specification says:
// webhook-id (the change id, the same on every retry, for the receiver to
// deduplicate), webhook-timestamp (Unix seconds of the attempt), and
// webhook-signature "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
type Webhook struct {
	url     string
	secret  []byte
	station string
	now     func() time.Time
	client  *http.Client
}

// EventType is the CloudEvents type of a change of a card's status.
const EventType = "org.cardstop.smartcard.status.changed"

// NewWebhook checks the URL (HTTPS, or HTTP on loopback only: the body
// names cards and people) and returns the sender.
func NewWebhook(target string, secret []byte, station string) (*Webhook, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("--webhook %q: want an https:// URL", target)
	}
	if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("--webhook %q: plain http only to a loopback address; use https", target)
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("--webhook needs --webhook-secret-file with a secret of at least 16 bytes (whsec_<base64>, as Standard Webhooks writes it)")
	}
	return &Webhook{url: target, secret: secret, station: station, now: time.Now,
		client: &http.Client{Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// loopbackHost says whether h is localhost or a loopback address; a name
// that merely begins with "127." is anyone's.
func loopbackHost(h string) bool {
	ip, err := netip.ParseAddr(h)
	return h == "localhost" || (err == nil && ip.IsLoopback())
}

// ReadWebhookSecret reads a secret file: "whsec_" and base64, as Standard
// Webhooks writes secrets, or any other text taken as it is.
func ReadWebhookSecret(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--webhook-secret-file: %w", err)
	}
	s := strings.TrimSpace(string(data))
	if b64, ok := strings.CutPrefix(s, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("--webhook-secret-file %s: whsec_ is not followed by base64: %v", file, err)
		}
		return key, nil
	}
	return []byte(s), nil
}

// Event is the CloudEvents envelope.
type Event struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            EventData `json:"data"`
}

// EventData is the change.
type EventData struct {
	Smartcard    string         `json:"smartcard"`
	SerialNumber string         `json:"serialNumber"`
	Action       string         `json:"action"`
	RequestType  string         `json:"requestType"`
	From         string         `json:"from"`
	To           string         `json:"to"`
	Reason       string         `json:"reason,omitempty"`
	Comment      string         `json:"comment,omitempty"`
	Actor        string         `json:"actor"`
	Via          string         `json:"via"`
	Station      string         `json:"station"`
	Evidence     *EventEvidence `json:"evidence,omitempty"`
}

// EventEvidence is what the walk-up station saw, in the event's own
// spelling (times in UTC).
type EventEvidence struct {
	Reader       string    `json:"reader,omitempty"`
	Atr          string    `json:"atr,omitempty"`
	IdentityKind string    `json:"identityKind,omitempty"`
	Identifier   string    `json:"identifier,omitempty"`
	Inserted     time.Time `json:"inserted,omitzero"`
	Pressed      time.Time `json:"pressed,omitzero"`
}

func eventEvidence(e *domain.Evidence) *EventEvidence {
	if e == nil {
		return nil
	}
	return &EventEvidence{Reader: e.Reader, Atr: e.Atr, IdentityKind: e.IdentityKind, Identifier: e.Identifier,
		Inserted: e.InsertedAt.UTC(), Pressed: e.PressedAt.UTC()}
}

// NewEvent makes the CloudEvent of a change made at station.
func NewEvent(it storage.OutboxItem, station string) Event {
	return Event{SpecVersion: "1.0", ID: it.Change.String(), Source: "urn:cardstop:station:" + url.PathEscape(station),
		Type: EventType, Subject: it.Card.String(), Time: it.Committed.UTC(), DataContentType: "application/json",
		Data: EventData{Smartcard: it.Card.String(), SerialNumber: it.Serial, Action: string(it.Action),
			RequestType: it.RequestType.String(), From: it.From.String(), To: it.To.String(), Reason: it.Reason,
			Comment: it.Comment, Actor: it.Actor, Via: string(it.Via), Station: station, Evidence: eventEvidence(it.Evidence)}}
}

// Sign returns the webhook-signature value for a message.
func Sign(secret []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Deliver POSTs the change's event.
func (w *Webhook) Deliver(ctx context.Context, it *storage.OutboxItem, _ func(storage.OutboxItem) error) error {
	body, err := json.Marshal(NewEvent(*it, w.station))
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	id, ts := it.Change.String(), w.now().Unix()
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(w.secret, id, ts, body))
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return failure(resp, answer)
}
