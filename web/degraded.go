package web

import (
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/wire"
)

// Degraded returns the handler of a server whose database file cannot be
// opened at all (why says what is wrong with it): no record, token or
// session can be read, so nobody can be authenticated and nothing served
// but the probes. /healthz answers 200 (the process runs), /readyz 503
// with database "damaged: why", and every other route 503 with the
// message: JSON on the API's paths, a readable page elsewhere. Only
// opt.Logger and opt.ClockSynced are used.
func Degraded(why string, opt Options) http.Handler {
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	msg := "the database is damaged and cannot be opened (" + why + "): nothing can be read or changed until a backup is restored " +
		"(stop the service, copy the file aside, run cardstop restore)"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		corr := guid.New()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Correlation-Id", corr.String())
		h.Set("Cache-Control", "no-store")
		path := strings.ToLower(r.URL.Path)
		code := http.StatusServiceUnavailable
		switch {
		case path == "/healthz":
			h.Set("Content-Type", "application/json; charset=utf-8")
			code = http.StatusOK
			healthz(w, r)
		case path == "/readyz":
			h.Set("Content-Type", "application/json; charset=utf-8")
			rd := readiness{Database: "damaged: " + why, Reader: "none", Panel: "none", Clock: "synchronised"}
			if opt.ClockSynced != nil && !opt.ClockSynced() {
				rd.Clock = "not synchronised since boot"
			}
			writeJSON(w, code, rd)
		case isAPI(path):
			h.Set("Content-Type", "application/json; charset=utf-8")
			writeJSON(w, code, wire.Error{Message: msg, CorrelationId: corr})
		default:
			pageHeaders(h)
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(code)
			_ = degradedPage.Execute(w, msg)
		}
		level := slog.LevelInfo
		if code >= 500 {
			level = slog.LevelWarn
		}
		log.Log(r.Context(), level, "http", "method", r.Method, "path", r.URL.Path, "status", code,
			"remote", remoteHost(r), "correlation_id", corr.String())
	})
}

// degradedPage is the one page of a degraded server: plain, with no
// script or style of its own.
var degradedPage = template.Must(template.New("degraded").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cardstop: the database is damaged</title></head>
<body><main><h1>The database is damaged</h1><p data-testid="damaged">{{.}}</p></main></body></html>
`))
