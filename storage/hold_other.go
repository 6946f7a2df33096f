//go:build !unix

package storage

import (
	"errors"
	"time"
)

// HoldFile is not supported here: restore cannot prove the file unused.
func HoldFile(dir string, timeout time.Duration) (release func() error, err error) {
	return nil, errors.New("holding a damaged database file is supported on Unix only")
}
