package auth

import (
	"sync"
	"time"
)

// Failed authentication is limited per client address: after a number of
// failures within FailureWindow, the address is refused until the window
// ends. This slows guessing without locking out a whole site.
const (
	// MaxTokenFailures is the failed API token authentications allowed
	// from one address within FailureWindow.
	MaxTokenFailures = 10
	// MaxSignInFailures is the failed sign-ins on the pages allowed from
	// one address within FailureWindow.
	MaxSignInFailures = 5
	// FailureWindow is the time, from an address's first failure, within
	// which its failures are counted, and how long it waits once refused.
	FailureWindow = time.Minute
	// MaxTrackedHosts bounds the addresses a Limiter remembers: once it
	// holds this many, the ones whose window has passed are forgotten.
	MaxTrackedHosts = 10000
)

type failures struct {
	count int
	start time.Time
}

// Limiter counts failed authentications by client address. It is safe for
// concurrent use. Its clock is injected, so tests need not sleep.
type Limiter struct {
	max   int // failures allowed within FailureWindow
	now   func() time.Time
	mu    sync.Mutex
	hosts map[string]*failures
}

// NewLimiter returns a Limiter that refuses an address after max failures
// within FailureWindow. now is its clock; nil means time.Now.
func NewLimiter(max int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max, now: now, hosts: map[string]*failures{}}
}

// Blocked says how long host must wait, or 0 when it may try. An address
// that has waited out its window starts afresh.
func (l *Limiter) Blocked(host string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.hosts[host]
	if f == nil || f.count < l.max {
		return 0
	}
	wait := f.start.Add(FailureWindow).Sub(l.now())
	if wait <= 0 {
		delete(l.hosts, host)
		return 0
	}
	return wait
}

// Fail records one failed attempt from host. The window starts at the
// first failure and is not extended by later ones.
func (l *Limiter) Fail(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.hosts[host]
	if f == nil || now.Sub(f.start) >= FailureWindow {
		if len(l.hosts) >= MaxTrackedHosts {
			l.prune(now)
		}
		f = &failures{start: now}
		l.hosts[host] = f
	}
	f.count++
}

// prune forgets the addresses whose window has passed; l.mu is held.
func (l *Limiter) prune(now time.Time) {
	for h, f := range l.hosts {
		if now.Sub(f.start) >= FailureWindow {
			delete(l.hosts, h)
		}
	}
}
