package auth

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterForgets: a full limiter forgets the keys whose window has
// passed, and only those, before it counts a new one.
func TestLimiterForgets(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	l := NewLimiter(MaxTokenFailures, func() time.Time { return now })
	for i := range MaxTrackedKeys - 1 {
		l.Fail("old-" + strconv.Itoa(i))
	}
	now = now.Add(FailureWindow / 2)
	for range MaxTokenFailures {
		l.Fail("recent")
	}
	now = now.Add(FailureWindow / 2)
	if len(l.keys) != MaxTrackedKeys {
		t.Fatalf("%d keys before pruning, want %d", len(l.keys), MaxTrackedKeys)
	}
	l.Fail("new")
	if len(l.keys) != 2 || l.keys["recent"] == nil || l.keys["new"] == nil {
		t.Fatalf("after pruning: %d keys, want recent and new", len(l.keys))
	}
	if w := l.Blocked("recent"); w != FailureWindow/2 {
		t.Errorf("the recent key waits %v, want %v", w, FailureWindow/2)
	}
}

// TestLimiterBounded: when every key is within its window, a new key
// still finds room, by forgetting another; and one that is refused is
// kept over those that are not. The limiter never holds more than
// MaxTrackedKeys, however many come, and attempts on the forgotten
// keys can still be given back.
func TestLimiterBounded(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	l := NewLimiter(3, func() time.Time { return now })
	for range 3 {
		l.Fail("guesser")
	}
	var early []*Attempt
	for i := range 3 * MaxTrackedKeys {
		now = now.Add(time.Millisecond) // all within the window
		a, _ := l.Take("flood-" + strconv.Itoa(i))
		if i < 100 {
			early = append(early, a)
		}
		if len(l.keys) > MaxTrackedKeys {
			t.Fatalf("%d keys after %d new ones, want at most %d", len(l.keys), i+1, MaxTrackedKeys)
		}
	}
	if l.keys["guesser"] == nil || l.Blocked("guesser") == 0 {
		t.Fatal("the refused key was forgotten to make room")
	}
	kept := 0
	for i := range early {
		if l.keys["flood-"+strconv.Itoa(i)] != nil {
			kept++
		}
	}
	for _, a := range early {
		a.GiveBack()
	}
	if len(l.keys) != MaxTrackedKeys-kept {
		t.Errorf("%d keys after giving back attempts, %d of whose keys were kept; want %d", len(l.keys), kept, MaxTrackedKeys-kept)
	}
}

// TestLimiterPrunesOnlyWhenDue: a full limiter of live keys does not walk
// them all again for each new key, only once one may have passed.
func TestLimiterPrunesOnlyWhenDue(t *testing.T) {
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	now := start
	l := NewLimiter(3, func() time.Time { return now })
	for i := range MaxTrackedKeys {
		l.Fail("k-" + strconv.Itoa(i))
	}
	now = now.Add(time.Second)
	for range 3 { // refused: never the one forgotten to make room
		l.Fail("new-0")
	}
	if want := start.Add(FailureWindow); !l.nextPrune.Equal(want) {
		t.Fatalf("next prune %v, want %v (when the oldest window ends)", l.nextPrune, want)
	}
	now = now.Add(FailureWindow - 2*time.Second)
	for range 3 {
		l.Fail("new-1") // not yet due: one key is forgotten
	}
	if len(l.keys) != MaxTrackedKeys || !l.nextPrune.Equal(start.Add(FailureWindow)) {
		t.Fatalf("%d keys, next prune %v; want %d, %v", len(l.keys), l.nextPrune, MaxTrackedKeys, start.Add(FailureWindow))
	}
	now = now.Add(time.Second) // the first keys' windows have passed
	l.Fail("new-2")
	if len(l.keys) != 3 {
		t.Fatalf("%d keys once the old windows passed, want the 3 new ones", len(l.keys))
	}
}
