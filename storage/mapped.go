package storage

import (
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// mappedPages keeps the pages a listing reads from staying in the
// process's resident memory. bbolt reads the file through a read-only
// shared mapping, and a page once read stays mapped: a few full listings
// of 100,000 cards would leave the whole file (160 MB) resident, past the
// service's memory budget. Every trimEvery batches read by listings,
// the mapping's pages are unmapped from the process (dropMapped); they
// stay in the page cache, so the next read of one is a minor fault, and
// the kernel may reclaim them under pressure as it may any cached file.
type mappedPages struct {
	batches atomic.Uint64
	writes  atomic.Uint64
}

// trimEvery is how many listing batches (of all listings together) are
// read between two trims: 16 batches of 256 cards are about 6 MB of file.
const trimEvery = 16

// trimWrites is how many changes are committed between two trims: each
// reads a few pages of its own (the card's leaf, its indexes', the audit
// log's last), and changes to cards all over the file add up (10,000
// PUTs of different cards left 40 MB of it resident).
const trimWrites = 64

// wrote counts a committed change, and trims when it is the trimWrites'th,
// in a read transaction of its own, which holds the mapping in place.
func (m *mappedPages) wrote(db database) {
	if m.writes.Add(1)%trimWrites != 0 {
		return
	}
	_ = db.View(func(tx *bolt.Tx) error {
		dropMapped(db.Info().Data, tx.Size())
		return nil
	})
}

// read counts a batch read in tx, and trims when it is the trimEvery'th.
// It runs inside tx: a read transaction holds bbolt's mapping in place
// (a remap waits for every reader), so the range trimmed is the mapping's.
func (m *mappedPages) read(db *bolt.DB, tx *bolt.Tx) {
	if m.batches.Add(1)%trimEvery != 0 {
		return
	}
	dropMapped(db.Info().Data, tx.Size())
}
