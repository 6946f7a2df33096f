package panel

import (
	"context"
	"errors"
	"fmt"
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

// ErrNoGPIO means the machine has no GPIO lines of the given names.
var ErrNoGPIO = errors.New("no GPIO")

// Timing of the button and the blinking.
const (
	// Debounce is how long the button's line must stay still before its
	// level counts: contacts bounce for a few milliseconds.
	Debounce = 30 * time.Millisecond
	// buttonPoll bounds each wait for an edge, so that the button loop
	// notices its end; gpioioctl's "wait forever" differs from the
	// interface's, so no infinite wait is used.
	buttonPoll = 250 * time.Millisecond
	// tick is the blink clock: Fast toggles every tick, Slow every 4.
	tick = 125 * time.Millisecond
)

// GPIO is a panel on GPIO lines: three LEDs and a button wired to ground
// with the line's pull-up (pressed = low).
type GPIO struct {
	green, amber, red gpio.PinOut
	button            gpio.PinIn
	presses           chan time.Time

	mu     sync.Mutex
	signal Signal
	phase  int

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// OpenGPIO finds the named lines through the Linux GPIO character device
// and starts the panel. Only the gpioioctl driver is loaded: the register
// drivers of periph's host package guess the SoC and are wrong on a Pi 5.
// It returns ErrNoGPIO when a line does not exist, as on a PC.
func OpenGPIO(pins Pins) (*GPIO, error) {
	if _, err := driverreg.Init(); err != nil {
		return nil, fmt.Errorf("GPIO drivers: %w", err)
	}
	var lines [4]gpio.PinIO
	for i, name := range []string{pins.Green, pins.Amber, pins.Red, pins.Button} {
		if lines[i] = gpioreg.ByName(name); lines[i] == nil {
			return nil, fmt.Errorf("%w: no line named %q", ErrNoGPIO, name)
		}
	}
	return NewGPIO(lines[0], lines[1], lines[2], lines[3])
}

// NewGPIO starts a panel on the given pins (periph's gpiotest pins in
// tests). The button is set up with pull-up and both edges.
func NewGPIO(green, amber, red gpio.PinOut, button gpio.PinIn) (*GPIO, error) {
	if err := button.In(gpio.PullUp, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("button: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &GPIO{green: green, amber: amber, red: red, button: button, presses: make(chan time.Time, 1),
		signal: Dark, cancel: cancel}
	p.render()
	p.done.Add(2)
	go p.blink(ctx)
	go p.watchButton(ctx)
	return p, nil
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

// Halt stops the panel and turns every LED off. The panel must not be
// used afterwards.
func (p *GPIO) Halt() error {
	p.cancel()
	p.done.Wait()
	return errors.Join(p.green.Out(gpio.Low), p.amber.Out(gpio.Low), p.red.Out(gpio.Low))
}

func level(pat Pattern, phase int) gpio.Level {
	switch pat {
	case On:
		return gpio.High
	case Fast:
		return phase%2 == 0
	case Slow:
		return phase%8 < 4
	}
	return gpio.Low
}

// render writes the current signal at the current blink phase.
func (p *GPIO) render() {
	p.mu.Lock()
	s, phase := p.signal, p.phase
	p.mu.Unlock()
	// An LED that cannot be set is not worth stopping the station for.
	_ = p.green.Out(level(s.Green, phase))
	_ = p.amber.Out(level(s.Amber, phase))
	_ = p.red.Out(level(s.Red, phase))
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

// watchButton turns the button's edges into presses: after an edge it
// waits until the line has been still for Debounce, then a low line that
// was high is one press. Bounces and holding the button give no more.
func (p *GPIO) watchButton(ctx context.Context) {
	defer p.done.Done()
	pressed := false
	for ctx.Err() == nil {
		if !p.button.WaitForEdge(buttonPoll) {
			continue
		}
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
