package clock

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// refused is set once adjtimex was refused: a unit with ProtectClock=yes
// filters it out, read-only calls included. Then systemd-timedated, which
// may call it, is asked instead (timedatectl, over D-Bus).
var refused atomic.Bool

// lastAsk is when timedated was last asked (Unix nanoseconds), and
// problem why the last answer could not be had ("" when it was).
var (
	lastAsk atomic.Int64
	problem atomic.Pointer[string]
)

// askEvery bounds how often timedatectl runs while the clock is not
// synchronised: Synced is asked for every audit event.
const askEvery = 10 * time.Second

// kernelSynced asks the kernel's NTP state.
func kernelSynced() bool {
	if !refused.Load() {
		var tx unix.Timex
		state, err := unix.Adjtimex(&tx)
		if !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
			setProblem("")
			return syncedState(state, tx.Status, err)
		}
		refused.Store(true)
	}
	now := time.Now().UnixNano()
	if last := lastAsk.Load(); last != 0 && now-last < int64(askEvery) {
		return false
	}
	lastAsk.Store(now)
	synced, err := timedatedSynced()
	if err != nil {
		setProblem("adjtimex is refused here and timedatectl did not answer: " + err.Error())
		return false
	}
	setProblem("")
	return synced
}

func setProblem(p string) { problem.Store(&p) }

// Problem says why the clock's state cannot be read ("" when it can).
func Problem() string {
	if p := problem.Load(); p != nil {
		return *p
	}
	return ""
}

// timedatedSynced asks systemd-timedated whether NTP has synchronised the
// clock.
func timedatedSynced() (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "timedatectl", "show", "--property=NTPSynchronized", "--value").Output()
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(string(out)) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, errors.New("timedatectl answered " + strings.TrimSpace(string(out)))
}

// syncedState reads adjtimex's answer: an NTP client that disciplines the
// clock clears STA_UNSYNC; adjtimex answers TIME_ERROR while it is set. A
// failed call is no proof of synchronisation.
func syncedState(state int, status int32, err error) bool {
	return err == nil && state != unix.TIME_ERROR && status&unix.STA_UNSYNC == 0
}
