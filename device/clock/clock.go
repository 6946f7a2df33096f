// Package clock tells whether the system clock has been synchronised
// since boot. A Raspberry Pi has no real-time clock: until the NTP client
// (chrony, with rtcsync) has set the time, timestamps may be days off, and
// the audit log marks the events made before then.
package clock

import "sync/atomic"

// synced is sticky: once the kernel has said so, events are dated well.
var synced atomic.Bool

// askKernel is kernelSynced; tests replace it.
var askKernel = kernelSynced

// Synced reports whether the kernel's clock has been synchronised by an
// NTP client since boot.
func Synced() bool {
	if synced.Load() {
		return true
	}
	if askKernel() {
		synced.Store(true)
		return true
	}
	return false
}
