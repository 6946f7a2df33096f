package auth

import "time"

// Session lifetimes: a session ends after SessionIdle without use, or
// SessionAbsolute after sign-in, whichever comes first.
const (
	// SessionIdle is how long a session lives without use.
	SessionIdle = 30 * time.Minute
	// SessionAbsolute is how long a session lives after sign-in, however
	// much it is used; the cookie's Max-Age too.
	SessionAbsolute = 12 * time.Hour
	// SessionTouchEvery is how stale a session's last use may be before it
	// is written again: one write a minute a session at most, at the cost
	// of ending an idle session up to a minute early.
	SessionTouchEvery = time.Minute
)

// SessionExpired says whether a session signed in at created and last
// used at lastSeen has ended by now.
func SessionExpired(created, lastSeen, now time.Time) bool {
	return now.Sub(lastSeen) > SessionIdle || now.Sub(created) > SessionAbsolute
}

// SessionStale says whether a live session last used at lastSeen should
// have its last use written again at now (see SessionTouchEvery).
func SessionStale(lastSeen, now time.Time) bool {
	return now.Sub(lastSeen) > SessionTouchEvery
}
