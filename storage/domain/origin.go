package domain

import (
	"crypto/sha256"
	"time"

	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Origin says who asks for a change and from where; every audit event
// carries it.
type Origin struct {
	Actor         string    // "token:<name>", "user:<name>", "station:<name>" or "cli"
	ActorUuid     guid.GUID // the credential's id; MIM CM's OriginatorUserUuid
	Role          Role
	Source        string // client address, reader name, or "local"
	CorrelationID guid.GUID
}

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
	// A hub keeps what a station sends of its own walk-up disable: the
	// station's name, and when the station committed it.
	Station   string    `json:",omitempty"`
	Committed time.Time `json:",omitzero"`
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
