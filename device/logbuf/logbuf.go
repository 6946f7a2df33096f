// Package logbuf batches the service's log lines: under load a write to
// the journal for every request's line costs more than the rest of the
// request's own work on a Raspberry Pi.
//
// Lines wait at most Delay in memory, and a record of a Handler's level or
// above is written at once with those before it (the service writes every
// line but the requests' at once), so what matters reaches the journal
// when it happens. A process killed with SIGKILL loses the lines of its
// last Delay; the audit log, not this one, is the record of changes.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Delay is the longest a line waits before it is written.
const Delay = 100 * time.Millisecond

// maxBuffered is how much waits before it is written without waiting
// for Delay, by a goroutine of its own; at four times that a Write waits
// for the destination (the journal is slower than the requests).
const maxBuffered = 64 << 10

// Writer gathers whole lines (one Write each, as slog's handlers write
// them) and writes them to its destination together. It is safe for
// concurrent use.
type Writer struct {
	dst io.Writer

	// out is held while a batch is taken and written, so batches reach
	// the destination in order; it is taken before mu, and a Write never
	// waits for it but when four batches wait. spare is the buffer
	// written last, kept for the next batch.
	out   sync.Mutex
	spare []byte

	mu     sync.Mutex
	buf    []byte
	armed  bool // a flush is due within Delay
	urgent bool // a flush is due now
	err    error
}

// New returns a Writer that batches lines to dst.
func New(dst io.Writer) *Writer { return &Writer{dst: dst} }

// Write keeps p, a line, for the next flush. It reports the error of an
// earlier flush, if one failed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	if len(w.buf) >= 4*maxBuffered {
		w.mu.Unlock()
		_ = w.Flush()
		w.mu.Lock()
	}
	w.buf = append(w.buf, p...)
	switch {
	case len(w.buf) >= maxBuffered && !w.urgent:
		w.urgent = true
		go func() { _ = w.Flush() }()
	case !w.armed:
		w.armed = true
		time.AfterFunc(Delay, func() { _ = w.Flush() })
	}
	err := w.err
	w.mu.Unlock()
	return len(p), err
}

// Flush writes what waits.
func (w *Writer) Flush() error {
	w.out.Lock()
	defer w.out.Unlock()
	w.mu.Lock()
	data := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.armed, w.urgent = false, false
	w.mu.Unlock()
	var err error
	if len(data) > 0 {
		_, err = w.dst.Write(data)
	}
	if cap(data) <= 2*maxBuffered { // a burst's buffer is not kept
		w.spare = data[:0]
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = err
	}
	return w.err
}

// Handler wraps h, which writes to w, so that a record of level or above
// is written at once, with the lines that waited before it.
func Handler(h slog.Handler, w *Writer, level slog.Level) slog.Handler {
	return &flushing{Handler: h, w: w, level: level}
}

type flushing struct {
	slog.Handler
	w     *Writer
	level slog.Level
}

func (f *flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= f.level {
		if ferr := f.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (f *flushing) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &flushing{Handler: f.Handler.WithAttrs(attrs), w: f.w, level: f.level}
}

func (f *flushing) WithGroup(name string) slog.Handler {
	return &flushing{Handler: f.Handler.WithGroup(name), w: f.w, level: f.level}
}
