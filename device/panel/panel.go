// Package panel drives the station's three LEDs (green, amber, red) and
// reads its push button: on GPIO lines through periph, or simulated where
// the machine has no GPIO, so the station runs the same either way. Failed
// stands in for a panel that should be there but could not be opened.
//
// GPIO, Simulated and Failed share one set of methods: Show(Signal),
// Presses() <-chan time.Time, Halt() error and Fault() string.
package panel

import (
	"sync"
	"time"
)

// Pattern is what one LED does.
type Pattern string

// The patterns an LED can show.
const (
	Off  Pattern = "off"
	On   Pattern = "on"
	Slow Pattern = "slow" // 1 Hz blink
	Fast Pattern = "fast" // 4 Hz blink
)

// Signal is what the three LEDs show together.
type Signal struct {
	Green Pattern
	Amber Pattern
	Red   Pattern
}

// Dark is every LED off.
var Dark = Signal{Off, Off, Off}

// Simulated is a panel without hardware: it remembers the signal it was
// asked to show, and a press is made with Press (the API's simulated
// button). Its methods are safe for concurrent use.
type Simulated struct {
	mu      sync.Mutex
	signal  Signal
	presses chan time.Time
}

// NewSimulated returns a dark simulated panel.
func NewSimulated() *Simulated {
	return &Simulated{signal: Dark, presses: make(chan time.Time, 1)}
}

// Show implements the station's Lights.
func (p *Simulated) Show(s Signal) {
	p.mu.Lock()
	p.signal = s
	p.mu.Unlock()
}

// Signal returns what the LEDs show now.
func (p *Simulated) Signal() Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signal
}

// Presses delivers button presses.
func (p *Simulated) Presses() <-chan time.Time { return p.presses }

// Press presses the button once. A press while the previous one is still
// waiting to be taken is dropped, as a second press of a real button
// within its debounce time would be.
func (p *Simulated) Press() {
	select {
	case p.presses <- time.Now():
	default:
	}
}

// Halt turns the LEDs off.
func (p *Simulated) Halt() error {
	p.Show(Dark)
	return nil
}

// Fault returns "": a simulated panel cannot fail.
func (p *Simulated) Fault() string { return "" }
