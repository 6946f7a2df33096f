package auth_test

import (
	"strconv"
	"sync"
	"sync/atomic"
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

// TestLimiterFailCounts: Fail says how many failures the key has had in
// its window and how long the window has yet to run.
func TestLimiterFailCounts(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	l := auth.NewLimiter(3, func() time.Time { return now })
	for i := 1; i <= 5; i++ {
		n, left := l.Fail("a")
		if want := FailureLeft(i); n != i || left != want {
			t.Fatalf("failure %d: Fail = %d, %v; want %d, %v", i, n, left, i, want)
		}
		now = now.Add(time.Second)
	}
	now = now.Add(55 * time.Second) // a minute after the first
	if n, left := l.Fail("a"); n != 1 || left != time.Minute {
		t.Fatalf("the first failure of a new window: Fail = %d, %v; want 1, 1m", n, left)
	}
}

// FailureLeft is the window's rest at the i-th failure, a second apart.
func FailureLeft(i int) time.Duration { return auth.FailureWindow - time.Duration(i-1)*time.Second }

// TestLimiterTake: attempts count before they are checked, for every key
// at once or for none, and a right one is given back.
func TestLimiterTake(t *testing.T) {
	const addr, ann, bob = "address 192.0.2.7", "user ann", "user bob"
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	type op struct {
		fail     string   // Fail this
		keys     []string // or Take these
		giveBack int      // or give back the attempt taken at this op (1-based)
		wait     time.Duration
		want     time.Duration // Take's wait: 0, it is taken
	}
	take := func(want time.Duration, keys ...string) op { return op{keys: keys, want: want} }
	back := func(i int) op { return op{giveBack: i} }
	after := func(d time.Duration) op { return op{wait: d} }
	tests := []struct {
		name string
		ops  []op
	}{
		{"attempts count until given back: the fourth is refused while three are out", []op{
			take(0, addr), take(0, addr), take(0, addr), take(time.Minute, addr)}},
		{"a given-back attempt frees its place", []op{
			take(0, addr), take(0, addr), take(0, addr), back(2), take(0, addr), take(time.Minute, addr)}},
		{"giving back twice frees one place", []op{
			take(0, addr), take(0, addr), take(0, addr), back(3), back(3), take(0, addr), take(time.Minute, addr)}},
		{"every key is counted", []op{
			take(0, addr, ann), take(0, addr, ann), take(0, addr, bob), take(time.Minute, addr, bob), take(0, ann)}},
		{"a refused key counts for none: the others are not taken", []op{
			take(0, ann), take(0, ann), take(0, ann), take(time.Minute, addr, ann), take(time.Minute, addr, ann),
			take(0, addr), take(0, addr), take(0, addr), take(time.Minute, addr)}},
		{"the longest wait is said", []op{
			take(0, ann), after(10 * time.Second), take(0, ann, addr), take(0, ann, addr), take(0, addr),
			take(time.Minute, addr, ann)}},
		{"an attempt given back after its window does not free the next window", []op{
			take(0, addr), after(time.Minute), take(0, addr), take(0, addr), take(0, addr), back(1), take(time.Minute, addr)}},
		{"a key with nothing counted starts a new window at its next attempt", []op{
			take(0, addr), after(50 * time.Second), back(1), take(0, addr), take(0, addr), take(0, addr),
			after(20 * time.Second), take(40*time.Second, addr)}},
		{"failures and taken attempts count together", []op{
			{fail: addr}, take(0, addr), take(0, addr), take(time.Minute, addr)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start
			l := auth.NewLimiter(3, func() time.Time { return now })
			taken := map[int]*auth.Attempt{}
			for i, o := range tt.ops {
				switch {
				case o.wait != 0:
					now = now.Add(o.wait)
				case o.giveBack != 0:
					taken[o.giveBack].GiveBack()
				case o.fail != "":
					l.Fail(o.fail)
				default:
					a, wait := l.Take(o.keys...)
					if wait != o.want || (a == nil) != (o.want != 0) {
						t.Fatalf("op %d: Take(%q) = %v, %v; want wait %v", i+1, o.keys, a, wait, o.want)
					}
					taken[i+1] = a
				}
			}
		})
	}
	var none *auth.Attempt
	none.GiveBack() // a refused Take's nil attempt
}

// TestLimiterTakeRace: of many attempts at once on one name from one
// address, exactly the limit's worth are taken, whatever the order.
func TestLimiterTakeRace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := auth.NewLimiter(auth.MaxSignInFailures, nil)
		var taken, refused atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Go(func() {
				if a, wait := l.Take("address 192.0.2.7", "user ann", "other "+strconv.Itoa(i)); a != nil {
					taken.Add(1)
				} else if wait == auth.FailureWindow {
					refused.Add(1)
				}
			})
		}
		wg.Wait()
		if taken.Load() != auth.MaxSignInFailures || refused.Load() != 30-auth.MaxSignInFailures {
			t.Fatalf("%d taken and %d refused for a minute, want %d and %d", taken.Load(), refused.Load(),
				auth.MaxSignInFailures, 30-auth.MaxSignInFailures)
		}
		time.Sleep(auth.FailureWindow)
		if a, _ := l.Take("address 192.0.2.7", "user ann"); a == nil {
			t.Fatal("refused after the window")
		}
	})
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
