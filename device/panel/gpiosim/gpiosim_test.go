package gpiosim

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The cards of testdata/cards.csv, by the GUID their PIV card carries.
const (
	activeCard   = "9e1d7c44-6b2a-4f0e-8a53-3c1f5d2e7b10" // Active: disabled by the press
	activeCard2  = "9e1d7c44-6b2a-4f0e-8a53-3c1f5d2e7b20" // Active: left to time out
	disabledCard = "9e1d7c44-6b2a-4f0e-8a53-3c1f5d2e7b30" // already Disabled
)

// The service under test, a second one for the failure cases, and their
// ports (only inside the guest).
const (
	mainPort   = 8080
	secondPort = 8082
)

// TestPanelThroughTheKernel runs cardstop serve --panel gpio against the
// gpio-sim driver: the LED lines in every state the station reaches, the
// button pressed by switching the simulated line's pull, a line held by
// another process, a missing chip, active-low LEDs, and a crash. The steps share one
// guest and run in order; each is a subtest so that one failing does not hide
// the others.
func TestPanelThroughTheKernel(t *testing.T) {
	kernel := requireVM(t)
	g := boot(t, kernel)

	t.Run("missing chip", func(t *testing.T) {
		s := g.serve(t, "nochip", "/data2", secondPort, "--panel gpio")
		defer g.stop(t, s.pid, "TERM")
		g.staysUp(t, s)
		panel := g.readyPanel(t, s)
		t.Logf("/readyz panel: %q", panel)
		if !strings.HasPrefix(panel, "failed") || !(strings.Contains(panel, "no line named") || strings.Contains(panel, "no GPIO")) {
			t.Errorf("/readyz panel %q; want \"failed: ...\" saying the line or GPIO is missing", panel)
		}
	})

	g.sh(t, "mkchip")
	svc := g.serve(t, "main", "/data1", mainPort, "--panel gpio --confirm-window 60s")
	g.up(t, svc)

	t.Run("no reader", func(t *testing.T) {
		if panel := g.readyPanel(t, svc); panel != "gpio" {
			t.Errorf("/readyz panel %q; want gpio", panel)
		}
		// The service asked for its pull-up: gpio-sim's own pull is down.
		if !poll(10*time.Second, func() bool { return g.sh(t, "cat $(sim 23 value)") == "1" }) {
			t.Fatal("the button line reads 0 with nothing pressed: the service did not ask for pull-up")
		}
		g.checkLEDs(t, svc, "no-reader")
	})

	t.Run("busy line", func(t *testing.T) {
		s := g.serve(t, "busy", "/data2", secondPort, "--panel gpio")
		defer g.stop(t, s.pid, "TERM")
		g.staysUp(t, s)
		panel := g.readyPanel(t, s)
		t.Logf("/readyz panel: %q", panel)
		if !strings.HasPrefix(panel, "failed") || !strings.Contains(panel, "busy") || !regexp.MustCompile(`GPIO(17|22|23|27)`).MatchString(panel) {
			t.Errorf("/readyz panel %q; want \"failed: ...\" naming the line and saying it is busy", panel)
		}
	})

	g.sh(t, "pcscd --foreground >/tmp/pcscd.log 2>&1 &")
	t.Run("ready", func(t *testing.T) { g.checkLEDs(t, svc, "ready") })

	t.Run("press", func(t *testing.T) {
		card := g.insert(t, "--piv-guid "+activeCard)
		defer g.removeCard(t, svc, card)
		g.checkLEDs(t, svc, "confirm")

		if l := g.sh(t, "cat $(sim 23 value)"); l != "1" {
			t.Fatalf("the button line reads %s before the press; want 1 (pull-up)", l)
		}
		// A glitch shorter than the debounce is no press.
		g.sh(t, "p=$(sim 23 pull); echo pull-down >$p; echo pull-up >$p; sleep 1.5")
		if st := g.station(t, svc); st.State != "confirm" {
			t.Fatalf("after a glitch the station is %s (%s); want confirm", st.State, st.Message)
		}
		if status := g.cardStatus(t, activeCard); status != 3 {
			t.Fatalf("after a glitch the card's status is %d; want 3 (Active)", status)
		}

		if l := g.sh(t, "cat $(sim 23 value)"); l != "1" {
			t.Fatalf("the button line reads %s after the glitch; want 1", l)
		}
		// A press that bounces, is held, and is let go is one press.
		g.sh(t, "p=$(sim 23 pull); for i in 1 2 3; do echo pull-down >$p; echo pull-up >$p; done; echo pull-down >$p; sleep 0.3; echo pull-up >$p")
		g.checkLEDs(t, svc, "disabled")
		if status := g.cardStatus(t, activeCard); status != 4 {
			t.Errorf("after the press the card's status is %d; want 4 (Disabled)", status)
		}
		if n := g.stationChanges(t, svc); n != 1 {
			t.Errorf("the station made %d status changes; want 1", n)
		}
	})

	t.Run("nothing to do", func(t *testing.T) {
		card := g.insert(t, "--piv-guid "+disabledCard)
		defer g.removeCard(t, svc, card)
		g.checkLEDs(t, svc, "nothing-to-do")
	})

	t.Run("unknown card", func(t *testing.T) {
		card := g.insert(t, "--atr-only")
		defer g.removeCard(t, svc, card)
		g.checkLEDs(t, svc, "unknown-card")
	})

	// A short confirm window needs a restart.
	g.stop(t, svc.pid, "TERM")
	svc = g.serve(t, "short", "/data1", mainPort, "--panel gpio --confirm-window 2s")
	g.up(t, svc)

	t.Run("timed out", func(t *testing.T) {
		card := g.insert(t, "--piv-guid "+activeCard2)
		defer g.removeCard(t, svc, card)
		g.checkLEDs(t, svc, "timed-out")
		if status := g.cardStatus(t, activeCard2); status != 3 {
			t.Errorf("after the window the card's status is %d; want 3 (Active)", status)
		}
	})

	t.Run("crash", func(t *testing.T) {
		g.waitState(t, svc, "ready")
		if l := g.levels(t); l != "100" {
			t.Fatalf("ready: green, amber, red read %s; want 100", l)
		}
		g.stop(t, svc.pid, "KILL")
		// The kernel frees the lines of a dead process; gpio-sim then
		// returns them to its pull (down): the LEDs go dark.
		if !poll(10*time.Second, func() bool { return g.levels(t) == "000" }) {
			t.Errorf("after kill -9, green, amber, red read %s; want 000", g.levels(t))
		}
	})

	t.Run("active low", func(t *testing.T) {
		s := g.serve(t, "activelow", "/data1", mainPort, "--panel gpio --led-active-low")
		defer g.stop(t, s.pid, "TERM")
		g.up(t, s)
		g.waitState(t, s, "ready")
		var l string
		if !poll(10*time.Second, func() bool { l = g.levels(t); return l == "011" }) {
			t.Errorf("ready with --led-active-low: green, amber, red read %s; want 011", l)
		}
	})
}

