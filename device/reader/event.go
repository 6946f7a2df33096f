package reader

import "time"

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
