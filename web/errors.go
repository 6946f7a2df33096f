package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/wire"
)

// httpError is a refusal decided by the HTTP layer itself (authentication,
// content type, routing), with any headers the status code calls for.
type httpError struct {
	code   int
	msg    string
	header map[string]string
}

func (e *httpError) Error() string { return e.msg }

// statusOf is the one place that turns an error into an HTTP status and a
// message a client may see. Anything it does not recognise is a 500 whose
// details stay in the log.
func statusOf(err error) (int, string) {
	var he *httpError
	var se *domain.Error
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.code, he.msg
	case errors.As(err, &mb):
		return http.StatusRequestEntityTooLarge, "the body is larger than the limit of 64 KiB"
	case errors.Is(err, wire.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client left while its change waited (for the start-up check):
		// it was never made. Nobody reads this answer but the log.
		return http.StatusServiceUnavailable, "the request ended before it was carried out; nothing was changed"
	case errors.As(err, &se):
		switch se.Kind {
		case domain.ErrNotFound:
			return http.StatusNotFound, err.Error()
		case domain.ErrConflict:
			return http.StatusConflict, err.Error()
		case domain.ErrForbidden:
			return http.StatusForbidden, err.Error()
		case domain.ErrInvalid:
			return http.StatusBadRequest, err.Error()
		case storage.ErrBadCredentials:
			return http.StatusUnauthorized, se.Msg
		case storage.ErrLimited:
			return http.StatusTooManyRequests, se.Msg
		case storage.ErrDamaged, storage.ErrUnavailable, storage.ErrBusy:
			return http.StatusServiceUnavailable, se.Msg
		}
	}
	return http.StatusInternalServerError, "An error has occurred. Quote the correlation id when reporting it."
}

// writeError answers with the JSON error body and logs what the client
// does not see.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, msg := statusOf(err)
	retryHeader(w, err)
	var he *httpError
	if errors.As(err, &he) {
		for k, v := range he.header {
			w.Header().Set(k, v)
		}
	}
	corr := correlationID(r.Context())
	if code >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "correlation_id", corr.String(), "err", err)
	}
	writeJSON(w, code, wire.Error{Message: msg, CorrelationId: corr})
}

// retryHeader sets Retry-After for a refusal of the store's that says how
// long to wait.
func retryHeader(w http.ResponseWriter, err error) {
	var se *domain.Error
	if errors.As(err, &se) && se.Wait > 0 {
		w.Header().Set("Retry-After", retryAfter(se.Wait))
	}
}

// logStatus records one line per request, with its path as it came;
// never a secret or a body.
func (s *Server) logStatus(r *http.Request, path string, code int, actor string, quiet bool) {
	level := slog.LevelInfo
	switch {
	case code >= 500:
		level = slog.LevelError
	case quiet && code < 400:
		level = slog.LevelDebug
	}
	h := s.log.Handler()
	if !h.Enabled(r.Context(), level) {
		return
	}
	if level == slog.LevelInfo && s.opt.AccessLog != nil {
		writeAccessLine(s.opt.AccessLog, time.Now(), r, path, code, actor)
		return
	}
	// A record of its own, without the caller's program counter, which
	// slog's Logger looks up for every line (a fifth of the line's cost).
	rec := slog.NewRecord(time.Now(), level, "http", 0)
	rec.AddAttrs(slog.String("method", r.Method), slog.String("path", path), slog.Int("status", code),
		slog.String("actor", actor), slog.String("remote", remoteHost(r)), slog.String("correlation_id", correlationID(r.Context()).String()))
	_ = h.Handle(r.Context(), rec)
}
