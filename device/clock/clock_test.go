package clock

import "testing"

func TestSyncedIsSticky(t *testing.T) {
	synced.Store(false)
	first := Synced()
	t.Logf("this machine's kernel says the clock is synchronised: %v", first)
	synced.Store(true)
	if !Synced() {
		t.Fatal("once synchronised, the clock must stay so for the audit log")
	}
	synced.Store(false)
	if Synced() != kernelSynced() {
		t.Fatal("Synced disagrees with the kernel")
	}
}
