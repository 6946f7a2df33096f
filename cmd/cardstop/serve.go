package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/cardstop/cardstop/device/clock"
	"github.com/cardstop/cardstop/device/logbuf"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/device/systemd"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web"
	"github.com/cardstop/cardstop/web/fleet"
	"github.com/cardstop/cardstop/web/tlscert"
)

// serveOptions are serve's flags beyond the shared ones.
type serveOptions struct {
	listen    *string
	insecure  *bool
	tlsCert   *string
	tlsKey    *string
	hostnames *string
	changes   *int
	station   *stationFlags
	fleet     *fleetFlags
}

// serveCommand declares serve's flags; configKeys reads them too.
func serveCommand(stderr io.Writer) (*command, serveOptions) {
	return serveFlags("serve", "[--listen ADDR]", "cardstop serve --data-dir ./var --listen 127.0.0.1:8080", stderr)
}

// serveFlags declares serve's flags for a command that reads serve's
// configuration (serve, config print, tls), with that command's own usage.
func serveFlags(name, args, example string, stderr io.Writer) (*command, serveOptions) {
	c := newCommand(name, args, stderr, example)
	o := serveOptions{
		listen:    c.fs.String("listen", "127.0.0.1:8080", "the address to serve on"),
		insecure:  c.fs.Bool("insecure-http", false, "INSECURE: serve plain HTTP on an address other than loopback; tokens and passwords cross the network readable"),
		tlsCert:   c.fs.String("tls-cert", "", "the TLS certificate (PEM) for addresses other than loopback; empty: a self-signed one made in the data directory"),
		tlsKey:    c.fs.String("tls-key", "", "the TLS certificate's private key (PEM)"),
		hostnames: c.fs.String("hostnames", "", "more names, comma-separated, that the pages answer to and a self-signed certificate covers"),
		changes:   c.fs.Int("status-changes-per-minute", 60, "status changes one token or user may make a minute through the API and the page; 0: no limit"),
		station:   addStationFlags(c.fs),
		fleet:     addFleetFlags(c.fs),
	}
	return &c, o
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	c, so := serveCommand(stderr)
	listen, sf := so.listen, so.station
	if err := c.parse(args, 0); err != nil {
		return err
	}
	log, accessLog, flushLog := newLogger(stderr)
	defer flushLog()
	senders, upstream, err := so.fleet.senders(*sf.name)
	if err != nil {
		return err
	}
	sinks := slices.Sorted(maps.Keys(senders))
	tuneGC()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	names := tlscert.HostNames()
	names = append(names, splitList(*so.hostnames)...)
	scheme := "http"
	switch {
	case isLoopback(ln.Addr()):
	case *so.insecure:
		log.Warn("INSECURE: plain HTTP on an address other than loopback (--insecure-http): tokens and passwords cross the network readable", "listen", ln.Addr().String())
	default:
		certs, err := tlscert.NewManager(tlscert.Source{CertFile: *so.tlsCert, KeyFile: *so.tlsKey, Dir: *c.dataDir, Names: names},
			time.Now, clock.Synced, log)
		if err != nil {
			return err
		}
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12, CipherSuites: tlscert.Suites})
		scheme = "https"
		if fp := certs.Fingerprint(); fp != "" {
			log.Info("TLS", "fingerprint_sha256", fp)
		}
	}
	changes := &web.ChangeCounter{}
	var forwarder atomic.Pointer[fleet.Forwarder] // set once the store is open
	changed := func(o domain.Origin, to domain.CardStatus) {
		changes.Add(o, to)
		if f := forwarder.Load(); f != nil {
			f.Wake()
		}
	}
	dbPath := filepath.Join(*c.dataDir, storage.FileName)
	st, err := c.openWith(storage.Options{Changed: changed, Sinks: sinks})
	var damaged *storage.DamageError
	if errors.As(err, &damaged) {
		// Nothing can be read, not even the credentials: serve the probes,
		// and answer the rest 503, rather than exit and be restarted over
		// and over by systemd. The file's lock is held, as bbolt would, so
		// that restore waits for the service to stop.
		release, err := storage.HoldFile(*c.dataDir, time.Second)
		if err != nil {
			return err
		}
		defer release()
		log.Error("THE DATABASE CANNOT BE OPENED: serving /healthz and /readyz only, every other route answers 503; "+
			"stop the service, copy the file aside and restore a backup (cardstop restore)", "problem", damaged.Error())
		handler := web.Degraded(damaged.Path+": "+damaged.Problem, web.Options{Logger: log, ClockSynced: clock.Synced})
		return listenAndServe(ctx, newHTTPServer(handler, log), ln, log, scheme, dbPath)
	}
	if err != nil {
		return err
	}
	defer st.Close()
	checkDone := make(chan struct{})
	st.HoldChanges() // until the check's verdict
	go func() { defer close(checkDone); startupCheck(ctx, st, log) }()
	defer func() { <-checkDone }() // before the database closes

	logFleet(log, sinks)
	var cards station.Cards = st
	if len(senders) > 0 {
		fw := fleet.New(st, senders, fleet.Options{Logger: log})
		forwarder.Store(fw)
		fwCtx, stopForwarder := context.WithCancel(ctx)
		fwDone := make(chan struct{})
		go func() { defer close(fwDone); fw.Run(fwCtx) }()
		defer func() { stopForwarder(); <-fwDone }() // before the database closes
		if upstream != nil {
			cards = fleet.NewReadThrough(st, upstream, upstreamOrigin(*so.fleet.upstream), 0, log)
		}
	}

	opt, stopStation, err := sf.startStation(ctx, cards, log)
	if err != nil {
		return err
	}
	defer stopStation() // before the database closes: LEDs off, no write in flight
	opt.Logger = log
	opt.StatusChangesPerMinute = *so.changes
	opt.Changes = changes
	opt.ClockSynced = clock.Synced
	opt.ClockProblem = clock.Problem
	opt.AllowedHosts = web.DefaultAllowedHosts(ln.Addr().String(), names...)
	opt.AccessLog = accessLog
	if f := forwarder.Load(); f != nil {
		opt.Forwarder = f
	}
	// Under systemd (Type=notify): ready now that the listener and the
	// database are, and alive for as long as the database answers.
	if err := systemd.Notify("READY=1"); err != nil {
		log.Warn("telling systemd the service is ready", "err", err)
	}
	defer systemd.Notify("STOPPING=1")
	go systemd.Watchdog(ctx, systemd.WatchdogInterval(), func(context.Context) error { return st.Ping() })
	h := web.New(st, opt)
	srv := newHTTPServer(h, log)
	srv.RegisterOnShutdown(h.StopStreams) // the station page's event streams never end by themselves
	return listenAndServe(ctx, srv, ln, log, scheme, dbPath)
}

