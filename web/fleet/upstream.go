package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/wire"
)

// Upstream is a MIM CM-compatible service (a Cardstop hub, or the
// enterprise's MIM CM), spoken to as a client (FLEET.md §2).
type Upstream struct {
	base      string // the API base, without a trailing slash
	tokenFile string
	station   string // this station's name, sent with every change
	client    *http.Client
}

// UpstreamConfig says where the upstream is and how to trust it.
type UpstreamConfig struct {
	URL       string // the API base: https://hub:8443/CertificateManagement/api/v1.0
	TokenFile string // holds the bearer token; read at each use, so a new one needs no restart
	CAFile    string // PEM certificates to trust instead of the system's
	// Fingerprint pins the upstream's certificate: the SHA-256 of its DER
	// encoding, in hex (colons allowed), as `cardstop serve` logs its own.
	// When set, it alone decides trust (a hub's self-signed certificate).
	Fingerprint string
	Station     string // this station's name
	Timeout     time.Duration
}

// NewUpstream checks the configuration and returns the client.
func NewUpstream(c UpstreamConfig) (*Upstream, error) {
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("--upstream %q: want the API base, like https://hub:8443/CertificateManagement/api/v1.0", c.URL)
	}
	if c.TokenFile == "" {
		return nil, errors.New("--upstream needs --upstream-token-file: the file holding the station's bearer token")
	}
	if _, err := readToken(c.TokenFile); err != nil {
		return nil, err
	}
	tlsConf, err := trust(c.CAFile, c.Fingerprint)
	if err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	tr.MaxIdleConnsPerHost = 16
	return &Upstream{base: strings.TrimRight(c.URL, "/"), tokenFile: c.TokenFile, station: c.Station,
		client: &http.Client{Transport: tr, Timeout: c.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// trust builds the TLS configuration: a pinned certificate, or a CA file,
// or the system's roots.
func trust(caFile, fingerprint string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if fingerprint != "" {
		want, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(fingerprint), ":", ""))
		if err != nil || len(want) != sha256.Size {
			return nil, fmt.Errorf("--upstream-fingerprint %q: want the SHA-256 of the certificate in hex (64 digits, colons allowed)", fingerprint)
		}
		// The pin replaces the chain check: a hub's certificate is
		// self-signed, and the pin names exactly it.
		conf.InsecureSkipVerify = true
		conf.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the upstream sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(got[:], want) {
				return fmt.Errorf("the upstream's certificate has fingerprint %x, not the pinned %x", got, want)
			}
			return nil
		}
		return conf, nil
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--upstream-ca %s: no PEM certificate in it", caFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

func readToken(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--upstream-token-file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" || strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("--upstream-token-file %s: want one token on one line", file)
	}
	return tok, nil
}

