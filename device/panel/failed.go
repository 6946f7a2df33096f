package panel

import (
	"sync"
	"time"
)

// Failed stands in for a panel that could not be opened (a line missing or
// held by another process): the station keeps running without LEDs and
// button, and Fault says why, for the readiness check to report. It
// remembers the signal it was asked to show. Its methods are safe for
// concurrent use.
type Failed struct {
	why     string
	presses chan time.Time // never sent to: no button

	mu     sync.Mutex
	signal Signal
}

// NewFailed returns a failed panel; why is what Fault reports, e.g. the
// error of OpenGPIO. An empty why is replaced, since an empty Fault means a
// working panel.
func NewFailed(why string) *Failed {
	if why == "" {
		why = "the panel could not be opened"
	}
	return &Failed{why: why, presses: make(chan time.Time), signal: Dark}
}

// Show remembers the signal; no LED lights.
func (p *Failed) Show(s Signal) {
	p.mu.Lock()
	p.signal = s
	p.mu.Unlock()
}

// Signal returns the signal the panel was last asked to show.
func (p *Failed) Signal() Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signal
}

// Presses returns a channel that never delivers: there is no button.
func (p *Failed) Presses() <-chan time.Time { return p.presses }

// Halt forgets the signal (Dark) and returns nil: nothing is lit.
func (p *Failed) Halt() error {
	p.Show(Dark)
	return nil
}

// Fault returns why the panel failed; never "".
func (p *Failed) Fault() string { return p.why }
