package storage

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// The outbox (FLEET.md §1): every committed change of a card's status is
// also written, in the same transaction, as one item for each sink (the
// upstream, each webhook) that delivers changes beyond this file. A
// forwarder reads a sink's pending items in commit order and deletes each
// once delivered; one refused for good is parked for an admin to retry or
// drop. So a change reaches every sink however often the process is
// killed or the network is away, and is never delivered unless committed.
//
// Layout: bucket "outbox", whose sequence numbers the items in commit
// order, holds a bucket per sink, which holds "pending" and "parked",
// keyed by the item's number.
var (
	bucketOutbox  = []byte("outbox")
	outboxPending = []byte("pending")
	outboxParked  = []byte("parked")
)

// Sink names.
const (
	SinkUpstream      = "upstream"
	sinkWebhookPrefix = "webhook "
)

// SinkWebhook is the name of the sink that delivers to the webhook at url.
func SinkWebhook(url string) string { return sinkWebhookPrefix + url }

// OutboxItem is one change on its way to one sink.
type OutboxItem struct {
	Seq  uint64 `json:"-"` // the key: commit order
	Sink string `json:"-"` // the bucket it is in
	// Change identifies the change: the Idempotency-Key upstream, the
	// webhook's and the CloudEvent's id. The same in every sink.
	Change      guid.GUID
	Card        guid.GUID
	Serial      string
	Action      domain.ActionName
	RequestType domain.RequestType
	From        domain.CardStatus
	To          domain.CardStatus
	Reason      string           `json:",omitempty"`
	Comment     string           `json:",omitempty"`
	Actor       string           // who made the change here
	Via         domain.Via       // api, page or station
	Evidence    *domain.Evidence `json:",omitempty"`
	Committed   time.Time

	// Delivery. UpstreamRequest is the request the upstream made for the
	// change, kept before the card is changed under it, so that a retry
	// carries out the same request.
	UpstreamRequest guid.GUID `json:",omitzero"`
	Attempts        int       `json:",omitempty"`
	Problem         string    `json:",omitempty"` // the last failure
	Parked          time.Time `json:",omitzero"`
}

// ClipProblem keeps a sink's answer short enough to store with its item:
// 300 bytes, cut at a character's start.
func ClipProblem(s string) string {
	const max = 300
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// ErrOutboxItemGone is returned for an item that is no longer where it
// was looked for: delivered, dropped or moved meanwhile.
var ErrOutboxItemGone = &domain.Error{Kind: domain.ErrNotFound, Msg: "that outbox item is no longer there: delivered, dropped or moved"}

// enqueue writes the change as an item for each of the store's sinks, in
// the change's transaction.
func (s *Store) enqueue(tx *bolt.Tx, item OutboxItem) error {
	if len(s.sinks) == 0 {
		return nil
	}
	root := tx.Bucket(bucketOutbox)
	seq, err := root.NextSequence()
	if err != nil {
		return err
	}
	data, err := json.Marshal(item)
	if err != nil {
		return err
	}
	for _, sink := range s.sinks {
		b, err := sinkBucket(root, sink, outboxPending, true)
		if err != nil {
			return err
		}
		b.FillPercent = 1 // keys only grow
		if err := b.Put(seqKey(seq), data); err != nil {
			return err
		}
	}
	return nil
}

// sinkBucket returns a sink's pending or parked bucket; with create, it
// is made when missing, else a missing one is nil.
func sinkBucket(root *bolt.Bucket, sink string, part []byte, create bool) (*bolt.Bucket, error) {
	if root == nil {
		return nil, nil // a read-only file of an older version has no outbox
	}
	if !create {
		if b := root.Bucket([]byte(sink)); b != nil {
			return b.Bucket(part), nil
		}
		return nil, nil
	}
	b, err := root.CreateBucketIfNotExists([]byte(sink))
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", sink, err)
	}
	return b.CreateBucketIfNotExists(part)
}

func decodeItem(sink string, k, v []byte) (OutboxItem, error) {
	var it OutboxItem
	if err := json.Unmarshal(v, &it); err != nil {
		return it, fmt.Errorf("read outbox item %s/%x: %w", sink, k, err)
	}
	it.Seq, it.Sink = binary.BigEndian.Uint64(k), sink
	return it, nil
}

// OutboxPending returns up to limit of sink's pending items numbered above
// after, in commit order.
func (s *Store) OutboxPending(sink string, after uint64, limit int) ([]OutboxItem, error) {
	return s.outboxItems(sink, outboxPending, after, limit)
}

// OutboxParked returns up to limit of sink's parked items numbered above
// after, in commit order.
func (s *Store) OutboxParked(sink string, after uint64, limit int) ([]OutboxItem, error) {
	return s.outboxItems(sink, outboxParked, after, limit)
}

func (s *Store) outboxItems(sink string, part []byte, after uint64, limit int) ([]OutboxItem, error) {
	out := []OutboxItem{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b, _ := sinkBucket(tx.Bucket(bucketOutbox), sink, part, false)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			it, err := decodeItem(sink, k, v)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return nil
	})
	return out, err
}

// OutboxCount is how many items a sink holds, and the oldest pending one's
// commit time (zero when none is pending).
type OutboxCount struct {
	Sink          string
	Pending       int
	Parked        int
	OldestPending time.Time
}

