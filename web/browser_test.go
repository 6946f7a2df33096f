package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Browser tests drive Debian's Chromium through the DevTools protocol. They
// fail when CI=true and Chromium or axe-core is missing; elsewhere they skip.

func needFile(t *testing.T, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		msg := fmt.Sprintf("%s is missing at %s (make test installs it): %v", what, path, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

func chromium(t *testing.T) string {
	p := os.Getenv("CARDSTOP_CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if lp, err := exec.LookPath(p); err == nil {
		p = lp
	}
	return needFile(t, p, "Chromium")
}

// axeSource is axe-core's script, which make test fetches (pinned by sha256).
func axeSource(t *testing.T) string {
	p := os.Getenv("CARDSTOP_AXE")
	if p == "" {
		p = filepath.Join("..", "bin", "axe", "axe.min.js")
	}
	b, err := os.ReadFile(needFile(t, p, "axe-core"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// site is a server with cards, two people and a station, on loopback.
type site struct {
	t     *testing.T
	url   string
	store *storage.Store
	alloc context.Context
	axe   string
	shots string // where screenshots go
	// events feeds the station's reader: a test drives the station with it.
	events chan<- reader.Event
	// inserted is the card the station starts with, waiting for its press.
	inserted reader.Event
}

const (
	adminPass    = "correct horse battery"
	operatorPass = "tr0ub4dor&3-staple"
)

func newSite(t *testing.T) *site {
	t.Helper()
	exe := chromium(t)
	axe := axeSource(t)
	st, err := storage.Open(t.TempDir(), storage.Options{Now: func() time.Time { return time.Now().UTC() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cli := domain.Origin{Actor: "test", Role: domain.RoleAdmin}
	cards := []storage.Smartcard{}
	for i := range 60 {
		cards = append(cards, storage.Smartcard{Uuid: guid.New(), Status: domain.CardActive, Flags: 1, Middleware: "MSBaseCSP",
			SerialNumber: fmt.Sprintf("{%08x-83ba-4037-8262-46eba1291c6e}", 0x10000000+i*7919), Atr: "3b8d0180fba000000397425446590301c8",
			AssignedUserUuid: guid.New(), ProfileTemplateUuid: guid.New(), ProfileTemplateVersion: 46})
	}
	if err := st.ImportCards(context.Background(), cli, cards); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name, pw string
		role     domain.Role
	}{{"ada", adminPass, domain.RoleAdmin}, {"oscar", operatorPass, domain.RoleOperator}} {
		if err := st.AddUser(context.Background(), cli, u.name, u.role, u.pw); err != nil {
			t.Fatal(err)
		}
	}
	// A station with a simulated panel, showing a card to confirm.
	sim := panel.NewSimulated()
	// The card waits for its press until the test reaches the station page,
	// however slow the machine: the window is not what this test is about.
	inserted := reader.Event{Kind: reader.Inserted, Reader: "Virtual PCD 00 00", ATR: []byte{0x3b, 0x80, 0x80, 0x01, 0x01},
		Identity: reader.Identity{Kind: reader.KindPIV, Serial: cards[1].SerialNumber}, Time: time.Now()}
	// At the press the station reads the card again, and finds it still in.
	reread := func(context.Context, string) reader.Event { return inserted }
	stn := station.New(station.Config{Name: "lobby", ConfirmWindow: time.Hour, Reread: reread,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, sim)
	events := make(chan reader.Event, 8)
	events <- reader.Event{Kind: reader.ReaderAppeared, Reader: "Virtual PCD 00 00"}
	events <- inserted
	ctx, cancel := context.WithCancel(context.Background())
	go stn.Run(ctx, events, sim.Presses())
	t.Cleanup(cancel)

	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = New(st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Station: stn, PressButton: sim.Press, Panel: "simulated", AllowedHosts: []string{srv.Listener.Addr().String()}})
	srv.Start()
	t.Cleanup(srv.Close)

	var out strings.Builder
	alloc, allocCancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 800),
		chromedp.CombinedOutput(&out),
	)
	t.Cleanup(func() {
		allocCancel()
		if t.Failed() {
			t.Logf("chromium said:\n%s", out.String())
		}
	})
	shots := t.TempDir()
	if os.Getenv("CARDSTOP_SCREENSHOTS") != "" {
		shots = filepath.Join("..", "docs", "screenshots")
	}
	return &site{t: t, url: srv.URL, store: st, alloc: alloc, axe: axe, shots: shots, events: events, inserted: inserted}
}

// tab starts the site's browser and opens its tab.
func (s *site) tab() context.Context {
	s.t.Helper()
	ctx, cancel := chromedp.NewContext(s.alloc)
	s.t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, 90*time.Second)
	s.t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		s.t.Fatal(err)
	}
	return ctx
}

func (s *site) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) text(ctx context.Context, sel string) string {
	s.t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		s.t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

func (s *site) signIn(ctx context.Context, name, password string) {
	s.t.Helper()
	s.do(ctx,
		chromedp.Navigate(s.url+"/cards"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="sign-in"]`))); err != nil {
		s.t.Fatal(err)
	}
	s.do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="signed-in-as"]`)))
}

// accessible runs axe-core on the page and fails on serious or critical
// violations.
func (s *site) accessible(ctx context.Context, name string) {
	s.t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](s.axe+";true")); err != nil {
		s.t.Fatalf("load axe-core: %v", err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
			.map(v => v.id + " (" + v.impact + "): " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", "))))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		s.t.Fatalf("axe on %s: %v", name, err)
	}
	var violations []string
	if err := json.Unmarshal([]byte(res), &violations); err != nil {
		s.t.Fatal(err)
	}
	for _, v := range violations {
		s.t.Errorf("accessibility of the %s page: %s", name, v)
	}
}

