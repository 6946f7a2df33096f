package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/web"
)

// serveOptions are serve's flags beyond the shared ones.
type serveOptions struct {
	listen   *string
	insecure *bool
	station  *stationFlags
}

// serveCommand declares serve's flags; configKeys reads them too.
func serveCommand(stderr io.Writer) (*command, serveOptions) {
	c := newCommand("serve", "[--listen ADDR]", stderr, "cardstop serve --data-dir ./var --listen 127.0.0.1:8080")
	o := serveOptions{
		listen:   c.fs.String("listen", "127.0.0.1:8080", "the address to serve on"),
		insecure: c.fs.Bool("insecure-http", false, "INSECURE: allow plain HTTP on an address other than loopback; tokens cross the network readable"),
		station:  addStationFlags(c.fs),
	}
	return &c, o
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	c, so := serveCommand(stderr)
	listen, insecure, sf := so.listen, so.insecure, so.station
	if err := c.parse(args, 0); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	if !isLoopback(ln.Addr()) && !*insecure {
		return fmt.Errorf("%w: %s is not a loopback address; plain HTTP would send tokens readable over the network (TLS is not built in yet; --insecure-http overrides)", errUsage, *listen)
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()

	log := slog.New(slog.NewTextHandler(stderr, nil))
	opt, stopStation, err := sf.startStation(ctx, st, log)
	if err != nil {
		return err
	}
	defer stopStation() // before the database closes: LEDs off, no write in flight
	opt.Logger = log
	host, _ := os.Hostname()
	opt.AllowedHosts = web.DefaultAllowedHosts(ln.Addr().String(), host)
	srv := &http.Server{
		Handler:           web.New(st, opt),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "url", "http://"+ln.Addr().String()+web.APIPrefix, "database", filepath.Join(*c.dataDir, storage.FileName), "version", version)
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

func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
