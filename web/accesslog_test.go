package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage/domain/guid"
)

// TestAccessLineIsSlogs: the hand-written line decodes to what slog's
// JSONHandler writes for the same request, whatever the path holds.
func TestAccessLineIsSlogs(t *testing.T) {
	now := time.Date(2026, 11, 29, 23, 59, 1, 123456789, time.UTC)
	for _, path := range []string{"/CertificateManagement/api/v1.0/smartcards/x", `/a"b\c`, "/tab\there", "/\xff\xfe", "/é/\u2028", "/<&>"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &exchange{corr: guid.New()}))
		var viaSlog bytes.Buffer
		s := &Server{log: slog.New(slog.NewJSONHandler(&viaSlog, nil))}
		s.logStatus(r, path, 404, "token:ops", false)

		var want, got map[string]any
		if err := json.Unmarshal(viaSlog.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		line := appendAccessLine(nil, now, r, path, 404, "token:ops")
		if err := json.Unmarshal(line, &got); err != nil || !bytes.HasSuffix(line, []byte("}\n")) {
			t.Fatalf("%q: the line %q is not one JSON object: %v", path, line, err)
		}
		if got["time"] != "2026-11-29T23:59:01.123456789Z" {
			t.Errorf("time %v", got["time"])
		}
		delete(want, "time")
		delete(got, "time")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %v\nwant %v", path, got, want)
		}
	}
}

// TestAccessLogTakesInfoLinesOnly: with Options.AccessLog an answered
// request's line goes there, a server error's through the logger (which
// writes it at once).
func TestAccessLogTakesInfoLinesOnly(t *testing.T) {
	var access, logged bytes.Buffer
	s := &Server{log: slog.New(slog.NewJSONHandler(&logged, nil)), opt: Options{AccessLog: &access}}
	r := httptest.NewRequest("GET", "/healthz", nil)
	s.logStatus(r, "/healthz", 200, "", false)
	s.logStatus(r, "/healthz", 200, "", true) // quiet: DEBUG, below the handler's level
	s.logStatus(r, "/healthz", 500, "", false)
	if n := bytes.Count(access.Bytes(), []byte("\n")); n != 1 || !bytes.Contains(access.Bytes(), []byte(`"status":200`)) {
		t.Errorf("the access log got %d lines: %q", n, access.String())
	}
	if n := bytes.Count(logged.Bytes(), []byte("\n")); n != 1 || !bytes.Contains(logged.Bytes(), []byte(`"level":"ERROR"`)) {
		t.Errorf("the logger got %d lines: %q", n, logged.String())
	}
}
