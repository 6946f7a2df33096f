//go:build unix

package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// HoldFile takes the lock bbolt takes on the database file in dir, without
// reading it: restore uses it to prove that no server has a file open
// that cannot be opened as a database. It fails with ErrInUse when another
// process holds the file past timeout; release lets go of it.
func HoldFile(dir string, timeout time.Duration) (release func() error, err error) {
	path := filepath.Join(dir, FileName)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f.Close, nil // closing the file drops the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				err = ErrInUse
			}
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
}