// Deliver carries a change out upstream as MIM CM's documented exchange:
// a request of the change's type (with the change id as Idempotency-Key,
// and its evidence in datacollection), the card's new status under it,
// and the request completed. The request's id is saved before the card is
// changed, so that a retry after a crash carries out the same request.
func (u *Upstream) Deliver(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error {
	if it.UpstreamRequest.IsNil() {
		items := []storage.DataItem{}
		if it.Reason != "" {
			items = append(items, storage.DataItem{Name: "Reason", Value: &it.Reason})
		}
		items = append(items, storage.EvidenceItems(u.station, it.Committed, it.Evidence)...)
		dc := make([]map[string]*string, len(items))
		for i, d := range items {
			name := d.Name
			dc[i] = map[string]*string{"name": &name, "value": d.Value}
		}
		comment := it.Comment
		if comment == "" {
			comment = fmt.Sprintf("%s at station %s by %s", it.Action, u.station, it.Actor)
		}
		body, _ := json.Marshal(map[string]any{"type": it.RequestType.String(), "smartcard": it.Card.String(),
			"comment": comment, "datacollection": dc})
		resp, err := u.call(ctx, "POST", "/requests", body, it.Change.String())
		if err != nil {
			return err
		}
		id, err := requestID(resp)
		if err != nil {
			return err
		}
		saved := *it
		saved.UpstreamRequest = id
		if err := save(saved); err != nil {
			return fmt.Errorf("keeping the upstream's request %s: %w", id, err)
		}
	}
	req := "/requests/" + it.UpstreamRequest.String()
	if _, err := u.call(ctx, "PUT", req+"/smartcards/"+it.Card.String(), jsonStatus(it.To.String()), ""); err != nil {
		return err
	}
	_, err := u.call(ctx, "PUT", req, jsonStatus("Completed"), "")
	return err
}

func jsonStatus(s string) []byte {
	b, _ := json.Marshal(map[string]string{"status": s})
	return b
}

// requestID reads the new request's id from POST /requests' answer: a
// JSON string holding its URI, as MIM CM answers.
func requestID(body []byte) (guid.GUID, error) {
	var uri string
	if err := json.Unmarshal(body, &uri); err != nil {
		return guid.GUID{}, fmt.Errorf("the upstream's answer to POST /requests is not a JSON string holding the request's URI: %.100q", body)
	}
	id, err := guid.Parse(path.Base(uri))
	if err != nil {
		return guid.GUID{}, fmt.Errorf("the upstream's answer to POST /requests does not end in a request id: %.100q", uri)
	}
	return id, nil
}

// maxAnswer bounds what is read of an upstream's answer.
const maxAnswer = 1 << 20

// call makes one API call and returns the answer's body on a 2xx, else a
// *Failure (the sink answered) or another error (it did not).
func (u *Upstream) call(ctx context.Context, method, p string, body []byte, idempotencyKey string) ([]byte, error) {
	tok, err := readToken(u.tokenFile)
	if err != nil {
		return nil, &Failure{Code: http.StatusUnauthorized, Msg: err.Error()}
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.base+p, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 == 2 {
		return answer, err
	}
	return nil, failure(resp, answer)
}

// maxRetryAfter bounds the Retry-After read from an answer.
const maxRetryAfter = 24 * time.Hour

// failure reads a non-2xx answer: its message (MIM CM's JSON Message, or
// the text), and Retry-After, in seconds or as an HTTP date (RFC 9110).
func failure(resp *http.Response, answer []byte) *Failure {
	f := &Failure{Code: resp.StatusCode}
	ra := resp.Header.Get("Retry-After")
	if s, err := strconv.ParseInt(ra, 10, 64); err == nil {
		f.RetryAfter = time.Duration(min(max(s, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if at, err := http.ParseTime(ra); err == nil {
		f.RetryAfter = min(max(time.Until(at), 0), maxRetryAfter)
	}
	var m struct{ Message string }
	if json.Unmarshal(answer, &m) == nil && m.Message != "" {
		f.Msg = m.Message
	} else {
		f.Msg = strings.TrimSpace(string(answer))
	}
	if len(f.Msg) > 300 {
		f.Msg = strings.ToValidUTF8(f.Msg[:300], "") // not half a character
	}
	if f.Msg == "" {
		f.Msg = http.StatusText(resp.StatusCode)
	}
	return f
}

// Lookup finds a card upstream by its serial number or uuid (FLEET.md §3):
// GET /smartcards?cardid=, which answers the card (or, from some
// services, an array holding it). ok is false when the upstream knows no
// such card (404); an error means it did not answer as it should.
func (u *Upstream) Lookup(ctx context.Context, cardID string) (card storage.Smartcard, ok bool, err error) {
	body, err := u.call(ctx, "GET", "/smartcards?cardid="+url.QueryEscape(cardID), nil, "")
	var fail *Failure
	if errors.As(err, &fail) && fail.Code == http.StatusNotFound {
		return storage.Smartcard{}, false, nil
	}
	if err != nil {
		return storage.Smartcard{}, false, err
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' {
		body = append(append([]byte("["), t...), ']')
	}
	cards, err := wire.ReadSmartcards(bytes.NewReader(body))
	if err != nil {
		return storage.Smartcard{}, false, fmt.Errorf("the upstream's answer to a card look-up: %w", err)
	}
	want := storage.NormalizeSerial(cardID)
	for _, c := range cards {
		if storage.NormalizeSerial(c.SerialNumber) == want || c.Uuid.String() == want {
			return c.Record(), true, nil
		}
	}
	return storage.Smartcard{}, false, nil
}
