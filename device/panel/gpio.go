package panel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	_ "periph.io/x/host/v3/gpioioctl" // the Linux GPIO character device; only this driver, see OpenGPIO
)

// Pins names the GPIO lines of the panel, as the kernel names them
// (Raspberry Pi OS: "GPIO17").
type Pins struct {
	Green, Amber, Red, Button string
}

// DefaultPins are the lines the appliance's wiring diagram uses.
var DefaultPins = Pins{Green: "GPIO17", Amber: "GPIO27", Red: "GPIO22", Button: "GPIO23"}

// Options tune the GPIO panel. The zero value is the appliance's wiring:
// LEDs lit by a high line, and the default logger.
type Options struct {
	// ActiveLow is for LEDs wired from 3.3 V through the resistor to the
	// pin, so that a low line lights them. The WRONG POLARITY LIGHTS EVERY
	// LED THAT SHOULD BE DARK and darkens the lit ones: it must match the
	// wiring (docs/FIRMWARE.md, "Wiring"), and the firmware's config.txt
	// should then drive the lines high at boot.
	ActiveLow bool
	// Logger gets a warning when an LED or the button starts failing and a
	// line when it works again. Nil: slog.Default().
	Logger *slog.Logger
}

// Errors of OpenGPIO and NewGPIO that a caller tells apart with errors.Is.
// Any other error (a GPIO chip that exists but cannot be opened, say for
// lack of permission) is neither of these: the GPIO is there but broken,
// which must not pass for a machine without GPIO.
var (
	// ErrNoGPIO means the machine has no GPIO chip at all, or no line of
	// the given name (the message names it), as on a PC.
	ErrNoGPIO = errors.New("no GPIO")
	// ErrLineBusy means the kernel refused a line because another process
	// holds it (EBUSY; the message names the line, gpioinfo names the
	// holder).
	ErrLineBusy = errors.New("GPIO line busy")
)

// Timing of the button and the blinking.
const (
	// Debounce is how long the button's line must stay still before its
	// level counts: contacts bounce for a few milliseconds.
	Debounce = 30 * time.Millisecond
	// buttonPoll bounds each wait for an edge, so that the button loop
	// notices its end; gpioioctl's "wait forever" differs from the
	// interface's, so no infinite wait is used. A wait that returns
	// without an edge long before this is a failure (see watchButton), and
	// the loop then waits this long before trying again.
	buttonPoll = 250 * time.Millisecond
	// tick is the blink clock: Fast toggles every tick, Slow every 4.
	tick = 125 * time.Millisecond
)

// The panel's parts, as indexes of GPIO.parts; the LEDs first, in the
// order of GPIO.leds.
const (
	partGreen = iota
	partAmber
	partRed
	partButton
)

// part is an LED or the button as Fault reports it.
type part struct {
	what string // e.g. "LED green (GPIO17)"
	err  error  // the latest failure; nil while it works
	seq  uint64 // when err began, to find the latest failure
}

// GPIO is a panel on GPIO lines: three LEDs and a button wired to ground
// with the line's pull-up (pressed = low). Its methods are safe for
// concurrent use; an LED or button that fails does not stop it (see Fault).
type GPIO struct {
	leds      [3]gpio.PinOut // green, amber, red
	button    gpio.PinIn
	activeLow bool
	log       *slog.Logger
	presses   chan time.Time

	mu     sync.Mutex
	signal Signal
	phase  int
	parts  [4]part
	seq    uint64

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// OpenGPIO finds the named lines through the Linux GPIO character device,
// requests them (see NewGPIO) and starts the panel. Only the gpioioctl
// driver is loaded: the register drivers of periph's host package guess
// the SoC and are wrong on a Pi 5.
//
// It returns ErrNoGPIO when there is no GPIO chip or no line of a name,
// ErrLineBusy when another process holds a line, and a plain error naming
// the device when a /dev/gpiochip* exists but cannot be opened: periph
// skips such a chip with only a line in the standard logger, so its lines
// would look missing, and OpenGPIO opens the chips itself first to tell.
func OpenGPIO(pins Pins, opt Options) (*GPIO, error) {
	unopened, err := checkChips(chipGlob)
	if err != nil {
		return nil, err
	}
	// driverreg.Init runs the drivers once per process and then returns
	// that first result: lines are looked up in what it found then.
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("GPIO drivers: %w", err)
	}
	var lines [4]gpio.PinIO
	for i, name := range []string{pins.Green, pins.Amber, pins.Red, pins.Button} {
		if lines[i] = gpioreg.ByName(name); lines[i] != nil {
			continue
		}
		if unopened != nil {
			// The line may well be on the chip that could not be opened.
			return nil, fmt.Errorf("GPIO line %s (%s) not found: %w", name, role(i), unopened)
		}
		return nil, fmt.Errorf("%w: no line named %q (%s)", ErrNoGPIO, name, role(i))
	}
	return NewGPIO(lines[0], lines[1], lines[2], lines[3], opt)
}

