package auth_test

import (
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage/auth"
)

func TestSessionPolicy(t *testing.T) {
	if auth.SessionIdle != 30*time.Minute || auth.SessionAbsolute != 12*time.Hour || auth.SessionTouchEvery != time.Minute {
		t.Fatalf("session lifetimes %v idle, %v absolute, touched every %v; want 30m, 12h, 1m",
			auth.SessionIdle, auth.SessionAbsolute, auth.SessionTouchEvery)
	}
	signIn := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		name           string
		lastSeen, now  time.Duration // after sign-in
		expired, stale bool
	}{
		{"just signed in", 0, 0, false, false},
		{"used a minute ago", 0, time.Minute, false, false},
		{"used a minute and a second ago", 0, time.Minute + time.Second, false, true},
		{"idle 29 minutes", 0, 29 * time.Minute, false, true},
		{"idle exactly 30 minutes", 0, 30 * time.Minute, false, true},
		{"idle 30 minutes and a nanosecond", 0, 30*time.Minute + 1, true, true},
		{"used now, 12 hours after sign-in", 12 * time.Hour, 12 * time.Hour, false, false},
		{"used now, 12 hours and a nanosecond after sign-in", 12*time.Hour + 1, 12*time.Hour + 1, true, false},
		{"used 29 minutes ago, 11 h 50 after sign-in", 11*time.Hour + 21*time.Minute, 11*time.Hour + 50*time.Minute, false, true},
		{"a clock set back", time.Hour, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lastSeen, now := signIn.Add(tt.lastSeen), signIn.Add(tt.now)
			if got := auth.SessionExpired(signIn, lastSeen, now); got != tt.expired {
				t.Errorf("SessionExpired = %v, want %v", got, tt.expired)
			}
			if got := auth.SessionStale(lastSeen, now); got != tt.stale {
				t.Errorf("SessionStale = %v, want %v", got, tt.stale)
			}
		})
	}
}
