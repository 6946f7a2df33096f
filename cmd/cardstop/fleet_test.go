package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader/pcsc/pcscdtest"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/fleet"
)

const apiPath = "/CertificateManagement/api/v1.0"

// fleetCard is card i of the fleet test: every station and the hub know
// cards 0-199; fleetHubOnly is known to the hub alone.
func fleetCard(i int) storage.Smartcard {
	id := guid.GUID{0: 0xf1, 1: byte(i >> 8), 2: byte(i), 6: 0x40, 8: 0x80, 15: 0x01}
	return storage.Smartcard{Uuid: id, SerialNumber: "{" + id.String() + "}", Status: domain.CardActive}
}

const (
	fleetCards   = 200
	fleetHubOnly = 999
)

// fleetSite is a hub and its stations, real processes on loopback.
type fleetSite struct {
	hub      *server
	hubDir   string
	hubAddr  string // host:port, kept across restarts
	hubAdmin string
	secret   []byte
	hooks    *hookReceiver
	stations map[string]*fleetStation
	tokens   map[string]string // the hub's station tokens, by station
	walkUp   guid.GUID         // the card disabled at the walk-up station, once it was
	// root is the whole test: processes started in a subtest run on
	// after it, so they are stopped when the whole test ends.
	root *testing.T
}

type fleetStation struct {
	root  *testing.T
	srv   *server
	dir   string
	args  []string
	admin string // an admin token of the station's own API
}

