package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// changeLimiter limits status changes per identity with a token bucket:
// perMinute changes may come at once, then one every minute/perMinute.
// It protects the site against a runaway script disabling every card.
type changeLimiter struct {
	perMinute int // 0: no limit
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

// maxTrackedIdentities bounds the identities a changeLimiter remembers:
// once it holds this many, the ones whose bucket has refilled are forgotten.
const maxTrackedIdentities = 10000

type bucket struct {
	tokens float64
	last   time.Time
}

func newChangeLimiter(perMinute int, now func() time.Time) *changeLimiter {
	return &changeLimiter{perMinute: perMinute, now: now, buckets: map[string]*bucket{}}
}

// take spends one change of identity's allowance, or says how long to wait.
func (l *changeLimiter) take(identity string) time.Duration { return l.spend(identity, false) }

// charge spends one change of identity's allowance even when none is left,
// for a change made without take (it looked like a no-op and was not):
// the identity's next changes wait the longer.
func (l *changeLimiter) charge(identity string) { l.spend(identity, true) }

func (l *changeLimiter) spend(identity string, force bool) time.Duration {
	if l.perMinute <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	rate := float64(l.perMinute) / float64(time.Minute) // tokens per nanosecond
	b := l.buckets[identity]
	if b == nil {
		if len(l.buckets) >= maxTrackedIdentities {
			for k, old := range l.buckets { // full buckets hold nothing worth keeping
				if old.tokens+float64(now.Sub(old.last))*rate >= float64(l.perMinute) {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: float64(l.perMinute), last: now}
		l.buckets[identity] = b
	}
	b.tokens = min(float64(l.perMinute), b.tokens+float64(now.Sub(b.last))*rate)
	b.last = now
	if b.tokens >= 1 || force {
		b.tokens--
		return 0
	}
	return time.Duration((1 - b.tokens) / rate)
}

// limitChange makes a change of a card's status (apply) within the
// caller's allowance, which only a change spends: a no-op (setting the
// status the card has, as a client's retry does) is answered even when
// none is left. before is the card as read before; looksNoOp says whether
// the rules will find nothing to do with it. The rules decide inside
// apply, so the card it returns says what happened: a card someone else
// changed in between is charged as a change, erring on the side of the
// limit.
func (s *Server) limitChange(o domain.Origin, before storage.Smartcard, looksNoOp bool, apply func() (storage.Smartcard, error)) (storage.Smartcard, error) {
	if !looksNoOp {
		if he := s.allowChange(o.Actor); he != nil {
			return storage.Smartcard{}, he
		}
	}
	after, err := apply()
	if err == nil && looksNoOp && !sameStatus(before, after) {
		s.changes.charge(o.Actor)
	}
	return after, err
}

// sameStatus reports whether a card's status is as it was: every change
// writes a new status and the request that made it (a request is carried
// out once).
func sameStatus(before, after storage.Smartcard) bool {
	return before.Uuid == after.Uuid && before.Status == after.Status &&
		before.StatusRequestUuid == after.StatusRequestUuid && before.StatusChanged.Equal(after.StatusChanged)
}

// allowChange refuses a status change beyond the identity's allowance.
func (s *Server) allowChange(identity string) *httpError {
	if wait := s.changes.take(identity); wait > 0 {
		secs := retryAfter(wait)
		return &httpError{code: http.StatusTooManyRequests, header: map[string]string{"Retry-After": secs},
			msg: "too many status changes by " + identity + "; the limit is " + strconv.Itoa(s.changes.perMinute) + " a minute; try again in " + secs + " s"}
	}
	return nil
}
