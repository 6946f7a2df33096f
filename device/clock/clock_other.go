//go:build !linux

package clock

// kernelSynced cannot ask elsewhere: the clock is trusted.
func kernelSynced() bool { return true }
