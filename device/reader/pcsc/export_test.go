//go:build cgo

package pcsc

// SetTestHookConnected sets the function run after each connection to a
// card, before its transaction; nil removes it.
func SetTestHookConnected(f func(reader string)) {
	if f == nil {
		testHookConnected.Store(nil)
		return
	}
	testHookConnected.Store(&f)
}