// screenshot saves the page at the station's size, a desktop's and a phone's.
func (s *site) screenshot(ctx context.Context, name string) {
	s.t.Helper()
	for _, size := range [][2]int64{{800, 480}, {1280, 800}, {390, 844}} {
		s.do(ctx, chromedp.EmulateViewport(size[0], size[1]))
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.shots, fmt.Sprintf("%s-%dx%d.png", name, size[0], size[1])), png, 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.do(ctx, chromedp.EmulateViewport(1280, 800))
}

func TestBrowserDisableFlow(t *testing.T) {
	s := newSite(t)
	ctx := s.tab()
	s.signIn(ctx, "ada", adminPass)
	s.accessible(ctx, "cards")

	// The card list: searchable by part of a serial, focused on load, small.
	if focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "q" {
		t.Errorf("the focus on load is on %q, want the search box", focused)
	}
	size, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByType("navigation")[0].transferSize +
		performance.getEntriesByType("resource").reduce((n, e) => n + e.transferSize, 0)`))
	if err != nil || size <= 0 || size >= 100*1024 {
		t.Errorf("the card list page transferred %.0f bytes (%v); want under 100 KB", size, err)
	}
	t.Logf("the card list page with 50 cards transferred %.0f bytes", size)
	s.screenshot(ctx, "cards")
	s.do(ctx, chromedp.SendKeys(chromedp.ID("q"), "10001EEF"))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="search-button"]`))); err != nil {
		t.Fatal(err)
	}
	if n := s.text(ctx, `[data-testid="count"]`); n != "1 card" {
		t.Fatalf("searching part of a serial found %q", n)
	}
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="card-row"] a`))); err != nil {
		t.Fatal(err)
	}
	s.accessible(ctx, "card")
	s.screenshot(ctx, "card")

	// Disable it with a reason, through the confirmation step.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="action-disable"]`))); err != nil {
		t.Fatal(err)
	}
	s.accessible(ctx, "disable")
	s.do(ctx,
		chromedp.SetValue(chromedp.CSS(`[data-testid="reason"]`), "stolen"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="comment"]`), "reported at the front desk"))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="confirm"]`))); err != nil {
		t.Fatal(err)
	}
	if got := s.text(ctx, `h1 [data-testid="status"]`); got != "Disabled" {
		t.Fatalf("status after disabling: %q", got)
	}
	history := s.text(ctx, `[data-testid="history-row"]`)
	if !strings.Contains(history, "Active → Disabled") || !strings.Contains(history, "user:ada") ||
		!strings.Contains(history, "Reason: stolen") || !strings.Contains(history, "Comment: reported at the front desk") {
		t.Fatalf("newest history entry: %q", history)
	}

	// The station panel, live.
	s.do(ctx, chromedp.Navigate(s.url+"/station"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="station"]`)))
	if st := s.text(ctx, `[data-testid="station-state"]`); st != "Press the button to block this card" {
		t.Fatalf("station state %q", st)
	}
	s.accessible(ctx, "station")
	s.screenshot(ctx, "station")
	s.do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="press"]`)))
	s.do(ctx, chromedp.WaitVisible(chromedp.CSS(`.led.green.fast`))) // the panel refreshes itself

	for _, p := range []string{"/requests", "/audit", "/admin/tokens", "/admin/users"} {
		s.do(ctx, chromedp.Navigate(s.url+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		s.accessible(ctx, p)
	}
	// The other actions' confirmation pages, a message page, and a token just made.
	var active, disabled string
	all, _, _ := s.store.SearchCards(storage.CardSearch{Limit: 100})
	for _, c := range all {
		switch {
		case c.Status == domain.CardActive && active == "":
			active = c.Uuid.String()
		case c.Status == domain.CardDisabled:
			disabled = c.Uuid.String()
		}
	}
	for _, p := range []string{"/cards/" + active + "/suspend", "/cards/" + active + "/retire", "/cards/" + disabled + "/enable",
		"/cards/00000000-0000-4000-8000-000000000000"} {
		s.do(ctx, chromedp.Navigate(s.url+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		s.accessible(ctx, p)
	}
	s.do(ctx, chromedp.Navigate(s.url+"/admin/tokens"), chromedp.WaitVisible(chromedp.ID("tname")),
		chromedp.SendKeys(chromedp.ID("tname"), "scripts"))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="create-token"]`))); err != nil {
		t.Fatal(err)
	}
	if secret := s.text(ctx, `[data-testid="new-secret"]`); !strings.HasPrefix(secret, "cst_") {
		t.Fatalf("the token just made shows %q", secret)
	}
	s.accessible(ctx, "token made")

	// Sign out: the session is gone.
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="sign-out"]`))); err != nil {
		t.Fatal(err)
	}
	s.do(ctx, chromedp.Navigate(s.url+"/cards"), chromedp.WaitVisible(chromedp.ID("password")))
	s.accessible(ctx, "sign-in")
}

