package storage

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var testBucket = []byte("b")

func newGroupCommit(t *testing.T) (*groupCommit, *bolt.DB) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g := &groupCommit{db: db}
	if err := g.do(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(testBucket); return err }); err != nil {
		t.Fatal(err)
	}
	return g, db
}

func put(k string) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error { return tx.Bucket(testBucket).Put([]byte(k), []byte("v")) }
}

func stored(t *testing.T, db *bolt.DB, k string) bool {
	t.Helper()
	var ok bool
	db.View(func(tx *bolt.Tx) error { ok = tx.Bucket(testBucket).Get([]byte(k)) != nil; return nil })
	return ok
}

// group runs the changes as one group: a first change holds the lead
// until all of them are queued, in order.
func group(t *testing.T, g *groupCommit, fns ...func(*bolt.Tx) error) []error {
	t.Helper()
	release := make(chan struct{})
	held := make(chan struct{})
	go g.do(func(*bolt.Tx) error { close(held); <-release; return nil })
	<-held
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.do(fn) }()
		waitQueued(t, g, i+1) // keep the order
	}
	close(release)
	wg.Wait()
	return errs
}

// waitQueued waits until n changes wait in the queue behind the lead.
func waitQueued(t *testing.T, g *groupCommit, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		queued := len(g.queue)
		g.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d changes wait in the queue; want %d", queued, n)
		}
	}
}

func TestGroupCommitShares(t *testing.T) {
	g, db := newGroupCommit(t)
	commits := 0
	seen := map[*bolt.Tx]bool{}
	var mu sync.Mutex
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.do(func(tx *bolt.Tx) error {
				mu.Lock()
				if !seen[tx] {
					seen[tx] = true
					tx.OnCommit(func() { commits++ }) // runs under the writer lock
				}
				mu.Unlock()
				return tx.Bucket(testBucket).Put(binary.BigEndian.AppendUint32(nil, uint32(i)), []byte("v"))
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var keys int
	db.View(func(tx *bolt.Tx) error { keys = tx.Bucket(testBucket).Stats().KeyN; return nil })
	if keys != n || commits >= n {
		t.Errorf("%d changes: %d stored in %d commits; want all, in fewer commits", n, keys, commits)
	}
}

func TestGroupCommitFailures(t *testing.T) {
	refused := errors.New("refused")
	g, db := newGroupCommit(t)
	errs := group(t, g,
		put("a"),
		func(*bolt.Tx) error { return refused },
		func(*bolt.Tx) error { panic("a bug in one change") },
		put("b"),
	)
	if errs[0] != nil || errs[3] != nil || !errors.Is(errs[1], refused) || errs[2] == nil || errors.Is(errs[2], refused) {
		t.Fatalf("outcomes %v; want nil, refused, the panic, nil", errs)
	}
	if !stored(t, db, "a") || !stored(t, db, "b") {
		t.Error("the changes beside the failed ones were not committed")
	}

	// A change refused only beside another of its group is run alone.
	errs = group(t, g,
		put("lock"),
		func(tx *bolt.Tx) error {
			if tx.Bucket(testBucket).Get([]byte("lock")) != nil {
				return refused
			}
			return tx.Bucket(testBucket).Put([]byte("alone"), []byte("v"))
		},
	)
	if errs[0] != nil || errs[1] != nil || !stored(t, db, "lock") || !stored(t, db, "alone") {
		t.Fatalf("outcomes %v; want both committed", errs)
	}
}

// TestGroupCommitBroken: when bbolt itself panics in a commit (it does on
// some damaged files), every change of the group is answered, the store
// is told, and later changes fail at once instead of waiting for ever.
func TestGroupCommitBroken(t *testing.T) {
	g, db := newGroupCommit(t)
	var told string
	g.onBroken = func(why string) { told = why }
	errs := group(t, g,
		put("a"),
		func(tx *bolt.Tx) error {
			tx.OnCommit(func() { panic("page 7 already freed") }) // as bbolt's own panics escape Commit
			return nil
		},
		put("b"),
	)
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "page 7 already freed") {
			t.Errorf("change %d of the broken group: %v", i, err)
		}
	}
	if !strings.Contains(told, "page 7 already freed") {
		t.Errorf("the store was told %q", told)
	}
	done := make(chan error)
	go func() { done <- g.do(put("c")) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a change after the broken commit succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a change after the broken commit never returned")
	}
	if stored(t, db, "c") {
		t.Error("a change after the broken commit was written")
	}
}
