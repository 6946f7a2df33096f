package auth

import (
	"sync"
	"time"
)

// Failed authentication is limited by key: a client address, or the
// account name a sign-in tries. After a number of failures within
// FailureWindow, the key is refused until the window ends. This slows
// guessing without locking out a whole site for good.
const (
	// MaxTokenFailures is the failed API token authentications allowed
	// from one address within FailureWindow; later bad tokens get 429.
	MaxTokenFailures = 10
	// MaxSignInFailures is the failed sign-ins on the pages allowed for
	// one account name, and from one address, within FailureWindow.
	MaxSignInFailures = 5
	// FailureWindow is the time, from a key's first attempt, within which
	// its failures are counted, and how long it waits once refused.
	FailureWindow = time.Minute
	// MaxTrackedKeys bounds the keys a Limiter remembers, so that a flood
	// of new addresses or names cannot grow it without end: once it holds
	// this many, the ones whose window has passed are forgotten, and if
	// none has, one of the others.
	MaxTrackedKeys = 10000
)

// window is one key's count within FailureWindow from start.
type window struct {
	key   string
	count int // failures, and attempts taken and not yet given back
	start time.Time
}

// Limiter counts failed authentications by key. It is safe for concurrent
// use. Its clock is injected, so tests need not sleep.
//
// Failures are counted in two ways. Fail records a failure after the fact,
// for checks so cheap that a burst of them may all run (API tokens).
// Take counts an attempt before it is checked, and GiveBack un-counts it
// once it proves right: N parallel guesses can then never get more than
// the limit's worth of checks (sign-ins).
type Limiter struct {
	max int // failures allowed within FailureWindow
	now func() time.Time

	mu        sync.Mutex
	keys      map[string]*window
	nextPrune time.Time // no window in keys ends before this
}

// NewLimiter returns a Limiter that refuses a key after max failures
// within FailureWindow. now is its clock; nil means time.Now.
func NewLimiter(max int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{max: max, now: now, keys: map[string]*window{}}
}

// live returns key's window if it has not passed; l.mu is held.
func (l *Limiter) live(key string, now time.Time) *window {
	w := l.keys[key]
	if w == nil {
		return nil
	}
	if now.Sub(w.start) >= FailureWindow {
		delete(l.keys, key)
		return nil
	}
	return w
}

// wait is how long a key with window w must wait, or 0; l.mu is held.
func (l *Limiter) wait(w *window, now time.Time) time.Duration {
	if w == nil || w.count < l.max {
		return 0
	}
	return w.start.Add(FailureWindow).Sub(now)
}

// open returns key's live window, or starts one; l.mu is held.
func (l *Limiter) open(key string, now time.Time) *window {
	if w := l.live(key, now); w != nil {
		return w
	}
	if len(l.keys) >= MaxTrackedKeys {
		l.makeRoom(now)
	}
	w := &window{key: key, start: now}
	l.keys[key] = w
	return w
}

// Blocked says how long key must wait, or 0 when it may try. A key that
// has waited out its window starts afresh.
func (l *Limiter) Blocked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	return l.wait(l.live(key, now), now)
}

// Fail records one failure of key. It returns how many failures key has
// had within its window, this one included, and how long the window has
// yet to run. The window starts at the first attempt and is not extended
// by later ones.
func (l *Limiter) Fail(key string) (count int, left time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.open(key, now)
	w.count++
	return w.count, w.start.Add(FailureWindow).Sub(now)
}

// Take counts one attempt for each of keys (distinct), all or none,
// before the attempt is checked. When any key has used up its failures,
// nothing is counted and Take returns nil and how long to wait (the
// longest of the keys' waits). Otherwise the attempt counts as a failure
// of every key from now on, unless it is given back with GiveBack.
func (l *Limiter) Take(keys ...string) (*Attempt, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var longest time.Duration
	for _, k := range keys {
		longest = max(longest, l.wait(l.live(k, now), now))
	}
	if longest > 0 {
		return nil, longest
	}
	a := &Attempt{l: l, held: make([]*window, len(keys))}
	for i, k := range keys {
		a.held[i] = l.open(k, now)
		a.held[i].count++
	}
	return a, 0
}

// Attempt is an attempt counted by Take.
type Attempt struct {
	l    *Limiter
	held []*window // nil once given back
}

// GiveBack un-counts the attempt: it did not fail (the password was
// right, or it was never checked). A key left with nothing counted is
// forgotten, so its next failure starts a new window. Calls after the
// first do nothing; so does a call on nil.
func (a *Attempt) GiveBack() {
	if a == nil {
		return
	}
	l := a.l
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range a.held {
		// A window that has passed, or was forgotten, was replaced by a
		// new one: taking from it changes nothing that counts.
		if w.count > 0 {
			w.count--
		}
		if w.count == 0 && l.keys[w.key] == w {
			delete(l.keys, w.key)
		}
	}
	a.held = nil
}

// makeRoom forgets the keys whose window has passed, or, when none has,
// one of the others: better to forget some failures than to grow without
// end under a flood of new keys. It prefers a key that is not refused, so
// a flood cannot easily free the one it guesses at. l.mu is held.
func (l *Limiter) makeRoom(now time.Time) {
	if !now.Before(l.nextPrune) {
		next := now.Add(FailureWindow)
		for k, w := range l.keys {
			if now.Sub(w.start) >= FailureWindow {
				delete(l.keys, k)
			} else if end := w.start.Add(FailureWindow); end.Before(next) {
				next = end
			}
		}
		l.nextPrune = next
	}
	if len(l.keys) < MaxTrackedKeys {
		return
	}
	// Map order is random: look at a few keys from a random place.
	const probes = 8
	var victim string
	n := 0
	for k, w := range l.keys {
		if n == 0 || w.count < l.max {
			victim = k
		}
		if n++; w.count < l.max || n == probes {
			break
		}
	}
	delete(l.keys, victim)
}