// NewGPIO starts a panel on the given pins (periph's gpiotest pins in
// tests). It requests every line at once: the LEDs as outputs driven dark,
// the button as an input with pull-up and both edges. When one fails, the
// lines requested before it (and the failing one) are released again, and
// the error is ErrLineBusy if another process holds the line. Lines are
// released by their Close method, when they have one (gpioioctl's lines
// do).
func NewGPIO(green, amber, red gpio.PinOut, button gpio.PinIn, opt Options) (*GPIO, error) {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &GPIO{leds: [3]gpio.PinOut{green, amber, red}, button: button, activeLow: opt.ActiveLow,
		log: log, presses: make(chan time.Time, 1), signal: Dark}
	for i, l := range p.leds {
		p.parts[i].what = fmt.Sprintf("%s (%s)", role(i), l.Name())
	}
	p.parts[partButton].what = fmt.Sprintf("%s (%s)", role(partButton), button.Name())

	var requested []any
	for i, l := range p.leds {
		requested = append(requested, l)
		if err := l.Out(p.drive(false)); err != nil {
			release(requested)
			return nil, lineError(role(i), l.Name(), err)
		}
	}
	requested = append(requested, button)
	if err := button.In(gpio.PullUp, gpio.BothEdges); err != nil {
		release(requested)
		return nil, lineError(role(partButton), button.Name(), err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(2)
	go p.blink(ctx)
	go p.watchButton(ctx)
	return p, nil
}

// role is what part i of the panel is, in messages.
func role(i int) string {
	return [...]string{"LED green", "LED amber", "LED red", "button"}[i]
}

// lineError is the error of requesting a line: ErrLineBusy when the
// kernel said EBUSY, else the error with the line's name.
func lineError(role, name string, err error) error {
	if isBusy(err) {
		return fmt.Errorf("%w: %s (%s) is held by another process (gpioinfo shows which): %w", ErrLineBusy, name, role, err)
	}
	return fmt.Errorf("%s (%s): %w", role, name, err)
}

// release gives requested lines back to the kernel. periph's gpio
// interfaces have no way to do it: gpioioctl's lines have Close(), other
// pins may have Close() error, and pins with neither hold nothing.
func release(pins []any) {
	for _, p := range pins {
		switch c := p.(type) {
		case interface{ Close() error }:
			_ = c.Close()
		case interface{ Close() }:
			c.Close()
		}
	}
}

// Show sets the LEDs at once; blinking goes on in the background.
func (p *GPIO) Show(s Signal) {
	p.mu.Lock()
	p.signal = s
	p.mu.Unlock()
	p.render()
}

// Presses delivers one time per press of the button, debounced.
func (p *GPIO) Presses() <-chan time.Time { return p.presses }

// Fault returns "" while every LED and the button work, else the latest
// failure in words, e.g. "LED green (GPIO17): <error>". A failing part is
// tried again at every blink tick (LEDs) or poll (button), and its fault
// clears when it works again.
func (p *GPIO) Fault() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var latest *part
	for i := range p.parts {
		if pt := &p.parts[i]; pt.err != nil && (latest == nil || pt.seq > latest.seq) {
			latest = pt
		}
	}
	if latest == nil {
		return ""
	}
	return latest.what + ": " + latest.err.Error()
}

// Halt stops the panel and leaves every LED dark: not lit, whatever the
// wiring. That is each line driven to its unlit level: low when the LEDs
// are active-high, HIGH when they are active-low. An active-low LED must
// not be left low (lit) nor floating (an input's pull-down would sink a
// little current through it and light it faintly); driven high, both ends
// of it are at 3.3 V. The lines stay requested, at that level, until the
// process ends and the kernel releases them (docs/FIRMWARE.md, "Wiring",
// says what the pins do then). The panel must not be used afterwards.
func (p *GPIO) Halt() error {
	p.cancel()
	p.done.Wait()
	var errs []error
	for i, l := range p.leds {
		if err := l.Out(p.drive(false)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.parts[i].what, err))
		}
	}
	return errors.Join(errs...)
}