// newHTTPServer bounds what one client may hold of the server.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// listenAndServe serves on ln until ctx ends, then finishes the requests
// in flight.
func listenAndServe(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger, scheme, dbPath string) error {
	log.Info("serving", "url", scheme+"://"+ln.Addr().String()+web.APIPrefix, "database", dbPath, "version", version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping: finishing requests in flight")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tuneGC collects garbage less often than Go's default, unless GOGC or
// GOMEMLIMIT say otherwise: nearly all a request allocates (bbolt's page
// buffers, JSON) is garbage at once, and collecting it took a tenth of the
// CPU under load. The soft limit is the Go side of the 96 MB budget
// (README, Security): two argon2id checks (38 MiB) and the streams fit
// under it, and the mapped file's pages and the binary's text (about
// 20 MB together, see storage's mappedPages) leave a margin above it.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(memoryLimit)
	}
}

// memoryLimit is the Go runtime's soft memory limit in serve.
const memoryLimit = 56 << 20

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// startupCheck checks the database beside serving: a consistent snapshot
// is written to a temporary file and checked in a child process
// (checkIsolated), while reads are served and changes are held. A damaged
// file makes the store refuse every change from then on; any other
// verdict, or none within checkLimit, lets the held changes go on.
func startupCheck(ctx context.Context, st *storage.Store, log *slog.Logger) {
	defer st.ReleaseChanges() // unless refused below, which releases them too
	start := time.Now()
	image, err := writeTemp("cardstop-check-*.db", func(w io.Writer) error { _, err := st.Backup(ctx, w); return err })
	if err != nil {
		log.Warn("the database check cannot run; serving without it", "err", err)
		return
	}
	defer os.Remove(image)
	checkCtx, cancel := context.WithTimeout(ctx, checkLimit)
	defer cancel()
	err = checkIsolated(checkCtx, image, false)
	switch {
	case ctx.Err() != nil:
		return
	case checkCtx.Err() != nil:
		log.Warn("the database check did not finish in time; serving without it", "limit", checkLimit)
	case errors.Is(err, errDamaged):
		st.RefuseChanges(err.Error())
		log.Error("THE DATABASE FAILED ITS CHECK: changes are refused; take a backup and restore a good one (cardstop restore)", "problem", err.Error())
	case err != nil:
		log.Warn("the database check could not run; serving without it", "err", err)
	default:
		log.Info("database check passed", "took", time.Since(start).Round(time.Millisecond))
	}
}

// checkLimit bounds the start-up check: far more than a large file takes
// on a Raspberry Pi.
const checkLimit = 2 * time.Minute

// newLogger writes text for a person at a terminal and JSON Lines for a
// log collector otherwise. access takes the requests' INFO lines in the
// same JSON (web.Options.AccessLog), batched (logbuf): a request's line
// waits at most logbuf.Delay, and any other line is written at once, with
// the request lines before it. access is nil at a terminal; flush writes
// what waits. No secret is ever passed to it.
func newLogger(w io.Writer) (log *slog.Logger, access io.Writer, flush func()) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, nil)), nil, func() {}
	}
	b := logbuf.New(w)
	return slog.New(logbuf.Handler(slog.NewJSONHandler(b, nil), b, slog.LevelDebug)), b, func() { _ = b.Flush() }
}
