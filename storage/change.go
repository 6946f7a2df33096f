package storage

import (
	"cmp"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Size is the database file's size in bytes.
func (s *Store) Size() int64 {
	var n int64
	_ = s.db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil })
	return n
}

// WriteStats says how many write transactions were committed (or failed)
// since Open, and how many pages they wrote to the file: every page is
// fsync'd, so pages a change are what a change costs on an SD card.
func (s *Store) WriteStats() (commits, pages int64) {
	st := s.db.Stats()
	return int64(s.commits.gen.Load()), st.TxStats.GetWrite()
}

// Apply makes one change of a card's status, whichever way it comes in:
// the API carrying out a request, a person on the page, the walk-up
// station. In one transaction it finds the request carried out (or
// records the change as a completed request of its action's type), lets
// domain.Decide allow or refuse it, changes the card, moves the request
// on and appends one audit event, of one shape whichever the way in.
// Setting the status a card has returns it unchanged (see ApplyChanged).
func (s *Store) Apply(ctx context.Context, o domain.Origin, cmd domain.Command) (Smartcard, error) {
	card, _, err := s.ApplyChanged(ctx, o, cmd)
	return card, err
}

// ApplyChanged is Apply, and also says whether the card changed: changed
// is false when the card had the status already (someone else got there
// first, or a form was sent twice). Such a command changes nothing, but
// a person's or a station's reason, comment and evidence would otherwise
// be lost: without a request they are recorded as one
// ActionCardStatusUnchanged event, and nothing else is written. An API
// command carrying out a request writes nothing: its request keeps them.
func (s *Store) ApplyChanged(ctx context.Context, o domain.Origin, cmd domain.Command) (card Smartcard, changed bool, err error) {
	if len(cmd.Comment) > maxComment || len(cmd.Reason) > maxDataText {
		return Smartcard{}, false, domain.Refuse(domain.ErrInvalid, "the reason or comment is too long")
	}
	var d domain.Decision
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		if card, err = getCard(tx, cmd.Card); err != nil {
			return err
		}
		var r Request
		var rs *domain.RequestState
		if !cmd.Request.IsNil() {
			if r, err = getRequest(tx, cmd.Request); err != nil {
				return err
			}
			rs = &domain.RequestState{Uuid: r.Uuid, Type: r.RequestType, Status: r.Status, Card: r.NewSmartcardUuid}
		}
		d, err = domain.Decide(domain.CardState{Status: card.Status, PreviousStatus: card.PreviousStatus}, rs, cmd, o.Role)
		if err != nil {
			return err
		}
		if d.NoOp {
			if rs != nil {
				return nil
			}
			st := card.Status.String()
			return s.appendEvent(tx, o, Event{Action: ActionCardStatusUnchanged, CardUuid: cmd.Card,
				OldStatus: st, NewStatus: st, Reason: cmd.Reason, Comment: cmd.Comment,
				CardAction: d.Action.Name, Via: cmd.Via, Evidence: cmd.Evidence})
		}
		now := s.now()
		reason, comment := cmd.Reason, cmd.Comment
		if rs == nil {
			r = Request{
				Uuid:                guid.NewOrdered(now), // appended where the last requests are,
				RequestType:         d.Action.Type,
				Status:              domain.RequestCompleted,
				Flags:               requestFlagSmartcard,
				DataCollection:      []DataItem{{Name: "Reason", Value: &reason}},
				DataCollectionFlags: dataCollectionFlags,
				OriginatorUserUuid:  o.ActorUuid,
				TargetUserUuid:      card.AssignedUserUuid,
				Submitted:           now,
				Completed:           now,
				NewSmartcardUuid:    cmd.Card,
				OldSmartcardUuid:    cmd.Card,
				Comment:             comment,
				ProfileTemplateUuid: card.ProfileTemplateUuid,
				IsSmartcard:         true,
				Originator:          o.Actor,
			}
		} else {
			reason, comment = r.dataItem("Reason"), r.Comment
			if cmd.Evidence == nil {
				cmd.Evidence = r.stationEvidence()
			}
			r.Status, r.NewSmartcardUuid, r.OldSmartcardUuid = domain.RequestExecuting, cmd.Card, cmd.Card
			if r.TargetUserUuid.IsNil() {
				r.TargetUserUuid = card.AssignedUserUuid
			}
		}
		old := card
		card.PreviousStatus, card.Status = old.Status, d.To
		card.StatusChanged, card.StatusChangedBy = now, o.Actor
		// The card keeps the reason, or without one the request's comment.
		card.StatusReason, card.StatusRequestUuid = cmp.Or(reason, comment), r.Uuid
		if err := s.appendStatusEvent(tx, o, Event{Action: ActionCardStatus, CardUuid: cmd.Card, RequestUuid: r.Uuid,
			OldStatus: old.Status.String(), NewStatus: d.To.String(), Reason: reason, Comment: comment,
			CardAction: d.Action.Name, Via: cmd.Via, RequestType: d.Action.Type.String(), Evidence: cmd.Evidence}, &card); err != nil {
			return err
		}
		if err := putCard(tx, &old, card); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketRequests), r.Uuid[:], r); err != nil {
			return err
		}
		return s.enqueue(tx, OutboxItem{Change: guid.New(), Card: cmd.Card, Serial: card.SerialNumber, Action: d.Action.Name,
			RequestType: d.Action.Type, From: old.Status, To: d.To, Reason: reason, Comment: comment,
			Actor: o.Actor, Via: cmd.Via, Evidence: cmd.Evidence, Committed: now})
	})
	if err != nil {
		return Smartcard{}, false, fmt.Errorf("change smartcard status: %w", err)
	}
	if !d.NoOp && s.changed != nil {
		s.changed(o, d.To)
	}
	return card, !d.NoOp, nil
}
