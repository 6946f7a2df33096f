package storage

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Reads that every request makes (the caller's token, a card asked for
// again and again) are kept in memory between commits: bbolt's read and
// the JSON decoding of the record cost more than the rest of a GET.
//
// A cached record is only ever served at the commit generation it was
// read at. groupCommit moves the generation on after each commit, before
// any change of that commit is answered, so nobody told of a change can
// read the record from before it. A reader takes the generation before it
// opens its read transaction: a record read in a snapshot older than a
// commit carries that commit's earlier generation and is never served
// after it.

// readCache holds up to max records of one kind, read at generation gen.
type readCache[K comparable, V any] struct {
	max int

	mu  sync.RWMutex
	gen uint64
	m   map[K]V
}

func (c *readCache[K, V]) get(gen uint64, k K) (V, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.gen != gen {
		var zero V
		return zero, false
	}
	v, ok := c.m[k]
	return v, ok
}

// put keeps v, read at generation gen; a record read before the cache's
// generation is dropped, and a newer generation empties the cache.
func (c *readCache[K, V]) put(gen uint64, k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return
	case gen > c.gen || c.m == nil:
		c.gen, c.m = gen, make(map[K]V)
	case len(c.m) >= c.max:
		for old := range c.m { // any one: a map's order is random
			delete(c.m, old)
			break
		}
	}
	c.m[k] = v
}

// cachedView returns the record of key k: from the cache when no commit
// has happened since it was read, else read by fn in a read transaction
// and kept. Errors (not found) are not kept.
func cachedView[K comparable, V any](s *Store, c *readCache[K, V], k K, fn func(tx *bolt.Tx, k K) (V, error)) (V, error) {
	gen := s.commits.gen.Load()
	if v, ok := c.get(gen, k); ok {
		return v, nil
	}
	var v V
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		v, err = fn(tx, k)
		return err
	})
	if err == nil {
		c.put(gen, k, v)
	}
	return v, err
}
