//go:build !cgo

package pcsc

import (
	"context"
	"time"

	"github.com/cardstop/cardstop/device/reader"
)

// Watch reports ErrNotBuiltIn: this binary has no PC/SC support.
func Watch(ctx context.Context, opt Options) (<-chan reader.Event, error) {
	return nil, ErrNotBuiltIn
}

// List reports ErrNotBuiltIn: this binary has no PC/SC support.
func List() ([]string, error) { return nil, ErrNotBuiltIn }

// Identify reports ErrNotBuiltIn in the event: this binary has no PC/SC support.
func Identify(ctx context.Context, name string, timeout time.Duration) reader.Event {
	return reader.Event{Kind: reader.Inserted, Reader: name, Time: time.Now(), Err: ErrNotBuiltIn.Error()}
}
