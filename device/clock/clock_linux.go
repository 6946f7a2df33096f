package clock

import "golang.org/x/sys/unix"

// kernelSynced asks the kernel's NTP state: an NTP client that disciplines
// the clock clears STA_UNSYNC; adjtimex answers TIME_ERROR while it is set.
func kernelSynced() bool {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	return err == nil && state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0
}
