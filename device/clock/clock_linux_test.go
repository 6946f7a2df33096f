package clock

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyncedState(t *testing.T) {
	for _, tt := range []struct {
		name   string
		state  int
		status int32
		err    error
		want   bool
	}{
		{"disciplined", unix.TIME_OK, unix.STA_PLL, nil, true},
		{"disciplined, leap second ahead", unix.TIME_INS, unix.STA_PLL | unix.STA_INS, nil, true},
		{"not yet synchronised", unix.TIME_ERROR, unix.STA_UNSYNC, nil, false},
		{"unsync flag alone", unix.TIME_OK, unix.STA_UNSYNC | unix.STA_PLL, nil, false},
		{"time error alone", unix.TIME_ERROR, 0, nil, false},
		{"adjtimex failed", unix.TIME_OK, 0, errors.New("operation not permitted"), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := syncedState(tt.state, tt.status, tt.err); got != tt.want {
				t.Errorf("syncedState(%d, %#x, %v) = %v; want %v", tt.state, tt.status, tt.err, got, tt.want)
			}
		})
	}
}

// TestKernelAnswers: this machine's kernel can be asked at all.
func TestKernelAnswers(t *testing.T) {
	var tx unix.Timex
	if _, err := unix.Adjtimex(&tx); err != nil {
		t.Fatalf("adjtimex: %v", err)
	}
	t.Logf("this machine's kernel says the clock is synchronised: %v", kernelSynced())
}
