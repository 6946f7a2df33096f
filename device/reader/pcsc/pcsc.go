// Package pcsc watches PC/SC readers through pcscd and reports what
// happens there as reader.Events: readers appearing and going, cards
// inserted (with their identity) and removed, pcscd going away and coming
// back. It is the only package that uses cgo; built with CGO_ENABLED=0 it
// compiles and reports ErrNotBuiltIn.
package pcsc

import (
	"errors"
	"log/slog"
	"strings"
	"time"
)

// ErrNotBuiltIn is returned by a binary built without cgo.
var ErrNotBuiltIn = errors.New("PC/SC support not built in (this binary was built with CGO_ENABLED=0)")

// Options tune Watch. The zero value watches every reader.
type Options struct {
	// Readers limits the watch to the readers whose names contain one of
	// these texts; empty means every reader pcscd lists.
	Readers []string
	// Backoff is the wait between attempts to reach pcscd after it went
	// away. Zero means 500 ms.
	Backoff time.Duration
	// ReadTimeout bounds the identity read of an inserted card: one that
	// does not answer in time is reported unreadable. Zero means
	// DefaultReadTimeout.
	ReadTimeout time.Duration
	// Poll bounds each wait for a change. pcsc-lite before 2.3.0 signals
	// only a change in the number of readers, so a reader unplugged and
	// another plugged in between two waits is found by listing the
	// readers again after at most this long. Zero means 1 s.
	Poll time.Duration
	// Logger receives what the events do not carry; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultReadTimeout is long enough for a T=0 card at 9600 bit/s to send a
// signed CHUID of 3 KB, GET RESPONSE by GET RESPONSE.
const DefaultReadTimeout = 5 * time.Second

func (o *Options) defaults() {
	if o.Backoff == 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// wanted reports whether the reader name is one the options ask for.
func (o *Options) wanted(name string) bool {
	if len(o.Readers) == 0 {
		return true
	}
	for _, r := range o.Readers {
		if strings.Contains(name, r) {
			return true
		}
	}
	return false
}
