package web

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// Failed authentication is limited per client address: after
// maxAuthFailures within authWindow, the address gets 429 until the
// window ends. This slows guessing without locking out a whole site.
const (
	maxAuthFailures = 10
	authWindow      = time.Minute
	maxTrackedHosts = 10000
)

type failures struct {
	count int
	start time.Time
}

// authLimiter counts failed authentications by client address.
type authLimiter struct {
	max   int // failures allowed within authWindow
	now   func() time.Time
	mu    sync.Mutex
	hosts map[string]*failures
}

func newAuthLimiter(max int, now func() time.Time) *authLimiter {
	return &authLimiter{max: max, now: now, hosts: map[string]*failures{}}
}

// blocked says how long host must wait, or 0 when it may try.
func (l *authLimiter) blocked(host string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.hosts[host]
	if f == nil || f.count < l.max {
		return 0
	}
	wait := f.start.Add(authWindow).Sub(l.now())
	if wait <= 0 {
		delete(l.hosts, host)
		return 0
	}
	return wait
}

// fail records one failed attempt from host.
func (l *authLimiter) fail(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.hosts[host]
	if f == nil || now.Sub(f.start) >= authWindow {
		if len(l.hosts) >= maxTrackedHosts {
			l.prune(now)
		}
		f = &failures{start: now}
		l.hosts[host] = f
	}
	f.count++
}

func (l *authLimiter) prune(now time.Time) {
	for h, f := range l.hosts {
		if now.Sub(f.start) >= authWindow {
			delete(l.hosts, h)
		}
	}
}

// authStore is what authentication needs: the API's tokens and the
// pages' sessions.
type authStore interface {
	Authenticate(secret string) (storage.Token, error)
	SignIn(o domain.Origin, name, password string) (string, storage.User, error)
	SessionUser(secret string) (storage.User, error)
	SignOut(o domain.Origin, secret string) error
}

const bearerChallenge = `Bearer realm="cardstop"`

// authenticate finds the token of the request's bearer credential.
func (s *Server) authenticate(r *http.Request) (storage.Token, error) {
	host := remoteHost(r)
	if wait := s.limiter.blocked(host); wait > 0 {
		secs := retryAfter(wait)
		return storage.Token{}, &httpError{code: http.StatusTooManyRequests,
			msg:    "too many failed authentications from this address; try again in " + secs + " s",
			header: map[string]string{"Retry-After": secs}}
	}
	scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return storage.Token{}, &httpError{code: http.StatusUnauthorized,
			msg:    "authentication required: send Authorization: Bearer <token>",
			header: map[string]string{"WWW-Authenticate": bearerChallenge}}
	}
	t, err := s.auth.Authenticate(strings.TrimSpace(secret))
	if err != nil {
		if code, _ := statusOf(err); code == http.StatusNotFound {
			s.limiter.fail(host)
			return storage.Token{}, &httpError{code: http.StatusUnauthorized, msg: "the token is not valid",
				header: map[string]string{"WWW-Authenticate": bearerChallenge + `, error="invalid_token"`}}
		}
		return storage.Token{}, err
	}
	return t, nil
}

// retryAfter is a wait in whole seconds, rounded up, for Retry-After.
func retryAfter(wait time.Duration) string {
	return strconv.Itoa(int((wait + time.Second - 1) / time.Second))
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
