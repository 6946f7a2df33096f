package wire

import (
	"time"

	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Station is the body of GET /api/station: the walk-up station's state, its
// LEDs, its readers and the card being handled. The keys and their order
// are the API's; Readers and Card are null when absent, ConfirmDeadline
// is left out when no confirm window runs.
type Station struct {
	State           string          `json:"state"`
	LEDs            LEDs            `json:"leds"`
	Reader          string          `json:"reader"`  // the card's reader, else the first reader; "" without one
	Readers         []StationReader `json:"readers"` // every reader, by name
	Card            *StationCard    `json:"card"`    // the card being handled
	ConfirmDeadline *time.Time      `json:"confirm_deadline,omitempty"`
	Message         string          `json:"message"`
}

// LEDs are the panel's LEDs, each "off", "on", "slow" or "fast".
type LEDs struct {
	Green string `json:"green"`
	Amber string `json:"amber"`
	Red   string `json:"red"`
}

// StationReader is one reader and the card in it (null when empty).
type StationReader struct {
	Name string       `json:"name"`
	Card *StationCard `json:"card"`
}

// StationCard is a card in a reader: how it was identified, and its record
// once one was found.
type StationCard struct {
	Kind   string     `json:"kind"`
	Serial string     `json:"serial,omitempty"`
	ATR    string     `json:"atr,omitempty"`
	Uuid   *guid.GUID `json:"uuid,omitempty"`
	Status *int       `json:"status,omitempty"` // the record's MIM CM status number
}
