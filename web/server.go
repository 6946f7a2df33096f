// Package web serves Cardstop over HTTP: the MIM CM-compatible JSON API
// under /CertificateManagement/api/v1.0. Handlers only translate between
// HTTP and the store; the rules live in package storage.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/wire"
)

// Store is everything the server needs of the records: one value (the
// service's *storage.Store) that each group of handlers sees only through
// the small interface declared beside it.
type Store interface {
	apiStore    // the MIM CM API (mimcm.go)
	pageStore   // the card, request and audit pages (ui_cards.go)
	authStore   // tokens and sessions (auth.go, ui.go)
	adminStore  // the admin pages (ui_admin.go)
	opsStore    // readiness, backup and metrics (station.go, metrics.go)
	outboxStore // the outbox (outbox.go)
}

// Options tune the server. The zero value is what the service uses.
type Options struct {
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // the clock of the rate limits; nil: time.Now
	// Station is the walk-up station to show; nil when none runs.
	Station StationView
	// PressButton presses the simulated panel's button; nil when the panel
	// is real or absent, and then the button's route does not exist.
	PressButton func()
	// Panel says what the LEDs and button are: "gpio", "simulated",
	// "failed" (they could not be opened) or "none".
	Panel string
	// Changes counts the committed status changes for the metrics; nil:
	// none are counted.
	Changes *ChangeCounter
	// PanelFault says what is wrong with the panel now ("" when nothing
	// is), for /readyz and the station page; nil: nothing can be.
	PanelFault func() string
	// StatusChangesPerMinute limits the card status changes one identity
	// (token or user) may make through the API and the pages; 0: no limit.
	StatusChangesPerMinute int
	// ClockSynced reports whether the clock was synchronised since boot,
	// for /readyz; nil: it is not asked.
	ClockSynced func() bool
	// ClockProblem says why the clock's state cannot be read ("" when it
	// can), for /readyz; nil: it always can.
	ClockProblem func() string
	// AllowedHosts are the Host header values the pages answer to
	// (DefaultAllowedHosts); empty allows any, for tests only.
	AllowedHosts []string
	// Forwarder delivers the outbox; nil when no upstream or webhook is
	// configured.
	Forwarder Forwarder
	// AccessLog, when set, takes the INFO line of each request, written by
	// hand in the shape Logger's slog.JSONHandler writes (accesslog.go):
	// the service's JSON log. Nil: the lines go through Logger.
	AccessLog io.Writer
}

// Server is the HTTP handler of the whole service.
type Server struct {
	opt     Options
	log     *slog.Logger
	mux     *http.ServeMux
	router  router        // the mux's routes of whole segments, found faster
	limiter *auth.Limiter // failed API tokens, by address (sign-ins are the store's)
	changes *changeLimiter
	metrics *metrics
	// stations is what this hub has seen of its stations' tokens.
	stations *stationActivity
	// live ends the station page's event streams at shutdown.
	live liveStreams
	// failDelay is how long the 401 for an address's n-th bad token waits.
	failDelay func(n int) time.Duration

	// The store, as each group of handlers sees it.
	store  apiStore    // the MIM CM API
	pages  pageStore   // the card, request and audit pages
	creds  authStore   // tokens and sessions
	admin  adminStore  // the admin pages
	ops    opsStore    // readiness, backup and metrics
	outbox outboxStore // the outbox's status, retry and drop
}

// MaxBody is the largest request body the API reads.
const MaxBody = 64 << 10

// New returns the service's handler.
func New(store Store, opt Options) *Server {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Server{opt: opt, store: store, pages: store, creds: store, admin: store, ops: store, outbox: store, log: opt.Logger, mux: http.NewServeMux(),
		limiter: auth.NewLimiter(auth.MaxTokenFailures, opt.Now), changes: newChangeLimiter(opt.StatusChangesPerMinute, opt.Now),
		failDelay: func(n int) time.Duration { return time.Duration(n) * tokenFailureStep },
		stations:  newStationActivity(opt.Now())}
	s.metrics = newMetrics(s)
	s.register()
	return s
}

// handlerFunc is an endpoint: it gets the caller's origin and returns an
// error for writeError, or nil once it has answered.
type handlerFunc func(w http.ResponseWriter, r *http.Request, o domain.Origin) error

