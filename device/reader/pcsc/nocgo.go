//go:build !cgo

package pcsc

import (
	"context"

	"github.com/cardstop/cardstop/device/reader"
)

// Watch reports ErrNotBuiltIn: this binary has no PC/SC support.
func Watch(ctx context.Context, opt Options) (<-chan reader.Event, error) {
	return nil, ErrNotBuiltIn
}

// List reports ErrNotBuiltIn: this binary has no PC/SC support.
func List() ([]string, error) { return nil, ErrNotBuiltIn }
