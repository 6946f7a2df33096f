package storage

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// checker is a stand-in for bbolt's tx.Check: it sends errs, closes its
// channel, and ends when end is closed. A checker that panics on a damaged
// page is like one that never ends: its deferred close has run, and the
// goroutine is still there until the panic stops the process.
func checker(end <-chan struct{}, errs ...error) func() <-chan error {
	return func() <-chan error {
		ch := make(chan error)
		go func() {
			for _, err := range errs {
				ch <- err
			}
			close(ch)
			<-end
		}()
		return ch
	}
}

func TestDrainCheck(t *testing.T) {
	page7 := errors.New("page 7: unreachable unfreed")
	for _, tt := range []struct {
		name    string
		lingers bool // the checker is still there after closing its channel
		errs    []error
		want    string // "" for a pass
	}{
		{"a pass", false, nil, ""},
		{"problems: the first", false, []error{page7, errors.New("page 8: already freed")}, "database check: page 7: unreachable unfreed"},
		{"a checker still there after closing its channel", true, nil, "the checker did not finish"},
		{"a checker still there after a problem", true, []error{page7}, "the checker did not finish"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				end := make(chan struct{})
				if tt.lingers {
					defer close(end) // once drainCheck has given up
				} else {
					close(end)
				}
				start := time.Now()
				err := drainCheck(checker(end, tt.errs...), 10*time.Second)
				took := time.Since(start)
				switch {
				case tt.want == "" && err != nil:
					t.Fatalf("drainCheck: %v; want a pass", err)
				case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
					t.Fatalf("drainCheck: %v; want %q", err, tt.want)
				case tt.want == "the checker did not finish" && took < 10*time.Second:
					t.Fatalf("drainCheck gave up after %v; want the limit, 10 s", took)
				}
			})
		})
	}
}

// TestDrainCheckWaitsForItsCheckerOnly: goroutines that are not its
// checker's (the caller's, another check's) do not hold a check up.
func TestDrainCheckWaitsForItsCheckerOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		mine := make(chan struct{})
		go func() { <-stop; close(mine) }() // the caller's own
		other := make(chan error, 1)
		go func() { other <- drainCheck(checker(stop), time.Hour) }() // a check whose checker lingers
		synctest.Wait()
		ended := make(chan struct{})
		close(ended)
		start := time.Now()
		if err := drainCheck(checker(ended), time.Minute); err != nil {
			t.Errorf("drainCheck beside other goroutines: %v", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("drainCheck took %v beside other goroutines", took)
		}
		close(stop)
		<-mine
		if err := <-other; err != nil {
			t.Errorf("the other check, once its checker ended: %v", err)
		}
	})
}