func TestBrowserOperatorSeesNoAdmin(t *testing.T) {
	s := newSite(t)
	ctx := s.tab()
	s.signIn(ctx, "oscar", operatorPass)
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="nav-admin"]').length`)); n != 0 {
		t.Fatal("an operator sees the admin menu")
	}
	s.do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="card-row"] a`)), chromedp.WaitVisible(chromedp.CSS(`[data-testid="actions"]`)))
	actions := s.text(ctx, `[data-testid="actions"]`)
	if !strings.Contains(actions, "Disable") || strings.Contains(actions, "Retire") || strings.Contains(actions, "Re-enable") {
		t.Fatalf("an operator's actions on an active card: %q", actions)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(s.url+"/admin/users"))
	if err != nil || resp.Status != http.StatusForbidden {
		t.Fatalf("an operator opening the admin page: %v %v", resp, err)
	}
}

// TestBrowserCrossOriginPost: a form on another origin cannot make the
// signed-in browser disable a card.
func TestBrowserCrossOriginPost(t *testing.T) {
	s := newSite(t)
	ctx := s.tab()
	s.signIn(ctx, "ada", adminPass)
	cards, _, _ := s.store.SearchCards(storage.CardSearch{})
	target := cards[0]
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/cards/%s/disable">
			<input name="reason" value="lost"></form><button id="go" onclick="f.submit()">go</button>`, s.url, target.Uuid)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1) // another site
	s.do(ctx, chromedp.Navigate(evilURL), chromedp.WaitVisible(chromedp.ID("go")))
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID("go")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusForbidden {
		t.Fatalf("a cross-origin form post got %d, want 403", resp.Status)
	}
	if c, _ := s.store.Card(target.Uuid); c.Status != domain.CardActive {
		t.Fatalf("the card is %s after a cross-origin post", c.Status)
	}
}

