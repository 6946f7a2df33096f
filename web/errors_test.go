package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestStatusOf: each kind of error gets its one status, and a client sees
// the refusal's message but never an internal error's text.
func TestStatusOf(t *testing.T) {
	const internal = "An error has occurred. Quote the correlation id when reporting it."
	wrap := func(err error) error { return fmt.Errorf("sign in: %w", err) }
	for _, tt := range []struct {
		name string
		err  error
		code int
		msg  string
	}{
		{"refused by the HTTP layer", &httpError{code: http.StatusTooManyRequests, msg: "slow down"}, http.StatusTooManyRequests, "slow down"},
		{"body too large", &http.MaxBytesError{Limit: 64 << 10}, http.StatusRequestEntityTooLarge, "the body is larger than the limit of 64 KiB"},
		{"not found", domain.Refuse(domain.ErrNotFound, "no card %s", "x"), http.StatusNotFound, "no card x"},
		{"conflict", domain.Refuse(domain.ErrConflict, "it is disabled"), http.StatusConflict, "it is disabled"},
		{"forbidden", domain.Refuse(domain.ErrForbidden, "not yours"), http.StatusForbidden, "not yours"},
		{"invalid", domain.Refuse(domain.ErrInvalid, "bad GUID"), http.StatusBadRequest, "bad GUID"},
		{"bad credentials", wrap(&domain.Error{Kind: storage.ErrBadCredentials, Msg: "wrong user name or password"}), http.StatusUnauthorized, "wrong user name or password"},
		{"damaged", wrap(&domain.Error{Kind: storage.ErrDamaged, Msg: "the database failed its check"}), http.StatusServiceUnavailable, "the database failed its check"},
		{"unavailable", &domain.Error{Kind: storage.ErrUnavailable, Msg: "try again"}, http.StatusServiceUnavailable, "try again"},
		{"sign-ins limited", wrap(&domain.Error{Kind: storage.ErrLimited, Msg: "try again in 5 s", Wait: 5 * time.Second}), http.StatusTooManyRequests, "try again in 5 s"},
		{"passwords busy", &domain.Error{Kind: storage.ErrBusy, Msg: "try again in 1 s", Wait: time.Second}, http.StatusServiceUnavailable, "try again in 1 s"},
		{"a bare sentinel is internal", storage.ErrBadCredentials, http.StatusInternalServerError, internal},
		{"internal", errors.New("open /var/lib/cardstop/cardstop.db: permission denied"), http.StatusInternalServerError, internal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, msg := statusOf(tt.err); code != tt.code || msg != tt.msg {
				t.Errorf("statusOf(%v) = %d %q; want %d %q", tt.err, code, msg, tt.code, tt.msg)
			}
		})
	}
}

// TestRetryHeader: a refusal of the store's that says how long to wait
// gives Retry-After in whole seconds, rounded up; others give none.
func TestRetryHeader(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("sign in: %w", &domain.Error{Kind: storage.ErrLimited, Wait: 1500 * time.Millisecond}), "2"},
		{&domain.Error{Kind: storage.ErrBusy, Wait: time.Second}, "1"},
		{&domain.Error{Kind: storage.ErrUnavailable}, ""},
		{errors.New("internal"), ""},
	} {
		rec := httptest.NewRecorder()
		retryHeader(rec, tt.err)
		if got := rec.Header().Get("Retry-After"); got != tt.want {
			t.Errorf("%v: Retry-After %q, want %q", tt.err, got, tt.want)
		}
	}
}