// staysUp checks that a service answers /healthz for several seconds and
// does not exit.
func (g *guest) staysUp(t *testing.T, s *service) {
	t.Helper()
	g.up(t, s)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if !g.alive(t, s.pid) {
			t.Fatalf("%s exited: %s", s.name, g.log(t, s))
		}
		if body, ok := g.get(t, s.port, "/healthz", false); !ok {
			t.Fatalf("%s: /healthz: %s", s.name, body)
		}
	}
}

// readyPanel returns /readyz's panel, waiting for a 200 (the database
// check at start answers 503 for a moment).
func (g *guest) readyPanel(t *testing.T, s *service) string {
	t.Helper()
	var body string
	var ok bool
	if !poll(30*time.Second, func() bool { body, ok = g.get(t, s.port, "/readyz", false); return ok }) {
		t.Fatalf("%s: /readyz does not answer 200: %s", s.name, body)
	}
	var rd struct{ Panel string }
	if err := json.Unmarshal([]byte(body), &rd); err != nil {
		t.Fatalf("/readyz: %v: %q", err, body)
	}
	return rd.Panel
}

// removeCard takes a virtual card out and waits for the station to be
// ready for the next.
func (g *guest) removeCard(t *testing.T, s *service, pid int) {
	t.Helper()
	g.stop(t, pid, "TERM")
	g.waitState(t, s, "ready")
}

// cardStatus is the card's MIM CM status, by the GUID its card carries.
func (g *guest) cardStatus(t *testing.T, cardID string) int {
	t.Helper()
	body, ok := g.get(t, mainPort, "/CertificateManagement/api/v1.0/smartcards?cardid="+cardID, true)
	if !ok {
		t.Fatalf("GET smartcards?cardid=%s: %s", cardID, body)
	}
	var card struct{ Status int }
	var cards []struct{ Status int }
	if json.Unmarshal([]byte(body), &cards) == nil && len(cards) == 1 {
		return cards[0].Status
	}
	if err := json.Unmarshal([]byte(body), &card); err != nil {
		t.Fatalf("smartcards?cardid=%s: %v: %q", cardID, err, body)
	}
	return card.Status
}

// stationChanges sums the service's cardstop_status_changes_total made by
// the station since it started.
func (g *guest) stationChanges(t *testing.T, s *service) int {
	t.Helper()
	body, ok := g.get(t, s.port, "/metrics", false)
	if !ok {
		t.Fatalf("/metrics: %s", body)
	}
	n := 0
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "cardstop_status_changes_total{") && strings.Contains(line, `actor_kind="station"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("/metrics: %q", line)
			}
			n += int(v)
		}
	}
	return n
}
