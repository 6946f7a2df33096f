package clock

import "testing"

// fakeKernel makes Synced ask answers instead of the kernel, and counts
// the questions.
func fakeKernel(t *testing.T, answers ...bool) *int {
	t.Helper()
	asked := new(int)
	old := askKernel
	t.Cleanup(func() { askKernel = old; synced.Store(false) })
	synced.Store(false)
	askKernel = func() bool {
		a := answers[min(*asked, len(answers)-1)]
		*asked++
		return a
	}
	return asked
}

func TestSyncedFollowsTheKernelUntilSynced(t *testing.T) {
	asked := fakeKernel(t, false, false, true, false)
	for i, want := range []bool{false, false, true, true, true} {
		if got := Synced(); got != want {
			t.Fatalf("question %d: Synced() = %v; want %v", i+1, got, want)
		}
	}
	if *asked != 3 {
		t.Errorf("the kernel was asked %d times; want 3 (never again once it said synchronised)", *asked)
	}
}

func TestNeverSynced(t *testing.T) {
	fakeKernel(t, false)
	for range 3 {
		if Synced() {
			t.Fatal("Synced() with a kernel that never synchronised")
		}
	}
}
