package storage

import (
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// ChangeKey counts committed status changes by the new status and the
// kind of actor: token, user, station or cli.
type ChangeKey struct {
	Status    domain.CardStatus
	ActorKind string
}

// changes counts the status changes committed since the store opened.
type changeCounter struct {
	mu sync.Mutex
	n  map[ChangeKey]uint64
}

func (c *changeCounter) add(o domain.Origin, to domain.CardStatus) {
	kind, _, _ := strings.Cut(o.Actor, ":")
	c.mu.Lock()
	if c.n == nil {
		c.n = map[ChangeKey]uint64{}
	}
	c.n[ChangeKey{to, kind}]++
	c.mu.Unlock()
}

// ChangeCounts returns how many status changes were committed since the
// store was opened, by new status and kind of actor, for the metrics.
func (s *Store) ChangeCounts() map[ChangeKey]uint64 {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	out := make(map[ChangeKey]uint64, len(s.changes.n))
	for k, v := range s.changes.n {
		out[k] = v
	}
	return out
}

// Size is the database file's size in bytes.
func (s *Store) Size() int64 {
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// Change is a change of a card's status made and completed at once, by a
// person on the page or at the walk-up station: it is recorded as a
// completed request of its type, like a MIM CM client's three calls.
type Change struct {
	Type     domain.RequestType // Disable, Retire or SuspendOrReinstate
	To       domain.CardStatus
	Reason   string           // a word from a list: lost, stolen, walk-up, ...
	Comment  string           // free text
	Evidence *domain.Evidence // the walk-up station's, else nil
}

// ChangeCard changes a card's status under the same rules as the REST
// API, and records a completed request and one audit event with it, in one
// transaction. Setting the status a card has returns it unchanged, with
// nothing written.
func (s *Store) ChangeCard(o domain.Origin, cardID guid.GUID, c Change) (Smartcard, error) {
	switch {
	case o.Role < domain.RoleOperator:
		return Smartcard{}, domain.Refuse(domain.ErrForbidden, "changing a smartcard needs the operator role; you have %s", o.Role)
	case len(c.Comment) > maxComment || len(c.Reason) > maxDataText:
		return Smartcard{}, domain.Refuse(domain.ErrInvalid, "the reason or comment is too long")
	}
	if _, ok := domain.ApproveRole[c.Type]; !ok {
		return Smartcard{}, domain.Refuse(domain.ErrInvalid, "this appliance does not carry out %s requests; it carries out %s", c.Type, domain.SupportedTypes())
	}
	if err := domain.CheckTypeTarget(c.Type, c.To); err != nil {
		return Smartcard{}, err
	}
	var card Smartcard
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		changed = false
		card, err = getCard(tx, cardID)
		if err != nil || card.Status == c.To {
			return err
		}
		changed = true
		if err := domain.CheckTransition(card.Status, c.To, o.Role); err != nil {
			return err
		}
		now := s.now()
		reason := c.Reason
		r := Request{
			Uuid:                guid.New(),
			RequestType:         c.Type,
			Status:              domain.RequestCompleted,
			Flags:               requestFlagSmartcard,
			DataCollection:      []DataItem{{Name: "Reason", Value: &reason}},
			DataCollectionFlags: dataCollectionFlags,
			OriginatorUserUuid:  o.ActorUuid,
			TargetUserUuid:      card.AssignedUserUuid,
			Submitted:           now,
			Completed:           now,
			NewSmartcardUuid:    cardID,
			OldSmartcardUuid:    cardID,
			Comment:             c.Comment,
			ProfileTemplateUuid: card.ProfileTemplateUuid,
			IsSmartcard:         true,
			Originator:          o.Actor,
		}
		old := card
		card.PreviousStatus, card.Status = old.Status, c.To
		card.StatusChanged, card.StatusChangedBy = now, o.Actor
		card.StatusReason, card.StatusRequestUuid = c.Reason, r.Uuid
		if err := putCard(tx, &old, card); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketRequests), r.Uuid[:], r); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionCardStatus, CardUuid: cardID, RequestUuid: r.Uuid,
			OldStatus: old.Status.String(), NewStatus: c.To.String(), Reason: c.Reason,
			Comment: c.Comment, Evidence: c.Evidence})
	})
	if err != nil {
		return Smartcard{}, fmt.Errorf("change smartcard status: %w", err)
	}
	if changed {
		s.changes.add(o, c.To)
	}
	return card, nil
}
