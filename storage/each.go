package storage

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// eachBatch is how the Each* listings read: batches of at most batchSize
// records, each in a read transaction of its own, and fn called on a
// batch's records after its transaction has ended. So a listing of any
// length holds one batch in memory, and a slow consumer (a client that
// reads its answer slowly) never holds a transaction open: a long read
// transaction would keep bbolt from growing the file (its remap waits
// for every reader), and with it every change. The price is that a
// listing is not one snapshot: a record changed while it runs appears as
// its batch read it, and never twice.
//
// read fills buf (given empty) from where the previous batch stopped and
// says whether there may be more; the position is its own to keep.
func eachBatch[T any](ctx context.Context, s *Store, read func(tx *bolt.Tx, buf []T) ([]T, bool, error), fn func(T) error) error {
	buf := make([]T, 0, batchSize)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var more bool
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			buf, more, err = read(tx, buf[:0])
			s.mapped.read(s.db.DB, tx)
			return err
		})
		if err != nil {
			return err
		}
		for _, rec := range buf {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
		clear(buf) // let the records just handed out go
	}
}

// batchSize is how many records a listing reads in one transaction: 256
// cards are about 100 KiB.
const batchSize = 256
