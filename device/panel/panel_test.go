package panel

import (
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

type pins struct {
	green, amber, red, button *gpiotest.Pin
}

func newPins() pins {
	return pins{
		green:  &gpiotest.Pin{N: "GPIO17"},
		amber:  &gpiotest.Pin{N: "GPIO27"},
		red:    &gpiotest.Pin{N: "GPIO22"},
		button: &gpiotest.Pin{N: "GPIO23", EdgesChan: make(chan gpio.Level, 16)},
	}
}

func (p pins) leds() [3]gpio.Level {
	return [3]gpio.Level{p.green.Read(), p.amber.Read(), p.red.Read()}
}

// edges plays levels on the button, each after the given gap.
func (p pins) edges(gap time.Duration, levels ...gpio.Level) {
	for _, l := range levels {
		p.button.EdgesChan <- l
		time.Sleep(gap)
	}
}

func countPresses(p *GPIO) int {
	n := 0
	for {
		select {
		case <-p.Presses():
			n++
		default:
			return n
		}
	}
}

func TestButton(t *testing.T) {
	const low, high = gpio.Low, gpio.High
	tests := []struct {
		name  string
		play  func(p pins)
		want  int
		level gpio.Level // the line after the play
	}{
		{"one clean press", func(p pins) { p.edges(200*time.Millisecond, low, high) }, 1, high},
		{"bouncing press", func(p pins) { p.edges(2*time.Millisecond, low, high, low, high, low); time.Sleep(time.Second) }, 1, low},
		{"held down", func(p pins) { p.edges(5*time.Second, low) }, 1, low},
		{"bounce on release", func(p pins) {
			p.edges(100*time.Millisecond, low)
			p.edges(3*time.Millisecond, high, low, high)
			time.Sleep(time.Second)
		}, 1, high},
		{"two presses", func(p pins) { p.edges(200*time.Millisecond, low, high, low, high) }, 2, high},
		{"glitch shorter than debounce", func(p pins) { p.edges(5*time.Millisecond, low, high); time.Sleep(time.Second) }, 0, high},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPins()
				g, err := NewGPIO(p.green, p.amber, p.red, p.button, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if p.button.P != gpio.PullUp || p.button.Read() != high {
					t.Fatalf("button not set up with pull-up: pull %v, level %v", p.button.P, p.button.Read())
				}
				presses := 0
				go func() {
					for range g.Presses() {
						presses++
					}
				}()
				tt.play(p)
				time.Sleep(time.Second)
				synctest.Wait()
				if err := g.Halt(); err != nil {
					t.Fatal(err)
				}
				close(g.presses)
				synctest.Wait()
				if presses != tt.want || p.button.Read() != tt.level {
					t.Fatalf("%d presses, line %v; want %d, %v", presses, p.button.Read(), tt.want, tt.level)
				}
			})
		})
	}
}

func TestPressTimeIsTheFirstEdge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPins()
		g, err := NewGPIO(p.green, p.amber, p.red, p.button, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Halt()
		time.Sleep(time.Second)
		start := time.Now()
		p.edges(2*time.Millisecond, gpio.Low, gpio.High, gpio.Low)
		if at := <-g.Presses(); !at.Equal(start) {
			t.Fatalf("press at %v, want %v (the first edge)", at.Sub(start), 0)
		}
	})
}

func TestLEDPatterns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPins()
		g, err := NewGPIO(p.green, p.amber, p.red, p.button, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p.leds() != [3]gpio.Level{} {
			t.Fatalf("LEDs at start: %v", p.leds())
		}
		g.Show(Signal{Green: On, Amber: Fast, Red: Slow})
		// Sample the LEDs in the middle of each tick for 2 s.
		time.Sleep(tick / 2)
		var green, amber, red []bool
		for range 16 {
			l := p.leds()
			green, amber, red = append(green, bool(l[0])), append(amber, bool(l[1])), append(red, bool(l[2]))
			time.Sleep(tick)
		}
		count := func(ls []bool) (on, changes int) {
			for i, l := range ls {
				if l {
					on++
				}
				if i > 0 && l != ls[i-1] {
					changes++
				}
			}
			return
		}
		if on, _ := count(green); on != 16 {
			t.Errorf("green On was lit %d of 16 ticks", on)
		}
		if on, ch := count(amber); on != 8 || ch != 15 {
			t.Errorf("amber Fast: lit %d of 16, %d changes; want 8 and 15", on, ch)
		}
		if on, ch := count(red); on != 8 || ch != 3 {
			t.Errorf("red Slow: lit %d of 16, %d changes; want 8 and 3", on, ch)
		}
		g.Show(Signal{Green: Off, Amber: On, Red: Off})
		if p.leds() != [3]gpio.Level{gpio.Low, gpio.High, gpio.Low} {
			t.Errorf("Show did not apply at once: %v", p.leds())
		}
		if err := g.Halt(); err != nil {
			t.Fatal(err)
		}
		if p.leds() != [3]gpio.Level{} {
			t.Errorf("Halt left LEDs lit: %v", p.leds())
		}
	})
}

func TestSimulated(t *testing.T) {
	p := NewSimulated()
	if p.Signal() != Dark {
		t.Fatalf("a new panel shows %+v", p.Signal())
	}
	p.Show(Signal{Green: On, Amber: Off, Red: Off})
	p.Press()
	p.Press() // not taken yet: dropped
	if len(p.Presses()) != 1 {
		t.Fatalf("%d presses waiting, want 1", len(p.Presses()))
	}
	<-p.Presses()
	p.Halt()
	if p.Signal() != Dark {
		t.Fatalf("Halt left %+v", p.Signal())
	}
	if p.Fault() != "" {
		t.Fatalf("a simulated panel has a fault: %q", p.Fault())
	}
}

func TestFailed(t *testing.T) {
	for _, why := range []string{"GPIO line busy: GPIO23 (button) is held by another process", ""} {
		p := NewFailed(why)
		if p.Signal() != Dark {
			t.Fatalf("a new failed panel shows %+v", p.Signal())
		}
		if p.Fault() == "" || why != "" && p.Fault() != why {
			t.Fatalf("NewFailed(%q).Fault() = %q", why, p.Fault())
		}
		s := Signal{Green: Off, Amber: Slow, Red: On}
		p.Show(s)
		if p.Signal() != s {
			t.Fatalf("Signal() = %+v after Show(%+v)", p.Signal(), s)
		}
		select {
		case at := <-p.Presses():
			t.Fatalf("a failed panel delivered a press at %v", at)
		default:
		}
		if err := p.Halt(); err != nil || p.Signal() != Dark {
			t.Fatalf("Halt() = %v, signal %+v", err, p.Signal())
		}
	}
}

// Every panel has the methods the serve command uses.
var _ = []interface {
	Show(Signal)
	Presses() <-chan time.Time
	Halt() error
	Fault() string
}{(*GPIO)(nil), (*Simulated)(nil), (*Failed)(nil)}
