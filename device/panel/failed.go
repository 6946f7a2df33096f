package panel

import "time"

// Failed stands in for a panel that could not be opened (a line missing or
// held by another process): the station keeps running without LEDs and
// button, and Fault says why, for the readiness check to report. It
// remembers the signal it was asked to show, and lights nothing. Its
// methods are safe for concurrent use.
type Failed struct {
	remembered
	why     string
	presses chan time.Time // never sent to: no button
}

// NewFailed returns a failed panel; why is what Fault reports, e.g. the
// error of OpenGPIO. An empty why is replaced, since an empty Fault means a
// working panel.
func NewFailed(why string) *Failed {
	if why == "" {
		why = "the panel could not be opened"
	}
	return &Failed{remembered: remembered{signal: Dark}, why: why, presses: make(chan time.Time)}
}

// Presses returns a channel that never delivers: there is no button.
func (p *Failed) Presses() <-chan time.Time { return p.presses }

// Fault returns why the panel failed; never "".
func (p *Failed) Fault() string { return p.why }
