package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// AdoptUpstreamCard takes in a card as the upstream, the system of record,
// holds it (FLEET.md §3): a card not known here is stored; a known card
// whose status differs takes the upstream's, unless a change of it made
// here is still on its way upstream (pending in SinkUpstream), which the
// upstream's older view must not undo. The rest of a known card's record
// stays as it is here, but for StatusReason and StatusRequestUuid, which
// told of the change before. Each insert or change is audited as
// ActionCardUpstream and, since it came from upstream, goes to no outbox:
// sending it back would loop. It returns the card as stored; a card
// already as the upstream holds it writes nothing. A card whose serial
// another card here has is refused with domain.ErrConflict.
func (s *Store) AdoptUpstreamCard(ctx context.Context, o domain.Origin, c Smartcard) (Smartcard, error) {
	if err := validateCard(c); err != nil {
		return Smartcard{}, fmt.Errorf("the upstream's card: %w", err)
	}
	// Only MIM CM's own fields come from outside.
	c.PreviousStatus, c.StatusChanged, c.StatusChangedBy, c.StatusReason, c.StatusRequestUuid, c.StatusEvent = 0, time.Time{}, "", "", guid.GUID{}, 0
	c.Atr = strings.ToLower(c.Atr)
	var out Smartcard
	var changed bool
	err := s.update(ctx, func(tx *bolt.Tx) error {
		changed = false // fn may run again (Store.update)
		old, err := getCard(tx, c.Uuid)
		if errors.Is(err, domain.ErrNotFound) {
			if err := putCard(tx, nil, c); err != nil {
				return err
			}
			out = c
			return s.appendEvent(tx, o, Event{Action: ActionCardUpstream, CardUuid: c.Uuid, NewStatus: c.Status.String()})
		}
		if err != nil {
			return err
		}
		out = old
		if old.Status == c.Status {
			return nil
		}
		if pending, err := upstreamPending(tx, c.Uuid); err != nil || pending {
			return err
		}
		card := old
		card.PreviousStatus, card.Status = old.Status, c.Status
		card.StatusChanged, card.StatusChangedBy = s.now(), o.Actor
		// The reason and request were the last change's here, not this one's.
		card.StatusReason, card.StatusRequestUuid = "", guid.GUID{}
		if err := putCard(tx, &old, card); err != nil {
			return err
		}
		out, changed = card, true
		return s.appendEvent(tx, o, Event{Action: ActionCardUpstream, CardUuid: c.Uuid,
			OldStatus: old.Status.String(), NewStatus: card.Status.String()})
	})
	if err != nil {
		return Smartcard{}, fmt.Errorf("adopt the upstream's smartcard %s: %w", c.Uuid, err)
	}
	if changed && s.changed != nil {
		s.changed(o, out.Status)
	}
	return out, nil
}

// upstreamPending says whether a change of the card waits in the
// upstream sink's pending items.
func upstreamPending(tx *bolt.Tx, card guid.GUID) (bool, error) {
	b, _ := sinkBucket(tx.Bucket(bucketOutbox), SinkUpstream, outboxPending, false)
	if b == nil {
		return false, nil
	}
	var it struct{ Card guid.GUID }
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := json.Unmarshal(v, &it); err != nil {
			return false, fmt.Errorf("read outbox item %s/%x: %w", SinkUpstream, k, err)
		}
		if it.Card == card {
			return true, nil
		}
	}
	return false, nil
}
