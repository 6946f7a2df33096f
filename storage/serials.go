package storage

import (
	"bytes"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain/guid"
)

// The page's search walks the serial index in its order, 100,000 keys for
// a site of 100,000 cards: through bbolt's cursor that alone took longer
// than a search may. The walk goes over a copy of the index in memory
// instead, about 60 bytes a card, made when the index has changed since
// the last copy.
//
// The copy is valid for the index's bucket sequence: every change of the
// index moves the sequence on in the change's own transaction (putCard),
// so a reader compares the sequence it sees in its transaction with the
// copy's and never walks another state of the index than its own.

// serialList is the serial index as one transaction saw it.
type serialList struct {
	seq     uint64      // the index's bucket sequence
	serials []byte      // the normalised serials, one after another
	ends    []uint32    // where each serial ends in serials
	ids     []guid.GUID // each serial's card
}

// containing returns whether serial i holds needle, for i asked in
// increasing order. The serials are searched together, one bytes.Index
// over all of them, rather than one call a serial.
func (l *serialList) containing(needle []byte) func(i int) bool {
	next, at := -1, 0 // the next serial that holds needle, and where to search on
	return func(i int) bool {
		for next < i && at < len(l.serials) {
			k := bytes.Index(l.serials[at:], needle)
			if k < 0 {
				at = len(l.serials)
				break
			}
			start := at + k
			j, _ := slices.BinarySearch(l.ends, uint32(start)+1) // the serial the match starts in
			if start+len(needle) <= int(l.ends[j]) {
				next = j
			}
			at = start + 1
		}
		return next == i
	}
}

// serialsOf returns the serial index as tx sees it: the copy kept, when
// the index has not changed since it was made, else a new copy, kept.
func (s *Store) serialsOf(tx *bolt.Tx) (*serialList, error) {
	b := tx.Bucket(bucketCardsSerial)
	if l := s.serials.Load(); l != nil && l.seq == b.Sequence() {
		return l, nil
	}
	l := &serialList{seq: b.Sequence()}
	err := b.ForEach(func(k, v []byte) error {
		l.serials = append(l.serials, k...)
		l.ends = append(l.ends, uint32(len(l.serials)))
		l.ids = append(l.ids, guid.GUID(v))
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.serials.Store(l) // a reader of an older state may replace a newer copy: the next reader makes it again
	return l, nil
}

// serialsChanged moves the serial index's sequence on: every change of
// the index calls it in its transaction.
func serialsChanged(b *bolt.Bucket) error { return b.SetSequence(b.Sequence() + 1) }
