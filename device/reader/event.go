package reader

import (
	"encoding/hex"
	"encoding/json"
	"time"
)

// EventKind names what happened at a reader.
type EventKind string

// The events a reader reports. A card pulled before its identity was read
// gives Pulled (then Removed), never a storm of errors.
const (
	ReaderAppeared EventKind = "reader-appeared"
	ReaderLost     EventKind = "reader-lost"
	Inserted       EventKind = "inserted"
	Pulled         EventKind = "pulled" // removed while being read: no identity
	Removed        EventKind = "removed"
	ServiceLost    EventKind = "service-lost" // pcscd went away; the watcher retries
	ServiceBack    EventKind = "service-back"
)

// Event is one thing that happened at a reader.
type Event struct {
	Kind     EventKind
	Reader   string
	ATR      []byte        // Inserted: the card's answer to reset, kept as evidence
	Identity Identity      // Inserted: who the card says it is
	ReadTime time.Duration // Inserted: from the insert event to the identity
	Time     time.Time     // when the watcher saw it
	Err      string        // Pulled, ServiceLost: what went wrong, for the log
}

// MarshalJSON writes the one-line form of `cardstop reader watch --json`.
func (e Event) MarshalJSON() ([]byte, error) {
	type line struct {
		Event    EventKind `json:"event"`
		Reader   string    `json:"reader,omitempty"`
		ATR      string    `json:"atr,omitempty"`
		Identity *Identity `json:"identity,omitempty"`
		ReadMs   *float64  `json:"read_ms,omitempty"`
		Time     string    `json:"time"`
		Error    string    `json:"error,omitempty"`
	}
	l := line{Event: e.Kind, Reader: e.Reader, ATR: hex.EncodeToString(e.ATR), Time: e.Time.UTC().Format(time.RFC3339Nano), Error: e.Err}
	if e.Kind == Inserted {
		id := e.Identity
		ms := float64(e.ReadTime.Microseconds()) / 1000
		l.Identity, l.ReadMs = &id, &ms
	}
	return json.Marshal(l)
}
