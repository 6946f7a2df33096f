package storage

import (
	"crypto/sha256"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/guid"
)

// Evidence is what the walk-up station saw when a person disabled a card
// there: possession of the card plus a press of the button is what
// authorised it.
type Evidence struct {
	Reader       string    // the reader's name
	Atr          string    // the card's answer to reset, lowercase hex
	IdentityKind string    // how the card identified itself: piv or uid
	Identifier   string    // the serial read from the card
	InsertedAt   time.Time // when the reader reported the card
	PressedAt    time.Time // when the button was pressed
}

// StationActor returns the actor name and id under which the station
// called name acts. The id is derived from the name, so it stays the same
// across restarts without being stored.
func StationActor(name string) (string, guid.GUID) {
	sum := sha256.Sum256([]byte("cardstop station " + name))
	var g guid.GUID
	copy(g[:], sum[:16])
	g[6] = g[6]&0x0f | 0x50 // name-based, as RFC 4122 version 5
	g[8] = g[8]&0x3f | 0x80
	return "station:" + name, g
}

// StationDisable disables a card on the walk-up station's authority: the
// card was in the reader and the button was pressed. It records a
// completed Disable request and one audit event carrying the evidence,
// with the status change, in one transaction. It can only disable: the
// transition rules apply as for an operator. A card that is already
// Disabled is returned unchanged, with nothing written.
func (s *Store) StationDisable(o Origin, cardID guid.GUID, ev Evidence) (Smartcard, error) {
	var card Smartcard
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		card, err = getCard(tx, cardID)
		if err != nil {
			return err
		}
		if card.Status == CardDisabled {
			return nil
		}
		if err := CheckTransition(card.Status, CardDisabled, RoleOperator); err != nil {
			return err
		}
		now := s.now()
		r := Request{
			Uuid:                guid.New(),
			RequestType:         TypeDisable,
			Status:              RequestCompleted,
			Flags:               requestFlagSmartcard,
			DataCollection:      []DataItem{},
			DataCollectionFlags: dataCollectionFlags,
			OriginatorUserUuid:  o.ActorUuid,
			TargetUserUuid:      card.AssignedUserUuid,
			Submitted:           now,
			Completed:           now,
			NewSmartcardUuid:    cardID,
			OldSmartcardUuid:    cardID,
			Comment:             "disabled at the walk-up station, reader " + ev.Reader,
			ProfileTemplateUuid: card.ProfileTemplateUuid,
			IsSmartcard:         true,
			Originator:          o.Actor,
		}
		old := card
		card.PreviousStatus, card.Status = old.Status, CardDisabled
		card.StatusChanged, card.StatusChangedBy = now, o.Actor
		card.StatusReason, card.StatusRequestUuid = r.Comment, r.Uuid
		if err := putCard(tx, &old, card); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketRequests), r.Uuid[:], r); err != nil {
			return err
		}
		evidence := ev
		return s.appendEvent(tx, o, Event{Action: ActionCardStatus, CardUuid: cardID, RequestUuid: r.Uuid,
			OldStatus: old.Status.String(), NewStatus: CardDisabled.String(), Reason: "walk-up",
			Comment: r.Comment, Evidence: &evidence})
	})
	if err != nil {
		return Smartcard{}, fmt.Errorf("disable at the station: %w", err)
	}
	return card, nil
}
