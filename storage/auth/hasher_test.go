package auth_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cardstop/cardstop/storage/auth"
)

// counter measures how many hashes or checks run at once.
type counter struct {
	now, peak, total atomic.Int32
}

func (c *counter) observe() func() {
	n := c.now.Add(1)
	c.total.Add(1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	return func() { c.now.Add(-1) }
}

// TestHasherBounds: of many checks and hashes at once, at most
// MaxPasswordWork run at a time, and each gives the answer it would alone.
func TestHasherBounds(t *testing.T) {
	hash := auth.HashPassword("a long passphrase")
	synctest.Test(t, func(t *testing.T) {
		h := auth.NewHasher(auth.MaxPasswordWork, auth.PasswordWait)
		var c counter
		h.Observe = c.observe
		var wg sync.WaitGroup
		var wrong atomic.Int32
		for i := range 12 {
			wg.Go(func() {
				var ok bool
				var err error
				switch i % 3 {
				case 0:
					ok, err = h.Check(context.Background(), hash, "a long passphrase")
				case 1:
					ok, err = h.Check(context.Background(), hash, "not the passphrase")
					ok = !ok
				case 2:
					var made string
					made, err = h.Hash(context.Background(), "another passphrase")
					ok = auth.CheckPassword(made, "another passphrase")
				}
				if err != nil || !ok {
					wrong.Add(1)
				}
			})
		}
		wg.Wait()
		if wrong.Load() != 0 {
			t.Errorf("%d wrong answers", wrong.Load())
		}
		if c.total.Load() != 12 || c.peak.Load() > auth.MaxPasswordWork {
			t.Fatalf("%d ran, at most %d at once; want 12, at most %d", c.total.Load(), c.peak.Load(), auth.MaxPasswordWork)
		}
	})
}

// TestHasherBusy: while MaxPasswordWork checks run, another waits
// PasswordWait for its turn and then fails with ErrBusy, or ends with its
// context, without running; one that gets its turn in time runs.
func TestHasherBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := auth.NewHasher(auth.MaxPasswordWork, auth.PasswordWait)
		release := make(chan struct{})
		var c counter
		h.Observe = func() func() {
			done := c.observe()
			<-release // the work runs until released
			return done
		}
		var wg sync.WaitGroup
		for range auth.MaxPasswordWork {
			wg.Go(func() { _ = h.CheckNone(context.Background(), "x") })
		}
		synctest.Wait()

		start := time.Now()
		err := h.CheckNone(context.Background(), "y")
		if !errors.Is(err, auth.ErrBusy) || time.Since(start) != auth.PasswordWait {
			t.Fatalf("CheckNone = %v after %v; want ErrBusy after %v", err, time.Since(start), auth.PasswordWait)
		}

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := h.Hash(ctx, "z"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Hash with a context that ends first = %v", err)
		}

		var late error
		wg.Go(func() { _, late = h.Check(context.Background(), auth.HashPassword("w"), "w") })
		time.Sleep(auth.PasswordWait - time.Millisecond)
		close(release)
		wg.Wait()
		if late != nil || c.total.Load() != auth.MaxPasswordWork+1 {
			t.Fatalf("the check that waited %v: %v; %d ran in all, want %d", auth.PasswordWait-time.Millisecond, late, c.total.Load(), auth.MaxPasswordWork+1)
		}
	})
}