// TestBrowserWrongPasswordSlowsDown: after five wrong passwords the sign-in
// is refused for a while, even with the right one.
func TestBrowserWrongPasswordSlowsDown(t *testing.T) {
	s := newSite(t)
	ctx := s.tab()
	for i := range 6 {
		s.do(ctx, chromedp.Navigate(s.url+"/signin"), chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), "ada"), chromedp.SendKeys(chromedp.ID("password"), "wrong password"))
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid="sign-in"]`)))
		if err != nil {
			t.Fatal(err)
		}
		want := http.StatusUnauthorized
		if i == 5 {
			want = http.StatusTooManyRequests
		}
		if resp.Status != int64(want) {
			t.Fatalf("attempt %d: %d, want %d", i+1, resp.Status, want)
		}
	}
	if msg := s.text(ctx, `[data-testid="error"]`); !strings.Contains(msg, "Too many failed sign-ins") {
		t.Fatalf("message after five failures: %q", msg)
	}
}

// TestBrowserCardPageFits: on the station's 800×480 display the card
// page's main action shows without scrolling and every control is a touch
// target of at least 44 px; on a 390 px phone no page scrolls sideways;
// at both sizes axe-core finds nothing serious. The card shown was just
// disabled at the walk-up station, so its history carries the evidence.
func TestBrowserCardPageFits(t *testing.T) {
	s := newSite(t)
	ctx := s.tab()
	s.signIn(ctx, "ada", adminPass)
	s.do(ctx, chromedp.Navigate(s.url+"/station"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="press"]`)),
		chromedp.Click(chromedp.CSS(`[data-testid="press"]`)), chromedp.WaitVisible(chromedp.CSS(`.led.green.fast`)))
	disabled := domain.CardDisabled
	cards, _, err := s.store.SearchCards(storage.CardSearch{Status: &disabled})
	if err != nil || len(cards) != 1 {
		t.Fatalf("the walk-up disable left %d disabled cards (%v)", len(cards), err)
	}
	cardPage := "/cards/" + cards[0].Uuid.String()

	s.do(ctx, chromedp.EmulateViewport(800, 480), chromedp.Navigate(s.url+cardPage), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if ev := s.text(ctx, `[data-testid="evidence"]`); !strings.Contains(ev, "read on Virtual PCD 00 00") || !strings.Contains(ev, "pressed ") {
		t.Errorf("the walk-up evidence in the history: %q", ev)
	}
	if what := s.text(ctx, `[data-testid="history-row"]`); !strings.Contains(what, "Disabled at station lobby") || strings.Contains(what, "card.status") {
		t.Errorf("the walk-up disable in the history: %q", what)
	}
	bottom, err := chromedp.Run(ctx, chromedp.Evaluate[float64](
		`document.querySelector('[data-testid="actions"] a').getBoundingClientRect().bottom - innerHeight`))
	if err != nil || bottom > 0 {
		t.Errorf("at 800×480 the main action ends %.0f px below the first screen (%v)", bottom, err)
	}
	small, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("a, button, input, select, summary"))
		.map(e => [e, e.getBoundingClientRect()]).filter(([e, r]) => r.width > 0 && r.height > 0 && r.height < 44)
		.map(([e, r]) => e.outerHTML.slice(0, 80) + " is " + r.height + " px tall")`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range small {
		t.Errorf("at 800×480 on the card page: %s", c)
	}
	s.accessible(ctx, "card at 800×480")
	s.screenshot(ctx, "card-walkup")

	s.do(ctx, chromedp.EmulateViewport(390, 844))
	for _, p := range []string{"/cards", "/cards?status=Disabled", cardPage, "/requests", "/audit", "/station", "/admin/tokens", "/admin/users", "/admin/outbox", "/admin/stations"} {
		t.Run(p, func(t *testing.T) {
			s.do(ctx, chromedp.Navigate(s.url+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
			over, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
			if err != nil || over > 0 {
				t.Errorf("at 390 px %s scrolls %.0f px sideways (%v)", p, over, err)
			}
			s.accessible(ctx, p+" at 390 px")
		})
	}
}
