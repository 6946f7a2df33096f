package panel

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// failPin is a gpiotest.Pin whose line request (In, Out) and writes can be
// made to fail, whose edge wait can fail at once, and that counts its
// requests and releases (Close, as gpioioctl's lines have).
type failPin struct {
	gpiotest.Pin

	mu        sync.Mutex
	outErr    error // Out fails with it
	inErr     error // In fails with it
	edgeFails bool  // WaitForEdge returns false at once
	requests  int   // calls of In and Out
	edgeWaits int   // calls of WaitForEdge
	closes    int
}

func (p *failPin) set(f func(p *failPin)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func (p *failPin) get(f func(p *failPin) int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return f(p)
}

func (p *failPin) Out(l gpio.Level) error {
	p.mu.Lock()
	p.requests++
	err := p.outErr
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.Pin.Out(l)
}

func (p *failPin) In(pull gpio.Pull, edge gpio.Edge) error {
	p.mu.Lock()
	p.requests++
	err := p.inErr
	p.mu.Unlock()
	if err != nil {
		return err
	}
	return p.Pin.In(pull, edge)
}

func (p *failPin) WaitForEdge(timeout time.Duration) bool {
	p.mu.Lock()
	p.edgeWaits++
	fails := p.edgeFails
	p.mu.Unlock()
	if fails {
		return false
	}
	return p.Pin.WaitForEdge(timeout)
}

func (p *failPin) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closes++
	return nil
}

func newFailPins() [4]*failPin {
	return [4]*failPin{
		{Pin: gpiotest.Pin{N: "GPIO17"}},
		{Pin: gpiotest.Pin{N: "GPIO27"}},
		{Pin: gpiotest.Pin{N: "GPIO22"}},
		{Pin: gpiotest.Pin{N: "GPIO23", EdgesChan: make(chan gpio.Level, 16)}},
	}
}

// logBuffer collects a logger's text output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// count is how many lines have all the given parts.
func (b *logBuffer) count(parts ...string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for line := range strings.Lines(b.buf.String()) {
		all := true
		for _, s := range parts {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

func newLog() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func TestLEDPolarity(t *testing.T) {
	tests := []struct {
		pattern     Pattern
		lit, change int // of 16 ticks
	}{
		{Off, 0, 0},
		{On, 16, 0},
		{Fast, 8, 15},
		{Slow, 8, 3},
	}
	for _, activeLow := range []bool{false, true} {
		dark := gpio.Level(activeLow) // the unlit level of every LED
		for _, tt := range tests {
			name := string(tt.pattern) + "/active-high"
			if activeLow {
				name = string(tt.pattern) + "/active-low"
			}
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p := newPins()
					g, err := NewGPIO(p.green, p.amber, p.red, p.button, Options{ActiveLow: activeLow})
					if err != nil {
						t.Fatal(err)
					}
					if p.leds() != [3]gpio.Level{dark, dark, dark} {
						t.Fatalf("LEDs at start: %v, want all %v (dark)", p.leds(), dark)
					}
					g.Show(Signal{Green: tt.pattern, Amber: tt.pattern, Red: tt.pattern})
					time.Sleep(tick / 2)
					var lit, changes [3]int
					var last [3]gpio.Level
					for i := range 16 {
						for led, l := range p.leds() {
							if l != dark {
								lit[led]++
							}
							if i > 0 && l != last[led] {
								changes[led]++
							}
							last[led] = l
						}
						time.Sleep(tick)
					}
					for led := range 3 {
						if lit[led] != tt.lit || changes[led] != tt.change {
							t.Errorf("%s: lit %d of 16 ticks, %d changes; want %d and %d", role(led), lit[led], changes[led], tt.lit, tt.change)
						}
					}
					if err := g.Halt(); err != nil {
						t.Fatal(err)
					}
					if p.leds() != [3]gpio.Level{dark, dark, dark} {
						t.Errorf("after Halt: %v, want all %v (dark)", p.leds(), dark)
					}
					if f := g.Fault(); f != "" {
						t.Errorf("Fault() = %q", f)
					}
				})
			})
		}
	}
}

func TestHaltDark(t *testing.T) {
	tests := []struct {
		name      string
		activeLow bool
		dark      gpio.Level
	}{
		{"active-high: off is low", false, gpio.Low},
		{"active-low: off is high", true, gpio.High},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := newPins()
				g, err := NewGPIO(p.green, p.amber, p.red, p.button, Options{ActiveLow: tt.activeLow})
				if err != nil {
					t.Fatal(err)
				}
				g.Show(Signal{Green: On, Amber: On, Red: On})
				if lit := !tt.dark; p.leds() != [3]gpio.Level{lit, lit, lit} {
					t.Fatalf("all On: %v, want all %v", p.leds(), lit)
				}
				time.Sleep(time.Second)
				if err := g.Halt(); err != nil {
					t.Fatal(err)
				}
				if d := tt.dark; p.leds() != [3]gpio.Level{d, d, d} {
					t.Fatalf("after Halt: %v, want all %v", p.leds(), d)
				}
			})
		})
	}
}

func TestLEDFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pins := newFailPins()
		log, logs := newLog()
		g, err := NewGPIO(pins[0], pins[1], pins[2], pins[3], Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Halt()
		g.Show(Signal{Green: On, Amber: Off, Red: Fast})
		time.Sleep(time.Second)
		if f := g.Fault(); f != "" {
			t.Fatalf("Fault() = %q while everything works", f)
		}

		pins[2].set(func(p *failPin) { p.outErr = errors.New("write: input/output error") })
		time.Sleep(2 * time.Second) // 16 blink ticks, each writing the red LED
		if f, want := g.Fault(), "LED red (GPIO22): write: input/output error"; f != want {
			t.Fatalf("Fault() = %q, want %q", f, want)
		}
		if n := logs.count("level=WARN", `part="LED red (GPIO22)"`, "input/output error"); n != 1 {
			t.Fatalf("%d warnings for the red LED, want 1:\n%s", n, logs.buf.String())
		}

		// The latest failure is the one reported.
		pins[0].set(func(p *failPin) { p.outErr = errors.New("no such device") })
		time.Sleep(time.Second)
		if f, want := g.Fault(), "LED green (GPIO17): no such device"; f != want {
			t.Fatalf("Fault() = %q, want %q", f, want)
		}
		pins[0].set(func(p *failPin) { p.outErr = nil })
		time.Sleep(time.Second)
		if f, want := g.Fault(), "LED red (GPIO22): write: input/output error"; f != want {
			t.Fatalf("Fault() = %q after green works again, want %q", f, want)
		}

		pins[2].set(func(p *failPin) { p.outErr = nil })
		time.Sleep(time.Second)
		if f := g.Fault(); f != "" {
			t.Fatalf("Fault() = %q after every LED works again", f)
		}
		if n := logs.count("level=INFO", "works again", `part="LED red (GPIO22)"`); n != 1 {
			t.Fatalf("%d lines saying the red LED works again, want 1:\n%s", n, logs.buf.String())
		}
		if n := logs.count("level=WARN"); n != 2 {
			t.Fatalf("%d warnings in all, want 2 (red, green):\n%s", n, logs.buf.String())
		}
	})
}

func TestButtonFault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pins := newFailPins()
		pins[3].edgeFails = true
		log, logs := newLog()
		g, err := NewGPIO(pins[0], pins[1], pins[2], pins[3], Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if f := g.Fault(); !strings.HasPrefix(f, "button (GPIO23): waiting for an edge failed") {
			t.Fatalf("Fault() = %q, want the button's failure", f)
		}
		if n := logs.count("level=WARN", `part="button (GPIO23)"`); n != 1 {
			t.Fatalf("%d warnings for the button, want 1:\n%s", n, logs.buf.String())
		}
		if n := pins[3].get(func(p *failPin) int { return p.edgeWaits }); n > 5 {
			t.Fatalf("%d edge waits in 1 s on a failing line: a busy loop", n)
		}

		pins[3].set(func(p *failPin) { p.edgeFails = false })
		time.Sleep(time.Second)
		if f := g.Fault(); f != "" {
			t.Fatalf("Fault() = %q after the button works again", f)
		}
		pins[3].EdgesChan <- gpio.Low
		time.Sleep(100 * time.Millisecond)
		if _, ok := <-g.Presses(); !ok {
			t.Fatal("no press")
		}
		if err := g.Halt(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestNewGPIOLineErrors(t *testing.T) {
	busyText := errors.New("line_request ioctl: device or resource busy") // gpioioctl's text-only error
	busyOut := errors.New("GPIOLine.Out(): line_request ioctl: device or resource busy")
	busyErrno := &os.SyscallError{Syscall: "ioctl", Err: syscall.EBUSY}
	denied := errors.New("line_request ioctl: operation not permitted")
	tests := []struct {
		name  string
		fails int // the pin whose request fails: 0-2 LEDs, 3 the button
		err   error
		busy  bool
		text  string
	}{
		{"green busy", 0, busyOut, true, "GPIO line busy: GPIO17 (LED green) is held by another process"},
		{"amber busy", 1, busyOut, true, "GPIO27 (LED amber)"},
		{"red busy, errno kept", 2, busyErrno, true, "GPIO22 (LED red)"},
		{"button busy", 3, busyText, true, "GPIO line busy: GPIO23 (button) is held by another process"},
		{"button not permitted", 3, denied, false, "button (GPIO23): line_request ioctl: operation not permitted"},
		{"amber not permitted", 1, denied, false, "LED amber (GPIO27): "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pins := newFailPins()
			if tt.fails == 3 {
				pins[3].inErr = tt.err
			} else {
				pins[tt.fails].outErr = tt.err
			}
			g, err := NewGPIO(pins[0], pins[1], pins[2], pins[3], Options{})
			if err == nil {
				g.Halt()
				t.Fatal("NewGPIO succeeded")
			}
			if errors.Is(err, ErrLineBusy) != tt.busy || errors.Is(err, ErrNoGPIO) {
				t.Errorf("error %q: ErrLineBusy %v (want %v), ErrNoGPIO %v (want false)",
					err, errors.Is(err, ErrLineBusy), tt.busy, errors.Is(err, ErrNoGPIO))
			}
			if !strings.Contains(err.Error(), tt.text) || !errors.Is(err, tt.err) {
				t.Errorf("error %q: want it to contain %q and wrap %q", err, tt.text, tt.err)
			}
			for i, p := range pins {
				requested, closes := p.get(func(p *failPin) int { return p.requests }), p.get(func(p *failPin) int { return p.closes })
				switch {
				case i <= tt.fails && (requested != 1 || closes != 1):
					t.Errorf("%s: requested %d times, released %d times; want 1 and 1", role(i), requested, closes)
				case i > tt.fails && (requested != 0 || closes != 0):
					t.Errorf("%s (after the failing one): requested %d times, released %d; want 0 and 0", role(i), requested, closes)
				}
			}
		})
	}

	t.Run("no failure releases nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			pins := newFailPins()
			g, err := NewGPIO(pins[0], pins[1], pins[2], pins[3], Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Halt(); err != nil {
				t.Fatal(err)
			}
			for i, p := range pins {
				if n := p.get(func(p *failPin) int { return p.closes }); n != 0 {
					t.Errorf("%s released %d times", role(i), n)
				}
			}
		})
	})
}

func TestHaltReportsLEDErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pins := newFailPins()
		log, _ := newLog()
		g, err := NewGPIO(pins[0], pins[1], pins[2], pins[3], Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		pins[1].set(func(p *failPin) { p.outErr = errors.New("gone") })
		if err := g.Halt(); err == nil || err.Error() != "LED amber (GPIO27): gone" {
			t.Fatalf("Halt() = %v, want the amber LED's error", err)
		}
	})
}

func TestOpenGPIOErrors(t *testing.T) {
	// chip makes a device that opens (a plain file); unopenable one that
	// cannot be opened even by root (a Unix socket: ENXIO), as a chip
	// without permission cannot.
	chip := func(t *testing.T, path string) {
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unopenable := func(t *testing.T, path string) {
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Skipf("no Unix socket for an unopenable chip: %v", err)
		}
		t.Cleanup(func() { ln.Close() })
	}
	tests := []struct {
		name   string
		make   func(t *testing.T, dir string)
		noGPIO bool
		text   []string
	}{
		{"no chip at all", func(*testing.T, string) {}, true, []string{"no GPIO: no GPIO chip"}},
		{"chips open, no such line", func(t *testing.T, dir string) {
			chip(t, filepath.Join(dir, "gpiochip0"))
		}, true, []string{`no GPIO: no line named "NO-SUCH-LINE" (LED green)`}},
		{"the only chip cannot be opened", func(t *testing.T, dir string) {
			unopenable(t, filepath.Join(dir, "gpiochip0"))
		}, false, []string{"GPIO chip cannot be opened", "gpiochip0"}},
		{"one of two chips cannot be opened, line not found", func(t *testing.T, dir string) {
			chip(t, filepath.Join(dir, "gpiochip0"))
			unopenable(t, filepath.Join(dir, "gpiochip1"))
		}, false, []string{"NO-SUCH-LINE", "gpiochip1", "cannot be opened"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A short directory: a Unix socket's path has a length limit.
			dir, err := os.MkdirTemp("", "gpio")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			tt.make(t, dir)
			defer func(old string) { chipGlob = old }(chipGlob)
			chipGlob = filepath.Join(dir, "gpiochip*")

			g, err := OpenGPIO(Pins{Green: "NO-SUCH-LINE", Amber: "x", Red: "y", Button: "z"}, Options{})
			if err == nil {
				g.Halt()
				t.Fatal("OpenGPIO succeeded")
			}
			if errors.Is(err, ErrNoGPIO) != tt.noGPIO || errors.Is(err, ErrLineBusy) {
				t.Errorf("error %q: ErrNoGPIO %v, want %v", err, errors.Is(err, ErrNoGPIO), tt.noGPIO)
			}
			for _, s := range tt.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}