// OutboxCounts counts the items of every sink that holds any, and of the
// named sinks even when they hold none, in that order, then the others.
func (s *Store) OutboxCounts(sinks ...string) ([]OutboxCount, error) {
	var out []OutboxCount
	err := s.db.View(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketOutbox)
		count := func(sink string) error {
			c := OutboxCount{Sink: sink}
			if b, _ := sinkBucket(root, sink, outboxPending, false); b != nil {
				c.Pending = b.Stats().KeyN
				if k, v := b.Cursor().First(); k != nil {
					it, err := decodeItem(sink, k, v)
					if err != nil {
						return err
					}
					c.OldestPending = it.Committed
				}
			}
			if b, _ := sinkBucket(root, sink, outboxParked, false); b != nil {
				c.Parked = b.Stats().KeyN
			}
			out = append(out, c)
			return nil
		}
		for _, sink := range sinks {
			if err := count(sink); err != nil {
				return err
			}
		}
		if root == nil {
			return nil
		}
		return root.ForEachBucket(func(k []byte) error {
			for _, sink := range sinks {
				if sink == string(k) {
					return nil
				}
			}
			return count(string(k))
		})
	})
	return out, err
}

// OutboxSave stores what the forwarder learnt of a pending item (the
// upstream's request, the attempts, the last problem), fsync'd.
func (s *Store) OutboxSave(ctx context.Context, it OutboxItem) error {
	data, err := json.Marshal(it)
	if err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, _ := sinkBucket(tx.Bucket(bucketOutbox), it.Sink, outboxPending, false)
		if b == nil || b.Get(seqKey(it.Seq)) == nil {
			return ErrOutboxItemGone
		}
		return b.Put(seqKey(it.Seq), data)
	})
}

// OutboxDelivered deletes a delivered item.
func (s *Store) OutboxDelivered(ctx context.Context, sink string, seq uint64) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, _ := sinkBucket(tx.Bucket(bucketOutbox), sink, outboxPending, false)
		if b == nil || b.Get(seqKey(seq)) == nil {
			return ErrOutboxItemGone
		}
		return b.Delete(seqKey(seq))
	})
}

// OutboxPark moves a pending item the sink refused for good to the parked
// ones, with why, and records that in the audit log.
func (s *Store) OutboxPark(ctx context.Context, o domain.Origin, it OutboxItem, why string) error {
	it.Problem, it.Parked = ClipProblem(why), s.now()
	return s.moveItem(ctx, o, it, outboxPending, outboxParked, ActionOutboxPark)
}

// OutboxRetry puts a parked item back among the pending ones, at its
// place in commit order, for an admin.
func (s *Store) OutboxRetry(ctx context.Context, o domain.Origin, sink string, seq uint64) error {
	return s.outboxAdmin(ctx, o, sink, seq, ActionOutboxRetry)
}

// OutboxDrop deletes a parked item for good, for an admin: the change
// stays made here, and the sink never hears of it.
func (s *Store) OutboxDrop(ctx context.Context, o domain.Origin, sink string, seq uint64) error {
	return s.outboxAdmin(ctx, o, sink, seq, ActionOutboxDrop)
}

func (s *Store) outboxAdmin(ctx context.Context, o domain.Origin, sink string, seq uint64, action Action) error {
	if o.Role < domain.RoleAdmin {
		return domain.Refuse(domain.ErrForbidden, "the outbox is for admins; you have %s", o.Role)
	}
	it := OutboxItem{Seq: seq, Sink: sink}
	var to []byte
	if action == ActionOutboxRetry {
		to = outboxPending
	}
	return s.moveItem(ctx, o, it, outboxParked, to, action)
}

// moveItem moves the item numbered it.Seq from one part of its sink to
// another (to nil: deletes it) and records action. Fields of it other than
// the key, when set, replace the stored ones (parking sets Problem).
func (s *Store) moveItem(ctx context.Context, o domain.Origin, it OutboxItem, from, to []byte, action Action) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketOutbox)
		src, _ := sinkBucket(root, it.Sink, from, false)
		var v []byte
		if src != nil {
			v = src.Get(seqKey(it.Seq))
		}
		if v == nil {
			return ErrOutboxItemGone
		}
		stored, err := decodeItem(it.Sink, seqKey(it.Seq), v)
		if err != nil {
			return err
		}
		if action == ActionOutboxPark {
			stored = it
		}
		if action == ActionOutboxRetry {
			stored.Parked, stored.Attempts = time.Time{}, 0
		}
		if err := src.Delete(seqKey(it.Seq)); err != nil {
			return err
		}
		if to != nil {
			dst, err := sinkBucket(root, it.Sink, to, true)
			if err != nil {
				return err
			}
			data, err := json.Marshal(stored)
			if err != nil {
				return err
			}
			if err := dst.Put(seqKey(it.Seq), data); err != nil {
				return err
			}
		}
		return s.appendEvent(tx, o, Event{Action: action, CardUuid: stored.Card, Name: it.Sink,
			Comment: fmt.Sprintf("change %s (%s to %s)", stored.Change, stored.From, stored.To), Reason: stored.Problem})
	})
}

// OutboxItemAt returns the item numbered seq of sink, pending or parked.
func (s *Store) OutboxItemAt(sink string, seq uint64) (OutboxItem, error) {
	var it OutboxItem
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, part := range [][]byte{outboxPending, outboxParked} {
			if b, _ := sinkBucket(tx.Bucket(bucketOutbox), sink, part, false); b != nil {
				if v := b.Get(seqKey(seq)); v != nil {
					var err error
					it, err = decodeItem(sink, seqKey(seq), v)
					return err
				}
			}
		}
		return ErrOutboxItemGone
	})
	if errors.Is(err, ErrOutboxItemGone) {
		return it, domain.Refuse(domain.ErrNotFound, "there is no outbox item %d for %s", seq, sink)
	}
	return it, err
}