// apiHandler is an endpoint that needs an API token with at least role
// least, or a station token where station allows one.
func (s *Server) apiHandler(least domain.Role, station bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, err := s.authenticate(r)
		if err == nil && t.Role == domain.RoleStation {
			s.stations.seen(t.Name, s.opt.Now())
		}
		switch {
		case err != nil, t.Role.Includes(least), station && t.Role == domain.RoleStation:
		case t.Role == domain.RoleStation:
			err = &httpError{code: http.StatusForbidden, msg: "the token " + strconv.Quote(t.Name) +
				" is a station's: it may only look smartcards up and create, carry out and finish Disable requests"}
		default:
			err = &httpError{code: http.StatusForbidden,
				msg: "this needs the " + least.String() + " role; the token " + strconv.Quote(t.Name) + " has " + t.Role.String()}
		}
		if err == nil {
			err = noBodyOnRead(r)
		}
		if err == nil {
			actor := "token:" + t.Name
			setActor(w, actor)
			o := domain.Origin{Actor: actor, ActorUuid: t.Uuid, Role: t.Role, Source: remoteHost(r),
				CorrelationID: correlationID(r.Context())}
			err = h(w, r, o)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

// noBodyOnRead refuses a GET (or HEAD) that carries a body: a read takes
// none, and a client that sends one most likely meant to change something
// with PUT or POST and would otherwise get a 200 that changed nothing.
func noBodyOnRead(r *http.Request) error {
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || r.ContentLength == 0 {
		return nil
	}
	return &httpError{code: http.StatusBadRequest,
		msg: "a " + r.Method + " takes no body, and this one has one; nothing was changed: a change is a PUT or a POST"}
}

// setActor names the actor in the request's log line.
func setActor(w http.ResponseWriter, actor string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.actor = actor
	}
}

type ctxKey struct{}

// exchange is what ServeHTTP keeps of one request, in one allocation: the
// writer that notes the answer for the log line, the correlation id, the
// routed copy of the URL, and the values of the route's wildcards when the
// router found it.
type exchange struct {
	statusWriter
	corr       guid.GUID
	corrHeader [1]string
	url        url.URL
	route      *segmentRoute
	values     [maxSegments]string
}

func exchangeOf(ctx context.Context) *exchange {
	ex, _ := ctx.Value(ctxKey{}).(*exchange)
	return ex
}

func correlationID(ctx context.Context) guid.GUID {
	if ex := exchangeOf(ctx); ex != nil {
		return ex.corr
	}
	return guid.GUID{}
}

// pathValue is the value of the wildcard name of r's route, lowercased, as
// the router or the mux found it.
func pathValue(r *http.Request, name string) string {
	if ex := exchangeOf(r.Context()); ex != nil && ex.route != nil {
		for i, s := range ex.route.segs {
			if s[0] == '{' && s[1:len(s)-1] == name {
				return strings.ToLower(ex.values[i]) // no copy when it is lowercase
			}
		}
	}
	return r.PathValue(name)
}

// quiet puts the request's log line at DEBUG: for a route every open
// page calls again and again, where a line each would drown the log.
func quiet(w http.ResponseWriter) {
	if sw, ok := w.(*statusWriter); ok {
		sw.quiet = true
	}
}

// statusWriter remembers the status code and the actor for the log line.
type statusWriter struct {
	http.ResponseWriter
	code  int
	actor string
	quiet bool // log the line at DEBUG, unless the answer is an error
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (a streamed
// answer moves its write deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP gives every request a correlation id and the API's headers,
// routes it in any case, and turns the router's own 404 and 405 into JSON.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := &exchange{statusWriter: statusWriter{ResponseWriter: w}, corr: guid.New()}
	sw := &ex.statusWriter
	ex.corrHeader[0] = ex.corr.String()
	h := w.Header()
	h["X-Content-Type-Options"] = nosniff
	h["X-Correlation-Id"] = ex.corrHeader[:]
	start := time.Now()
	var route string
	// The request the handlers get: one shallow copy (a deep Clone copies
	// every header) with the exchange. r keeps the path as it came, for
	// the log and the messages.
	routed := r.WithContext(context.WithValue(r.Context(), ctxKey{}, ex))
	ex.url = *r.URL
	ex.url.RawPath = ""
	routed.URL = &ex.url
	defer func() {
		s.logStatus(routed, r.URL.Path, sw.code, sw.actor, sw.quiet)
		s.metrics.observe(route, sw.code, time.Since(start))
	}()

	p := r.URL.Path
	api := isAPI(p)
	if api {
		h["Content-Type"], h["Cache-Control"] = jsonType, noStore
		// ASP.NET Web API, which MIM CM runs on, routes /smartcards/ as
		// /smartcards: so do we, for every API path.
		p = strings.TrimSuffix(p, "/")
	} else {
		pageHeaders(h)
	}
	// Paths match in any case, since MIM CM's IIS matches paths so and its
	// own documentation writes both: the router ignores case, and the mux
	// gets the path lowercased.
	if rt := s.router.match(r.Method, p, &ex.values); rt != nil {
		ex.url.Path, ex.route = p, rt
		route, routed.Pattern = rt.pattern, rt.pattern // the route table's pattern: the metrics' label
		rt.handler.ServeHTTP(sw, routed)
		return
	}
	// A path with . or .. or // in it is sent to its clean form, as the mux
	// would, but said in JSON with the correlation id. (What the router
	// found was clean.)
	if api && !isClean(p) {
		loc := path.Clean(p)
		if r.URL.RawQuery != "" {
			loc += "?" + r.URL.RawQuery
		}
		h.Set("Location", loc)
		writeJSON(sw, http.StatusTemporaryRedirect, wire.Error{Message: "the path is not in its clean form; use " + loc, CorrelationId: ex.corr})
		return
	}
	ex.url.Path = strings.ToLower(p)
	handler, pattern := s.mux.Handler(routed)
	if pattern != "" {
		route = pattern
		s.mux.ServeHTTP(sw, routed) // finds it again, and sets its path values
		return
	}
	// No route: let the mux decide between 404 and 405 (with Allow), and
	// answer in JSON instead of its plain text.
	probe := &headerProbe{header: http.Header{}}
	handler.ServeHTTP(probe, routed)
	if !api && (probe.code == http.StatusNotFound || probe.code == http.StatusMethodNotAllowed) {
		if probe.code == http.StatusMethodNotAllowed {
			h.Set("Allow", probe.header.Get("Allow"))
		}
		s.notFound(sw, routed, probe.code, r.URL.Path)
		return
	}
	switch probe.code {
	case http.StatusMethodNotAllowed:
		h.Set("Allow", probe.header.Get("Allow"))
		s.writeError(sw, routed, &httpError{code: probe.code, msg: "the method " + r.Method + " is not allowed here; allowed: " + probe.header.Get("Allow")})
	case http.StatusNotFound:
		s.writeError(sw, routed, &httpError{code: probe.code, msg: "no such resource: " + r.URL.Path})
	default: // a redirect to the cleaned path
		for k, v := range probe.header {
			h[k] = v
		}
		sw.WriteHeader(probe.code)
	}
}

// isClean tells whether p is in the form path.Clean gives it, without
// making that form when it is.
func isClean(p string) bool {
	if strings.HasPrefix(p, "/") && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return true
	}
	return path.Clean(p) == p
}

// The values of the headers every answer carries, shared: set whole, never
// appended to, they need not be made anew for each answer.
var (
	nosniff  = []string{"nosniff"}
	jsonType = []string{"application/json; charset=utf-8"}
	noStore  = []string{"no-store"}
)

// isAPI tells the JSON API's paths, in any case, from the pages'.
func isAPI(path string) bool {
	return hasPrefixFold(path, "/certificatemanagement/") || hasPrefixFold(path, "/api/") ||
		strings.EqualFold(path, "/healthz") || strings.EqualFold(path, "/readyz") || strings.EqualFold(path, "/metrics")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// headerProbe captures what the mux's fallback handler would answer.
type headerProbe struct {
	header http.Header
	code   int
}

func (p *headerProbe) Header() http.Header         { return p.header }
func (p *headerProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *headerProbe) WriteHeader(code int)        { p.code = code }

var answerBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// jsonAppender is a wire shape that writes its own JSON, the bytes
// encoding/json would write, without reflection.
type jsonAppender interface{ AppendJSON(b []byte) []byte }

// netHTTPBuffer is the size of net/http's buffer of an answer: an answer
// that fits is given its Content-Length by net/http, without an
// allocation; a longer one would be chunked without ours.
const netHTTPBuffer = 2048

// writeJSON answers with v encoded as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var data []byte
	if a, ok := v.(jsonAppender); ok {
		bp := answerBuffers.Get().(*[]byte)
		data = a.AppendJSON((*bp)[:0])
		defer func() { *bp = data; answerBuffers.Put(bp) }() // Write copies it into the connection's buffer
	} else {
		data = encodeJSON(v, &code)
	}
	if len(data) > netHTTPBuffer {
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	}
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// encodeJSON encodes v by reflection; code becomes 500 when v does not
// encode.
func encodeJSON(v any, code *int) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)              // MIM CM does not escape <, > and &; neither do we
	if err := enc.Encode(v); err != nil { // only our own types reach here, and they always encode
		*code = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"Message":"An error has occurred."}` + "\n")
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
