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

// remembered is LEDs that only remember the signal they were asked to
// show: the simulated panel's, and a failed panel's.
type remembered struct {
	mu     sync.Mutex
	signal Signal
}

// Show implements the station's Lights.
func (r *remembered) Show(s Signal) {
	r.mu.Lock()
	r.signal = s
	r.mu.Unlock()
}

// Signal returns the signal the LEDs were last asked to show.
func (r *remembered) Signal() Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.signal
}

// Halt turns the LEDs off.
func (r *remembered) Halt() error {
	r.Show(Dark)
	return nil
}

// Simulated is a panel without hardware: it remembers the signal it was
// asked to show, and a press is made with Press (the API's simulated
// button). Its methods are safe for concurrent use.
type Simulated struct {
	remembered
	presses chan time.Time
}

// NewSimulated returns a dark simulated panel.
func NewSimulated() *Simulated {
	return &Simulated{remembered: remembered{signal: Dark}, presses: make(chan time.Time, 1)}
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

// Fault returns "": a simulated panel cannot fail.
func (p *Simulated) Fault() string { return "" }
