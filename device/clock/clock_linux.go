package clock

import "golang.org/x/sys/unix"

// kernelSynced asks the kernel's NTP state.
func kernelSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return syncedState(state, tx.Status, err)
}

// syncedState reads adjtimex's answer: an NTP client that disciplines the
// clock clears STA_UNSYNC; adjtimex answers TIME_ERROR while it is set. A
// failed call is no proof of synchronisation.
func syncedState(state int, status int32, err error) bool {
	return err == nil && state != unix.TIME_ERROR && status&unix.STA_UNSYNC == 0
}
