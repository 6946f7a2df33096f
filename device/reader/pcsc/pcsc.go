// Package pcsc watches a PC/SC reader through pcscd and reports what
// happens there as reader.Events: readers appearing and going, cards
// inserted (with their identity) and removed, pcscd going away and coming
// back. It is the only package that uses cgo; built with CGO_ENABLED=0 it
// compiles and reports ErrNotBuiltIn.
package pcsc

import (
	"errors"
	"log/slog"
	"time"
)

// ErrNotBuiltIn is returned by a binary built without cgo.
var ErrNotBuiltIn = errors.New("PC/SC support not built in (this binary was built with CGO_ENABLED=0)")

// Options tune Watch. The zero value watches the first reader.
type Options struct {
	// Reader picks the first reader whose name contains this text; empty
	// means the first reader pcscd lists.
	Reader string
	// Backoff is the wait between attempts to reach pcscd after it went
	// away. Zero means 500 ms.
	Backoff time.Duration
	// ReadTimeout bounds the identity read of an inserted card: one that
	// does not answer in time is reported unreadable. Zero means 3 s.
	ReadTimeout time.Duration
	// Logger receives what the events do not carry; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Backoff == 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}