// drive is the level of an LED's line that lights it (lit) or not.
func (p *GPIO) drive(lit bool) gpio.Level {
	return gpio.Level(lit != p.activeLow)
}

// isLit tells whether an LED showing pat is lit at the blink phase.
func isLit(pat Pattern, phase int) bool {
	switch pat {
	case On:
		return true
	case Fast:
		return phase%2 == 0
	case Slow:
		return phase%8 < 4
	}
	return false
}

// render writes the current signal at the current blink phase.
func (p *GPIO) render() {
	p.mu.Lock()
	s, phase := p.signal, p.phase
	p.mu.Unlock()
	for i, pat := range []Pattern{s.Green, s.Amber, s.Red} {
		// An LED that cannot be set is not worth stopping the station
		// for: it is reported (Fault, the log) and tried again next tick.
		p.report(i, p.leds[i].Out(p.drive(isLit(pat, phase))))
	}
}

// report records whether a part worked (err == nil). It logs only the
// changes, a warning when the part starts failing and a line when it
// works again, not every failed write of the blink clock.
func (p *GPIO) report(i int, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt := &p.parts[i]
	switch {
	case err != nil && pt.err == nil:
		p.seq++
		pt.seq = p.seq
		p.log.Warn("panel part fails; the station carries on without it", "part", pt.what, "err", err)
	case err == nil && pt.err != nil:
		p.log.Info("panel part works again", "part", pt.what)
	}
	pt.err = err
}

func (p *GPIO) blink(ctx context.Context) {
	defer p.done.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.mu.Lock()
			p.phase++
			p.mu.Unlock()
			p.render()
		}
	}
}

// errEdgeWait is the button's fault when waiting for an edge fails.
// periph's WaitForEdge returns only false, for a timeout as for a failure
// (gpioioctl writes the reason to the standard logger), so a wait that
// ends long before its timeout is taken as a failure.
var errEdgeWait = errors.New("waiting for an edge failed at once (the reason is in the log, from periph)")

// watchButton turns the button's edges into presses: after an edge it
// waits until the line has been still for Debounce, then a low line that
// was high is one press. Bounces and holding the button give no more.
//
// Read has no way to report a failure through periph's interface
// (gpioioctl then returns low and logs): it is only called right after an
// edge, when the line has just worked.
func (p *GPIO) watchButton(ctx context.Context) {
	defer p.done.Done()
	pressed := false
	for ctx.Err() == nil {
		start := time.Now()
		if !p.button.WaitForEdge(buttonPoll) {
			if ctx.Err() != nil {
				return
			}
			if time.Since(start) < buttonPoll/2 {
				p.report(partButton, errEdgeWait)
				// Not a busy loop on a broken line: try again later.
				select {
				case <-ctx.Done():
				case <-time.After(buttonPoll):
				}
				continue
			}
			p.report(partButton, nil) // a whole wait without an edge: fine
			continue
		}
		p.report(partButton, nil)
		at := time.Now()
		for p.button.WaitForEdge(Debounce) && ctx.Err() == nil {
		}
		switch down := p.button.Read() == gpio.Low; {
		case down && !pressed:
			pressed = true
			select {
			case p.presses <- at:
			default: // the last press has not been taken yet: one is enough
			}
		case !down:
			pressed = false
		}
	}
}
