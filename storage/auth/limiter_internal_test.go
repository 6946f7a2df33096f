package auth

import (
	"strconv"
	"testing"
	"time"
)

// TestLimiterForgets: a full limiter forgets the addresses whose window
// has passed, and only those, before it counts a new one.
func TestLimiterForgets(t *testing.T) {
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	l := NewLimiter(MaxTokenFailures, func() time.Time { return now })
	for i := range MaxTrackedHosts - 1 {
		l.Fail("old-" + strconv.Itoa(i))
	}
	now = now.Add(FailureWindow / 2)
	l.Fail("recent")
	for range MaxTokenFailures - 1 {
		l.Fail("recent")
	}
	now = now.Add(FailureWindow / 2)
	if len(l.hosts) != MaxTrackedHosts {
		t.Fatalf("%d addresses before pruning, want %d", len(l.hosts), MaxTrackedHosts)
	}
	l.Fail("new")
	if len(l.hosts) != 2 || l.hosts["recent"] == nil || l.hosts["new"] == nil {
		t.Fatalf("after pruning: %d addresses, want recent and new", len(l.hosts))
	}
	if w := l.Blocked("recent"); w != FailureWindow/2 {
		t.Errorf("the recent address waits %v, want %v", w, FailureWindow/2)
	}

	// When every address is within its window, none is forgotten.
	l = NewLimiter(1, func() time.Time { return now })
	for i := range MaxTrackedHosts + 5 {
		l.Fail("live-" + strconv.Itoa(i))
	}
	if len(l.hosts) != MaxTrackedHosts+5 {
		t.Errorf("%d addresses, want every one of %d", len(l.hosts), MaxTrackedHosts+5)
	}
}
