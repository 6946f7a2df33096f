package web

import (
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cardstop/cardstop/web/wire"
)

// readBody reads a JSON object body of at most MaxBody bytes whose keys
// are all in allowed (lowercase).
func readBody(w http.ResponseWriter, r *http.Request, allowed ...string) (wire.Object, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return wire.Object{}, &httpError{code: http.StatusUnsupportedMediaType,
			msg: "the body must be JSON, sent with Content-Type: application/json"}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return wire.Object{}, bodyError(err, r.ContentLength, len(data))
	}
	return wire.ParseObject(data, allowed...)
}

// bodyError says what went wrong while reading a body. A client that
// sends less than its Content-Length, or stops sending, is the client's
// fault: 400 or 408, never a 500. Anything else is passed on as it is.
func bodyError(err error, declared int64, got int) error {
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mb):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF) && declared >= 0:
		return &httpError{code: http.StatusBadRequest,
			msg: "the body ended after " + strconv.Itoa(got) + " of the " + strconv.FormatInt(declared, 10) + " bytes its Content-Length announced; nothing was changed"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &httpError{code: http.StatusBadRequest, msg: "the body ended before its last chunk; nothing was changed"}
	case errors.As(err, &ne) && ne.Timeout():
		return &httpError{code: http.StatusRequestTimeout,
			msg: "the body did not arrive in time (" + strconv.Itoa(got) + " bytes came); nothing was changed"}
	}
	return err
}

// readQuery returns the query parameters, keys lowercased. An unknown or
// repeated parameter is refused by name, like an unknown body key.
func readQuery(r *http.Request, allowed ...string) (map[string]string, error) {
	if r.URL.RawQuery == "" {
		return nil, nil // nothing to parse; a nil map reads as an empty one
	}
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &httpError{code: http.StatusBadRequest, msg: "the query string cannot be parsed"}
	}
	out := map[string]string{}
	for k, v := range values {
		key := strings.ToLower(k)
		if _, dup := out[key]; dup || len(v) > 1 {
			return nil, &httpError{code: http.StatusBadRequest, msg: "the query parameter " + key + " appears more than once"}
		}
		if !containsKey(allowed, key) {
			msg := "unknown query parameter " + clipQ(k) + "; this takes none"
			if len(allowed) > 0 {
				msg = "unknown query parameter " + clipQ(k) + "; this takes only: " + strings.Join(allowed, ", ")
			}
			return nil, &httpError{code: http.StatusBadRequest, msg: msg}
		}
		out[key] = v[0]
	}
	return out, nil
}

func containsKey(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func clipQ(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return `"` + s + `"`
}

// wantsMinimal reports whether the client asked for no body (RFC 7240).
func wantsMinimal(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(v, ",") {
			if strings.EqualFold(strings.ReplaceAll(strings.TrimSpace(p), " ", ""), "return=minimal") {
				return true
			}
		}
	}
	return false
}