// seedFleetDB imports cards into a new database in dir, lets more
// (tokens, users) be added while it is open, and returns an admin token.
func seedFleetDB(t *testing.T, dir string, cards []storage.Smartcard, more func(*storage.Store, domain.Origin) error) string {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := domain.Origin{Actor: "test", Role: domain.RoleAdmin}
	if err := st.ImportCards(context.Background(), o, cards); err != nil {
		t.Fatal(err)
	}
	tok, _, err := st.CreateToken(context.Background(), o, "admin", domain.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if more != nil {
		if err := more(st, o); err != nil {
			t.Fatal(err)
		}
	}
	return tok
}

// The stations the hub has tokens for, and the page's user at each.
var fleetStations = []string{"lobby", "garage"}

const (
	clerk         = "clerk"
	clerkPassword = "a passphrase for the page"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newFleetSite starts the hub (cards 0-199 and the hub-only card) and the
// webhook receiver; stations are added with addStation.
func newFleetSite(t *testing.T) *fleetSite {
	t.Helper()
	var cards []storage.Smartcard
	for i := range fleetCards {
		cards = append(cards, fleetCard(i))
	}
	f := &fleetSite{hubDir: t.TempDir(), hubAddr: freeAddr(t), stations: map[string]*fleetStation{}, tokens: map[string]string{}, root: t}
	f.hubAdmin = seedFleetDB(t, f.hubDir, append(cards, fleetCard(fleetHubOnly)), func(st *storage.Store, o domain.Origin) error {
		for _, name := range fleetStations {
			tok, _, err := st.CreateToken(context.Background(), o, name, domain.RoleStation)
			if err != nil {
				return err
			}
			f.tokens[name] = tok
		}
		return nil
	})
	f.secret = make([]byte, 24)
	rand.Read(f.secret)
	f.hooks = newHookReceiver(t, f.secret)
	f.startHub(t)
	return f
}

func (f *fleetSite) startHub(t *testing.T) {
	t.Helper()
	f.hub = startServer(f.root, f.hubDir, "--listen", f.hubAddr, "--panel", "simulated", "--reader", "no such reader")
	waitReady(t, f.hub, time.Minute)
}

// addStation starts a station with its own copy of cards 0-199 and a
// user for the page, delivering to the hub with the hub's token for it
// (or token, when not empty) and to the webhook receiver. reader names
// the PC/SC reader it watches.
func (f *fleetSite) addStation(t *testing.T, name, token, reader string) *fleetStation {
	t.Helper()
	dir := t.TempDir()
	var cards []storage.Smartcard
	for i := range fleetCards {
		cards = append(cards, fleetCard(i))
	}
	s := &fleetStation{root: f.root, dir: dir, admin: seedFleetDB(t, dir, cards, func(st *storage.Store, o domain.Origin) error {
		return st.AddUser(context.Background(), o, clerk, domain.RoleOperator, clerkPassword)
	})}
	if token == "" {
		token = f.tokens[name]
	}
	tokenFile := filepath.Join(dir, "upstream.token")
	secretFile := filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte("whsec_"+base64.StdEncoding.EncodeToString(f.secret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"--station-name", name, "--panel", "simulated", "--reader", reader, "--status-changes-per-minute", "0",
		"--upstream", "http://" + f.hubAddr + apiPath, "--upstream-token-file", tokenFile,
		"--webhook", f.hooks.srv.URL + "/hook", "--webhook-secret-file", secretFile}
	s.start(t)
	f.stations[name] = s
	return s
}

func (s *fleetStation) start(t *testing.T) {
	t.Helper()
	s.srv = startServer(s.root, s.dir, s.args...)
	waitReady(t, s.srv, time.Minute)
}

// disableVia disables a card through a station's MIM CM API, as a
// security team's script does.
func disableVia(t *testing.T, s *server, token string, card guid.GUID) {
	t.Helper()
	changeVia(t, s, token, card, "Disable", "Disabled")
}

// changeVia carries out a request of type typ that sets the card to status.
func changeVia(t *testing.T, s *server, token string, card guid.GUID, typ, status string) {
	t.Helper()
	code, body := s.call(t, token, "POST", apiPath+"/requests", `{"type":"`+typ+`","smartcard":"`+card.String()+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create a request: %d %s", code, body)
	}
	var uri string
	if err := json.Unmarshal([]byte(body), &uri); err != nil {
		t.Fatal(err)
	}
	id := uri[strings.LastIndex(uri, "/")+1:]
	if code, body = s.call(t, token, "PUT", apiPath+"/requests/"+id+"/smartcards/"+card.String(), `{"status":"`+status+`"}`); code != http.StatusOK {
		t.Fatalf("set %s %s: %d %s", card, status, code, body)
	}
}

// cardStatus reads a card's status through an API.
func cardStatus(t *testing.T, s *server, token string, card guid.GUID) domain.CardStatus {
	t.Helper()
	code, body := s.call(t, token, "GET", apiPath+"/smartcards/"+card.String(), "")
	if code != http.StatusOK {
		t.Fatalf("GET card %s: %d %s", card, code, body)
	}
	var c struct{ Status domain.CardStatus }
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatal(err)
	}
	return c.Status
}

// waitFor polls cond every 50 ms until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// outboxOf reads a station's GET /api/outbox.
type outboxAnswer struct {
	Upstream    string `json:"upstream"`
	Pending     int    `json:"pending"`
	Parked      int    `json:"parked"`
	ParkedItems []struct {
		Sink      string `json:"sink"`
		Smartcard string `json:"smartcard"`
		Problem   string `json:"problem"`
	} `json:"parked_items"`
}

func outboxOf(t *testing.T, s *fleetStation) outboxAnswer {
	t.Helper()
	code, body := s.srv.call(t, s.admin, "GET", "/api/outbox", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/outbox: %d %s", code, body)
	}
	var v outboxAnswer
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// completedDisables counts, by card, the hub's completed Disable requests.
func (f *fleetSite) completedDisables(t *testing.T) map[guid.GUID]int {
	t.Helper()
	code, body := f.hub.call(t, f.hubAdmin, "GET", apiPath+"/requests", "")
	if code != http.StatusOK {
		t.Fatalf("GET hub requests: %d %.200s", code, body)
	}
	var reqs []struct {
		RequestType      int
		Status           int
		NewSmartcardUuid guid.GUID
	}
	if err := json.Unmarshal([]byte(body), &reqs); err != nil {
		t.Fatal(err)
	}
	out := map[guid.GUID]int{}
	for _, r := range reqs {
		if r.RequestType == int(domain.TypeDisable) && r.Status == int(domain.RequestCompleted) {
			out[r.NewSmartcardUuid]++
		}
	}
	return out
}

// hookReceiver is a webhook receiver that checks every signature and
// keeps the events in arrival order.
type hookReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []fleet.Event
	bad    []string
}

func newHookReceiver(t *testing.T, secret []byte) *hookReceiver {
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		sec, _ := strconv.ParseInt(ts, 10, 64)
		var e fleet.Event
		err := json.Unmarshal(body, &e)
		h.mu.Lock()
		defer h.mu.Unlock()
		switch {
		case r.Header.Get("webhook-signature") != fleet.Sign(secret, id, sec, body):
			h.bad = append(h.bad, "bad signature on "+id)
		case time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute:
			h.bad = append(h.bad, "stale timestamp on "+id)
		case err != nil || e.ID != id || e.SpecVersion != "1.0":
			h.bad = append(h.bad, fmt.Sprintf("not a CloudEvent with id %s: %v %s", id, err, body))
		default:
			h.events = append(h.events, e)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// TestFleet runs a hub and stations as real processes on loopback and
// follows a disable from each way in to the hub and the webhooks, with the
// hub away, a station killed while it delivers, a refusal upstream and a
// wrong token (issue 15).
func TestFleet(t *testing.T) {
	f := newFleetSite(t)
	lobby := f.addStation(t, "lobby", "", pcscdtest.Reader1)
	garage := f.addStation(t, "garage", "", "no such reader")
	next := 0 // the next card of 0-199 no subtest has used
	take := func(n int) []guid.GUID {
		var out []guid.GUID
		for range n {
			out = append(out, fleetCard(next).Uuid)
			next++
		}
		return out
	}
	onHub := func(t *testing.T, card guid.GUID, want domain.CardStatus) {
		t.Helper()
		waitFor(t, 30*time.Second, fmt.Sprintf("card %s %s on the hub", card, want), func() bool {
			return cardStatus(t, f.hub, f.hubAdmin, card) == want
		})
	}

	t.Run("REST", func(t *testing.T) {
		card := take(1)[0]
		disableVia(t, lobby.srv, lobby.admin, card)
		onHub(t, card, domain.CardDisabled)
	})

	t.Run("a re-enable is refused upstream; the card's changes stay in order", func(t *testing.T) {
		card := take(1)[0]
		disableVia(t, lobby.srv, lobby.admin, card)
		changeVia(t, lobby.srv, lobby.admin, card, "SuspendOrReinstate", "Active")
		disableVia(t, lobby.srv, lobby.admin, card)
		waitFor(t, 30*time.Second, "the re-enable is parked", func() bool {
			o := outboxOf(t, lobby)
			return o.Pending == 0 && o.Parked == 1 && strings.Contains(o.ParkedItems[0].Problem, "403")
		})
		if s := cardStatus(t, f.hub, f.hubAdmin, card); s != domain.CardDisabled {
			t.Errorf("the hub's card is %s; want Disabled", s)
		}
		waitFor(t, 30*time.Second, "the webhook receiver has the card's three changes", func() bool {
			f.hooks.mu.Lock()
			defer f.hooks.mu.Unlock()
			var got []string
			for _, e := range f.hooks.events {
				if e.Subject == card.String() {
					got = append(got, e.Data.To)
				}
			}
			if len(got) > 3 || len(got) == 3 && strings.Join(got, ",") != "Disabled,Active,Disabled" {
				t.Fatalf("the webhook receiver got the card's changes as %v; want Disabled, Active, Disabled", got)
			}
			return len(got) == 3
		})
	})

	t.Run("page", func(t *testing.T) {
		card := take(1)[0]
		client := signInClient()
		resp, err := signIn(context.Background(), client, garage.srv.base, clerk, clerkPassword)
		if err != nil || !hasSession(resp) {
			t.Fatalf("sign in: %v %v", err, resp)
		}
		req, _ := http.NewRequest("POST", garage.srv.base+"/cards/"+card.String()+"/disable", strings.NewReader(url.Values{"reason": {"lost"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range resp.Cookies() {
			req.AddCookie(c)
		}
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("disable on the page: %d; want 303", resp.StatusCode)
		}
		onHub(t, card, domain.CardDisabled)
	})

	t.Run("hub away", func(t *testing.T) {
		cards := take(5)
		f.hub.stop(t)
		for _, c := range cards {
			disableVia(t, garage.srv, garage.admin, c) // acknowledged with the hub away
		}
		waitFor(t, 30*time.Second, "the outbox says the upstream is unreachable", func() bool {
			o := outboxOf(t, garage)
			return o.Upstream == string(fleet.StateUnreachable) && o.Pending == len(cards)
		})
		_, metrics := garage.srv.call(t, "", "GET", "/metrics", "")
		for _, want := range []string{`cardstop_outbox_pending{sink="upstream"} 5`, `cardstop_outbox_parked{sink="upstream"} 0`,
			`cardstop_outbox_pending{sink="webhook ` + f.hooks.srv.URL + `/hook"} 0`, `cardstop_outbox_delivered_total{sink="upstream"}`,
			`cardstop_outbox_oldest_pending_seconds{sink="upstream"}`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics has no %s", want)
			}
		}
		f.startHub(t)
		for _, c := range cards {
			onHub(t, c, domain.CardDisabled)
		}
		waitFor(t, 30*time.Second, "the outbox is empty", func() bool { return outboxOf(t, garage).Pending == 0 })
	})

	t.Run("kill -9 while delivering", func(t *testing.T) {
		const n = 60
		cards := take(n)
		f.hub.stop(t)
		for _, c := range cards {
			disableVia(t, lobby.srv, lobby.admin, c)
		}
		f.startHub(t)
		waitFor(t, 60*time.Second, "the first deliveries", func() bool { return outboxOf(t, lobby).Pending < n })
		left := outboxOf(t, lobby).Pending
		if err := lobby.srv.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-lobby.srv.eof
		lobby.srv.cmd.Wait()
		t.Logf("killed the station with %d of %d changes still to deliver", left, n)
		lobby.start(t)
		waitFor(t, 60*time.Second, "the outbox is empty after the restart", func() bool { return outboxOf(t, lobby).Pending == 0 })
		done := f.completedDisables(t)
		for _, c := range cards {
			if done[c] != 1 {
				t.Errorf("card %s: %d completed Disable requests on the hub; want exactly 1", c, done[c])
			}
			if s := cardStatus(t, f.hub, f.hubAdmin, c); s != domain.CardDisabled {
				t.Errorf("card %s is %s on the hub; want Disabled", c, s)
			}
		}
	})

	t.Run("refused upstream", func(t *testing.T) {
		cards := take(2)
		retired, other := cards[0], cards[1]
		code, body := f.hub.call(t, f.hubAdmin, "POST", apiPath+"/requests", `{"type":"Retire","smartcard":"`+retired.String()+`"}`)
		if code != http.StatusCreated {
			t.Fatalf("retire on the hub: %d %s", code, body)
		}
		var uri string
		json.Unmarshal([]byte(body), &uri)
		if code, body = f.hub.call(t, f.hubAdmin, "PUT", apiPath+"/requests/"+uri[strings.LastIndex(uri, "/")+1:]+"/smartcards/"+retired.String(), `{"status":"Retired"}`); code != http.StatusOK {
			t.Fatalf("retire on the hub: %d %s", code, body)
		}
		disableVia(t, garage.srv, garage.admin, retired)
		disableVia(t, garage.srv, garage.admin, other)
		onHub(t, other, domain.CardDisabled) // not held up by the refused one
		waitFor(t, 30*time.Second, "the refused change is parked", func() bool {
			o := outboxOf(t, garage)
			return o.Parked == 1 && o.Pending == 0 && len(o.ParkedItems) == 1 && o.ParkedItems[0].Smartcard == retired.String()
		})
		if p := outboxOf(t, garage).ParkedItems[0]; p.Sink != storage.SinkUpstream || !strings.Contains(p.Problem, "409") {
			t.Errorf("parked item %+v; want the upstream's 409", p)
		}
	})

	t.Run("a card known only to the hub, at the walk-up station", func(t *testing.T) {
		pcscdtest.Require(t)
		hubOnly := fleetCard(fleetHubOnly)
		in, err := vcard.Insert(context.Background(), pcscdtest.Addr1, &vcard.PIV{GUID: hubOnly.Uuid})
		if err != nil {
			t.Fatal(err)
		}
		defer in.Remove()
		waitFor(t, 30*time.Second, "the station asks for the press", func() bool {
			code, body := lobby.srv.call(t, lobby.admin, "GET", "/api/station", "")
			return code == 200 && strings.Contains(body, `"state":"confirm"`)
		})
		if code, body := lobby.srv.call(t, lobby.admin, "POST", "/api/station/button", ""); code != http.StatusAccepted {
			t.Fatalf("press: %d %s", code, body)
		}
		onHub(t, hubOnly.Uuid, domain.CardDisabled)
		f.walkUp = hubOnly.Uuid
	})

	t.Run("webhooks", func(t *testing.T) {
		for _, s := range f.stations {
			waitFor(t, 30*time.Second, "the webhook outbox is empty", func() bool { return outboxOf(t, s).Pending == 0 })
		}
		f.hooks.mu.Lock()
		defer f.hooks.mu.Unlock()
		for _, b := range f.hooks.bad {
			t.Error(b)
		}
		seen := map[string]int{}
		last := map[string]time.Time{}
		for _, e := range f.hooks.events {
			seen[e.ID]++
			if e.Time.Before(last[e.Subject]) {
				t.Errorf("card %s: an event of %v after one of %v", e.Subject, e.Time, last[e.Subject])
			}
			last[e.Subject] = e.Time
		}
		if len(seen) < next {
			t.Errorf("the webhook receiver got %d changes; want at least %d (every card changed)", len(seen), next)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		bad := f.addStation(t, "broken", "not-a-token-of-the-hub", "no such reader")
		card := take(1)[0]
		disableVia(t, bad.srv, bad.admin, card)
		waitFor(t, 30*time.Second, "the station says the upstream refuses its token", func() bool {
			o := outboxOf(t, bad)
			_, ready := bad.srv.call(t, "", "GET", "/readyz", "")
			return o.Upstream == string(fleet.StateUnauthorized) && o.Pending == 1 &&
				strings.Contains(ready, `"upstream":"unauthorized"`)
		})
		if s := cardStatus(t, f.hub, f.hubAdmin, card); s != domain.CardActive {
			t.Errorf("the hub's card is %s; want it Active: the broken station's change did not reach it", s)
		}
	})

	t.Run("the hub's audit log names the station and its evidence", func(t *testing.T) {
		if f.walkUp.IsNil() {
			t.Skip("no walk-up disable was made (no pcscd)")
		}
		f.hub.stop(t) // the export reads the file, which serve holds
		code, out, stderr := cardstop(t, "", "audit", "export", "--data-dir", f.hubDir)
		if code != 0 {
			t.Fatalf("audit export: %d %s", code, stderr)
		}
		found := false
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			var e storage.Event
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			if e.Action != storage.ActionCardStatus || e.CardUuid != f.walkUp {
				continue
			}
			found = true
			if ev := e.Evidence; e.Actor != "token:lobby" || ev == nil || ev.Station != "lobby" || ev.Reader != pcscdtest.Reader1 ||
				ev.PressedAt.IsZero() || ev.Committed.IsZero() {
				t.Errorf("the hub's event of the walk-up disable: actor %q, evidence %+v; want token:lobby, station lobby, reader %s, press and commit times",
					e.Actor, ev, pcscdtest.Reader1)
			}
		}
		if !found {
			t.Error("the hub's audit log has no card.status event for the walk-up disable")
		}
	})
}

// fleetBench measures delivery beyond a station (make bench, issue 15):
// how long a backlog of 10,000 changes takes to reach a hub, with the
// station's memory meanwhile, and the lag from a station's commit to the
// hub's completed request with the hub up.
func fleetBench(t *testing.T, add func(name, value, target string)) {
	const backlog, live, cards = 10_000, 200, 10_200
	var all []storage.Smartcard
	for i := range cards {
		all = append(all, fleetCard(i))
	}
	hubDir, stationDir := t.TempDir(), t.TempDir()
	var stationToken string
	hubAdmin := seedFleetDB(t, hubDir, all, func(st *storage.Store, o domain.Origin) error {
		var err error
		stationToken, _, err = st.CreateToken(context.Background(), o, "bench", domain.RoleStation)
		return err
	})
	admin := seedFleetDB(t, stationDir, all, nil)
	// The backlog: changes committed while the hub was away.
	st, err := storage.Open(stationDir, storage.Options{Sinks: []string{storage.SinkUpstream}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < backlog; i += 32 {
				if _, err := st.Apply(context.Background(), domain.Origin{Actor: "bench", Role: domain.RoleAdmin},
					domain.Command{Card: fleetCard(i).Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st.Close()
	tokenFile := filepath.Join(stationDir, "upstream.token")
	if err := os.WriteFile(tokenFile, []byte(stationToken), 0o600); err != nil {
		t.Fatal(err)
	}
	hub := startServer(t, hubDir, "--panel", "simulated", "--reader", "no such reader", "--status-changes-per-minute", "0")
	waitReady(t, hub, time.Minute)
	start := time.Now()
	stn := startServer(t, stationDir, "--panel", "simulated", "--reader", "no such reader", "--station-name", "bench", "--status-changes-per-minute", "0",
		"--upstream", hub.base+apiPath, "--upstream-token-file", tokenFile)
	s := &fleetStation{srv: stn, admin: admin}
	var firstAnon, peakAnon uint64
	for {
		anon, _ := rss(t, stn)
		if firstAnon == 0 {
			firstAnon = anon
		}
		peakAnon = max(peakAnon, anon)
		if outboxOf(t, s).Pending == 0 {
			break
		}
		if time.Since(start) > 10*time.Minute {
			t.Fatalf("the backlog did not drain in 10 minutes: %d left", outboxOf(t, s).Pending)
		}
		time.Sleep(100 * time.Millisecond)
	}
	add(fmt.Sprintf("a backlog of %d changes delivered to a hub (3 calls each)", backlog), fmt.Sprintf("%.1f s", time.Since(start).Seconds()), "< 60 s")
	add("the station's RssAnon while it delivers the backlog", fmt.Sprintf("%s at start, %s at most", mb(firstAnon), mb(peakAnon)), "flat")

	// The lag with the hub up: one change at a time, as people make them.
	for i := backlog; i < backlog+live; i++ {
		disableVia(t, stn, admin, fleetCard(i).Uuid)
		time.Sleep(20 * time.Millisecond)
	}
	waitFor(t, time.Minute, "the live changes are delivered", func() bool { return outboxOf(t, s).Pending == 0 })
	code, body := hub.call(t, hubAdmin, "GET", apiPath+"/requests", "")
	if code != http.StatusOK {
		t.Fatalf("GET hub requests: %d", code)
	}
	var reqs []struct {
		Completed      time.Time
		DataCollection []struct {
			Name  string
			Value *string
		}
	}
	if err := json.Unmarshal([]byte(body), &reqs); err != nil {
		t.Fatal(err)
	}
	var lags []time.Duration
	for _, r := range reqs {
		for _, d := range r.DataCollection {
			if d.Name == storage.DataCommitted && d.Value != nil {
				if c, err := time.Parse(time.RFC3339Nano, *d.Value); err == nil && c.After(start) {
					lags = append(lags, r.Completed.Sub(c))
				}
			}
		}
	}
	if len(lags) != live {
		t.Fatalf("%d of the %d live changes found on the hub", len(lags), live)
	}
	slices.Sort(lags)
	add(fmt.Sprintf("delivery lag, commit at the station to completed on the hub, %d changes", live),
		fmt.Sprintf("p50 %s, p99 %s", ms(lags[len(lags)/2]), ms(lags[len(lags)*99/100])), "")
	stn.stop(t)
	hub.stop(t)
}
