package web

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
)

// authStore is what authentication needs: the API's tokens and the
// pages' sessions.
type authStore interface {
	Authenticate(secret string) (storage.Token, error)
	SignIn(ctx context.Context, o domain.Origin, name, password string) (string, storage.User, error)
	SessionUser(ctx context.Context, secret string) (storage.User, error)
	SignOut(ctx context.Context, o domain.Origin, secret string) error
	HasUsers() (bool, error) // the sign-in page's first-run hint
}

const bearerChallenge = `Bearer realm="cardstop"`

// tokenFailureStep is the delay before the 401 for each bad token an
// address has sent within the window: the n-th waits n steps.
const tokenFailureStep = 100 * time.Millisecond

// authenticate finds the token of the request's bearer credential.
//
// Bad tokens are limited per client address, but a valid token is always
// served, whatever its address sent before: behind NAT or a proxy, one
// broken script must not lock out the site's MIM CM. The n-th bad token
// from an address within auth.FailureWindow is answered 401 after a delay
// of n steps (s.failDelay), up to auth.MaxTokenFailures of them; later ones
// get 429 at once, with Retry-After, until the window ends. A request
// without a bearer credential guesses nothing and is not counted.
func (s *Server) authenticate(r *http.Request) (storage.Token, error) {
	var value string
	if v := r.Header["Authorization"]; len(v) > 0 { // the key is in its canonical form: Get's work is not needed
		value = v[0]
	}
	scheme, secret, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
		return storage.Token{}, &httpError{code: http.StatusUnauthorized,
			msg:    "authentication required: send Authorization: Bearer <token>",
			header: map[string]string{"WWW-Authenticate": bearerChallenge}}
	}
	t, err := s.creds.Authenticate(strings.TrimSpace(secret))
	if err == nil {
		return t, nil
	}
	if code, _ := statusOf(err); code != http.StatusNotFound {
		return storage.Token{}, err
	}
	n, left := s.limiter.Fail(remoteHost(r))
	if n > auth.MaxTokenFailures {
		secs := retryAfter(left)
		return storage.Token{}, &httpError{code: http.StatusTooManyRequests,
			msg:    "too many failed authentications from this address; try again in " + secs + " s (a valid token is served meanwhile)",
			header: map[string]string{"Retry-After": secs}}
	}
	if d := s.failDelay(n); d > 0 {
		wait := time.NewTimer(d)
		select {
		case <-wait.C:
		case <-r.Context().Done(): // the answer goes nowhere now
		}
		wait.Stop()
	}
	return storage.Token{}, &httpError{code: http.StatusUnauthorized, msg: "the token is not valid",
		header: map[string]string{"WWW-Authenticate": bearerChallenge + `, error="invalid_token"`}}
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
