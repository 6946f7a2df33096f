package storage

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
)

// maxGroup bounds the changes one commit carries, and so its size and the
// work a failing change causes (the rest of its group runs again).
const maxGroup = 64

// groupCommit commits concurrent changes together: while one commit is
// being written and fsync'd, the changes that arrive wait in a queue, and
// the next commit takes all of them. A lone change commits at once, with
// no delay to wait for company; under load, each commit carries what
// arrived during the one before. (bbolt's Batch instead closes a group on
// a timer, so under load several small groups queue behind one commit,
// each paying an fsync of its own.)
//
// There is no goroutine of its own: the caller that finds no commit in
// progress leads, and when its commit is done it hands the lead to the
// first caller still waiting.
type groupCommit struct {
	db *bolt.DB
	// onBroken is told when a commit panicked inside bbolt (it does on
	// some damaged files): from then on every change fails with broken.
	onBroken func(why string)

	// gen counts the commits (and failed commits): the read caches serve
	// a record only at the generation it was read at (cache.go).
	gen atomic.Uint64

	mu      sync.Mutex
	queue   []*change
	leading bool
	broken  error
}

type change struct {
	fn       func(*bolt.Tx) error
	done     chan outcome // one outcome, or the lead handed over
	answered bool         // the leader has sent the outcome
}

type outcome struct {
	err  error
	lead bool // the receiver now commits the queue
}

// do runs fn in a write transaction shared with other changes, and
// returns when that transaction is committed and fsync'd, or fn's error.
// fn may run more than once: when another change of its group fails, the
// group is rolled back and run again without that change.
func (g *groupCommit) do(fn func(*bolt.Tx) error) error {
	c := &change{fn: fn, done: make(chan outcome, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if g.leading {
		g.mu.Unlock()
		if o := <-c.done; !o.lead {
			return o.err
		}
		g.mu.Lock()
	}
	g.leading = true
	n := min(len(g.queue), maxGroup)
	group := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	broken := g.broken
	g.mu.Unlock()

	g.lead(group, broken)
	return (<-c.done).err // c was in the group: its outcome is there
}

// lead commits the group, then hands the lead on, whatever happens inside
// bbolt: a commit that panics (or ends the goroutine) still answers every
// change of its group, passes the lead, and marks the store broken, since
// the file's state is then unknown.
func (g *groupCommit) lead(group []*change, broken error) {
	// A fault on the mapped file (a page past the end of a file cut short)
	// is a panic here, which the recover below turns into a broken store,
	// rather than the end of the process.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		g.mu.Lock()
		if len(g.queue) > 0 {
			g.queue[0].done <- outcome{lead: true}
		} else {
			g.leading = false
		}
		g.mu.Unlock()
	}()
	if broken != nil {
		for _, c := range group {
			c.done <- outcome{err: broken}
		}
		return
	}
	finished := false
	defer func() {
		if finished {
			return
		}
		g.gen.Add(1) // the commit's outcome is unknown: no cached read stays
		why := fmt.Sprintf("a commit failed inside the database library: %v", recover())
		err := errors.New(why)
		for _, c := range group {
			if !c.answered {
				c.done <- outcome{err: err}
			}
		}
		g.mu.Lock()
		g.broken = err
		g.mu.Unlock()
		if g.onBroken != nil {
			g.onBroken(why)
		}
	}()
	g.commit(group)
	finished = true
}

// commit runs the group in one transaction and tells each change its
// outcome. A change that fails is taken out and run alone (its failure may
// have come from another change of the group), and the rest run again.
func (g *groupCommit) commit(group []*change) {
	answer := func(c *change, err error) {
		c.answered = true
		c.done <- outcome{err: err}
	}
	for len(group) > 0 {
		failed := -1
		err := g.db.Update(func(tx *bolt.Tx) error {
			for i, c := range group {
				if err := call(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		g.gen.Add(1) // before anyone is told: see cache.go
		if failed < 0 {
			for _, c := range group {
				answer(c, err)
			}
			return
		}
		c := group[failed]
		group = slices.Delete(group, failed, failed+1)
		err = g.db.Update(func(tx *bolt.Tx) error { return call(c.fn, tx) })
		g.gen.Add(1)
		answer(c, err)
	}
}

// call runs fn, turning a panic into an error: one change's bug must not
// take the others of its group, or the lead, down with it.
func call(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a change: %v", p)
			if libraryPanic(p) { // bbolt stopped on a damaged page
				err = &domain.Error{Kind: ErrDamaged, Msg: fmt.Sprintf("the database is damaged: bbolt stopped on a page it cannot read (%v)", p)}
			}
		}
	}()
	return fn(tx)
}
