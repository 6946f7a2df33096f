package web

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// authStore is what authentication needs: the API's tokens and the
// pages' sessions.
type authStore interface {
	Authenticate(secret string) (storage.Token, error)
	SignIn(ctx context.Context, o domain.Origin, name, password string) (string, storage.User, error)
	SessionUser(ctx context.Context, secret string) (storage.User, error)
	SignOut(ctx context.Context, o domain.Origin, secret string) error
}

const bearerChallenge = `Bearer realm="cardstop"`

// authenticate finds the token of the request's bearer credential.
func (s *Server) authenticate(r *http.Request) (storage.Token, error) {
	host := remoteHost(r)
	if wait := s.limiter.Blocked(host); wait > 0 {
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
	t, err := s.creds.Authenticate(strings.TrimSpace(secret))
	if err != nil {
		if code, _ := statusOf(err); code == http.StatusNotFound {
			s.limiter.Fail(host)
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
