package gpiosim

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// leds is what the green, amber and red LEDs do: off, on, slow or fast.
type leds [3]string

func (l leds) String() string { return fmt.Sprintf("green %s, amber %s, red %s", l[0], l[1], l[2]) }

// known are the signals of the README's table; states added later are
// only compared with what the API says.
var known = map[string]leds{
	"no-reader":     {"off", "off", "slow"},
	"ready":         {"on", "off", "off"},
	"confirm":       {"off", "fast", "off"},
	"disabled":      {"fast", "off", "off"},
	"nothing-to-do": {"slow", "off", "off"},
	"unknown-card":  {"off", "off", "fast"},
	"timed-out":     {"off", "slow", "off"},
}

// stationStatus is the part of GET /api/station the test reads.
type stationStatus struct {
	State string `json:"state"`
	LEDs  struct {
		Green, Amber, Red string
	} `json:"leds"`
	Message string `json:"message"`
}

func (s stationStatus) leds() leds { return leds{s.LEDs.Green, s.LEDs.Amber, s.LEDs.Red} }

func (g *guest) station(t *testing.T, s *service) stationStatus {
	t.Helper()
	var st stationStatus
	g.getJSON(t, s.port, "/api/station", true, &st)
	return st
}

// waitState polls /api/station until the station is in state.
func (g *guest) waitState(t *testing.T, s *service, state string) stationStatus {
	t.Helper()
	var st stationStatus
	if !poll(time.Minute, func() bool { st = g.station(t, s); return st.State == state }) {
		t.Fatalf("the station is %s (%s); want %s", st.State, st.Message, state)
	}
	return st
}

// sampleTime is how long the LED lines are watched: four toggles of the
// slow blink, sixteen of the fast one.
const sampleTime = 2500 * time.Millisecond

// sample watches the LED lines in the guest for sampleTime and tells
// what each does.
func (g *guest) sample(t *testing.T) leds {
	t.Helper()
	out := g.sh(t, fmt.Sprintf("sample %d", sampleTime/(10*time.Millisecond)))
	l, err := classify(out)
	if err != nil {
		t.Fatalf("LED samples: %v\n%s", err, out)
	}
	return l
}

// classify reads sample's output: lines "<centiseconds> <green><amber><red>"
// at each change, then "end <centiseconds> <samples>". Only the number of
// toggles a second counts, with wide margins (TCG is slow and uneven): the
// slow blink toggles 2 times a second, the fast one 8 times.
func classify(out string) (leds, error) {
	var (
		levels     []string
		start, end int
		n          int
	)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "end" {
			end, _ = strconv.Atoi(f[1])
			n, _ = strconv.Atoi(f[2])
			break
		}
		if len(f) != 2 || len(f[1]) != 3 {
			return leds{}, fmt.Errorf("bad line %q", line)
		}
		if levels == nil {
			start, _ = strconv.Atoi(f[0])
		}
		levels = append(levels, f[1])
	}
	secs := float64(end-start) / 100
	if len(levels) == 0 || secs < 1 {
		return leds{}, fmt.Errorf("no samples over a second")
	}
	// Fast toggles every 125 ms: sampling must be well under that.
	if rate := float64(n) / secs; rate < 25 {
		return leds{}, fmt.Errorf("only %.0f samples a second: too few to tell the blinks apart", rate)
	}
	var l leds
	for i := range l {
		toggles := 0
		for j := 1; j < len(levels); j++ {
			if levels[j][i] != levels[j-1][i] {
				toggles++
			}
		}
		rate := float64(toggles) / secs
		switch {
		case toggles == 0 && levels[0][i] == '1':
			l[i] = "on"
		case toggles == 0:
			l[i] = "off"
		case rate >= 4:
			l[i] = "fast"
		case toggles >= 2 && rate >= 0.75:
			l[i] = "slow"
		default:
			l[i] = fmt.Sprintf("unsteady (%d toggles in %.1f s)", toggles, secs)
		}
	}
	return l, nil
}

// checkLEDs waits for state, watches the LED lines and compares them with
// what the API says and, for the README's states, with its table.
func (g *guest) checkLEDs(t *testing.T, s *service, state string) {
	t.Helper()
	api := g.waitState(t, s, state)
	seen := g.sample(t)
	if after := g.station(t, s); after.State != state {
		t.Fatalf("the station went from %s to %s while its LEDs were watched", state, after.State)
	}
	t.Logf("%s: %s", state, seen)
	if seen != api.leds() {
		t.Errorf("%s: the lines show %s; the API says %s", state, seen, api.leds())
	}
	if want, ok := known[state]; ok && seen != want {
		t.Errorf("%s: the lines show %s; want %s", state, seen, want)
	}
}

func TestClassify(t *testing.T) {
	// 2.5 s at 100 samples a second: green on, amber fast, red slow.
	var b strings.Builder
	for cs := 0; cs < 250; cs += 12 {
		fast := (cs / 12) % 2
		slow := (cs / 50) % 2
		b.WriteString(fmt.Sprintf("%d 1%d%d\n", 1000+cs, fast, slow))
	}
	b.WriteString("end 1250 250\n")
	got, err := classify(b.String())
	if want := (leds{"on", "fast", "slow"}); err != nil || got != want {
		t.Fatalf("classify: %v, %v; want %v", got, err, want)
	}
	if _, err := classify("1000 100\nend 1250 20\n"); err == nil {
		t.Fatal("8 samples a second were taken for enough")
	}
}
