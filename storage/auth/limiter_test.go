package auth_test

import (
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cardstop/cardstop/storage/auth"
)

// step is one thing done to a Limiter: wait, fail from host, or ask how
// long host must wait (want).
type step struct {
	wait time.Duration
	fail string
	ask  string
	want time.Duration
}

func advance(d time.Duration) step              { return step{wait: d} }
func fail(host string) step                     { return step{fail: host} }
func blocked(host string, d time.Duration) step { return step{ask: host, want: d} }

// failN is n failures of host, a second apart.
func failN(host string, n int) []step {
	var s []step
	for range n {
		s = append(s, fail(host), advance(time.Second))
	}
	return s
}

func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		}
	}
	return out
}

func TestLimiter(t *testing.T) {
	const a, b = "192.0.2.7", "198.51.100.9"
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{"a new address may try", 3, steps(blocked(a, 0))},
		{"fewer failures than the limit", 3, steps(failN(a, 2), blocked(a, 0))},
		{"the limit: refused until a minute after the first failure", 3,
			steps(failN(a, 3), blocked(a, 57*time.Second), advance(56*time.Second), blocked(a, time.Second))},
		{"the window ends exactly a minute after the first failure", 3,
			steps(failN(a, 3), advance(57*time.Second), blocked(a, 0))},
		{"after the window the count starts afresh", 3,
			steps(failN(a, 3), advance(57*time.Second), blocked(a, 0), failN(a, 2), blocked(a, 0), fail(a), blocked(a, 58*time.Second))},
		{"failures spread wider than the window never block", 3,
			steps(fail(a), advance(30*time.Second), fail(a), advance(30*time.Second), fail(a), blocked(a, 0))},
		{"a failure a minute after the first starts a new window", 3,
			steps(failN(a, 2), advance(58*time.Second), fail(a), blocked(a, 0), failN(a, 2), blocked(a, 58*time.Second))},
		{"more failures do not extend the window", 3,
			steps(failN(a, 3), failN(a, 10), blocked(a, 47*time.Second))},
		{"addresses are counted apart", 3,
			steps(failN(a, 3), blocked(b, 0), failN(b, 2), blocked(b, 0), blocked(a, 55*time.Second))},
		{"the API's limit", auth.MaxTokenFailures,
			steps(failN(a, 9), blocked(a, 0), failN(a, 1), blocked(a, 50*time.Second))},
		{"the sign-in limit", auth.MaxSignInFailures,
			steps(failN(a, 4), blocked(a, 0), fail(a), blocked(a, 56*time.Second))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
			l := auth.NewLimiter(tt.max, func() time.Time { return now })
			for i, s := range tt.steps {
				switch {
				case s.wait != 0:
					now = now.Add(s.wait)
				case s.fail != "":
					l.Fail(s.fail)
				default:
					if got := l.Blocked(s.ask); got != s.want {
						t.Fatalf("step %d: Blocked(%s) = %v, want %v", i+1, s.ask, got, s.want)
					}
				}
			}
		})
	}
}

// TestLimiterRealClock runs the limiter on time.Now inside a synctest
// bubble, with failures from many goroutines at once: the count is exact
// and the wait is the window's rest.
func TestLimiterRealClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := auth.NewLimiter(auth.MaxTokenFailures, nil)
		var wg sync.WaitGroup
		for i := range auth.MaxTokenFailures - 1 {
			wg.Go(func() {
				l.Fail("192.0.2.7")
				l.Fail("192.0.2." + strconv.Itoa(100+i))
			})
		}
		wg.Wait()
		if w := l.Blocked("192.0.2.7"); w != 0 {
			t.Fatalf("blocked for %v after %d failures", w, auth.MaxTokenFailures-1)
		}
		time.Sleep(10 * time.Second)
		l.Fail("192.0.2.7")
		if w := l.Blocked("192.0.2.7"); w != 50*time.Second {
			t.Fatalf("blocked for %v, want 50s", w)
		}
		time.Sleep(50 * time.Second)
		if w := l.Blocked("192.0.2.7"); w != 0 {
			t.Fatalf("still blocked for %v after the window", w)
		}
	})
}
