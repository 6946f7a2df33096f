//go:build !linux

package clock

// kernelSynced cannot ask elsewhere: the clock is trusted.
func kernelSynced() bool { return true }

// Problem: the clock's state is never unknown here.
func Problem() string { return "" }
