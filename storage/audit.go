package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Action names what an audit event records.
type Action string

// The actions the store records.
const (
	ActionCardStatus Action = "card.status"
	// ActionCardStatusUnchanged is a person's or the station's change that
	// found the card in the status already: it keeps their reason,
	// comment and evidence, and changes nothing.
	ActionCardStatusUnchanged Action = "card.status.unchanged"
	ActionCardImport          Action = "card.import"
	ActionCardUpstream        Action = "card.upstream" // a card taken in, or its status refreshed, from the upstream
	ActionRequestCreate       Action = "request.create"
	ActionRequestStatus       Action = "request.status"
	ActionTokenCreate         Action = "token.create"
	ActionTokenRevoke         Action = "token.revoke"
	ActionOutboxPark          Action = "outbox.park"  // a sink refused a change for good
	ActionOutboxRetry         Action = "outbox.retry" // an admin sent a parked change again
	ActionOutboxDrop          Action = "outbox.drop"  // an admin gave a parked change up
)

// EventFormat is the format of the events this code writes. Format 2
// names each action's facts in fields of their own (CardAction, Via,
// RequestType, Role, Name, StatusWord); format 1 (Format absent) put some
// of them in OldStatus, NewStatus, Reason and Comment. Both verify: a new
// field is left out of an event that does not have it, so an old event
// encodes to the bytes it was hashed as. Format 3 adds PrevCardEvent.
const EventFormat = 3

// Event is one entry of the audit log. Events are numbered without gaps
// and chained: Hash covers the event's other fields and PrevHash, so an
// exported log can be checked offline for edits, removals and reordering.
type Event struct {
	Format        int `json:",omitempty"`
	Seq           uint64
	Time          time.Time
	Actor         string
	Source        string
	Action        Action
	CardUuid      guid.GUID        `json:",omitzero"`
	RequestUuid   guid.GUID        `json:",omitzero"`
	OldStatus     string           `json:",omitempty"` // the card's or the request's status before
	NewStatus     string           `json:",omitempty"` // and after
	Reason        string           `json:",omitempty"` // why, a word from a list
	Comment       string           `json:",omitempty"` // free text
	CorrelationId guid.GUID        `json:",omitzero"`
	Evidence      *domain.Evidence `json:",omitempty"` // walk-up disables only
	// Format 2.
	CardAction  domain.ActionName `json:",omitempty"` // card.status: what was done
	Via         domain.Via        `json:",omitempty"` // card.status: api, page or station
	RequestType string            `json:",omitempty"` // card.status, request.create
	StatusWord  string            `json:",omitempty"` // request.status: the client's word, when not the status's name
	Role        string            `json:",omitempty"` // token and user events: the credential's role
	Name        string            `json:",omitempty"` // token, user and sign-in events: whose
	// ClockUnsynced marks an event dated before the clock was synchronised
	// since boot: its Time may be off.
	ClockUnsynced bool `json:",omitempty"`
	// Format 3. PrevCardEvent is, in a card.status event, the number of
	// the card's card.status event before it (0: none, or one from before
	// schema 2, found in the audit.card index): a card's status changes
	// are chained from the card (Smartcard.StatusEvent), and a change
	// writes no index entry, on a page of its own, for its event.
	PrevCardEvent uint64 `json:",omitzero"`
	PrevHash      string
	Hash          string `json:",omitempty"`
}

// genesisHash is the PrevHash of the first event.
var genesisHash = strings.Repeat("0", 64)

// ComputeHash returns the hash that e.Hash must hold: SHA-256 over the
// event's JSON encoding without its Hash field.
func (e Event) ComputeHash() string {
	e.Hash = ""
	data, _ := json.Marshal(e) // an Event always encodes
	return hashOf(data)
}

func hashOf(unhashed []byte) string {
	sum := sha256.Sum256(unhashed)
	return hex.EncodeToString(sum[:])
}

// hashField opens the last field of a stored event. Hash is the last
// field of Event and PrevHash always precedes it, so a stored event is its
// unhashed encoding with `,"Hash":"<64 hex digits>"` put before the "}".
const hashField = `,"Hash":"`

// encodeEvent sets e.Hash and returns e's stored encoding, the same bytes
// as json.Marshal(e), with one encoding instead of two.
func encodeEvent(e *Event) ([]byte, error) {
	e.Hash = ""
	data, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	e.Hash = hashOf(data)
	data = append(data[:len(data)-1], hashField...)
	data = append(data, e.Hash...)
	return append(data, '"', '}'), nil
}

// storedHash reads the Hash of a stored event without decoding the rest.
func storedHash(v []byte) (string, error) {
	const tail = len(hashField) + 64 + 2
	if n := len(v); n >= tail && string(v[n-tail:n-tail+len(hashField)]) == hashField && string(v[n-2:]) == `"}` {
		// json.Valid keeps a damaged event from being chained onto.
		if h := v[n-66 : n-2]; isHex(h) && json.Valid(v) {
			return string(h), nil
		}
	}
	var e Event
	if err := json.Unmarshal(v, &e); err != nil {
		return "", err
	}
	return e.Hash, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// appendEvent numbers, chains and stores e inside the caller's transaction,
// so the event commits or rolls back with the change it records.
func (s *Store) appendEvent(tx *bolt.Tx, o domain.Origin, e Event) error {
	_, err := s.appendEventSeq(tx, o, e, true)
	return err
}

// appendStatusEvent appends e, a card.status event, to the chain of card's
// status changes: the caller stores card, whose StatusEvent it moves on.
func (s *Store) appendStatusEvent(tx *bolt.Tx, o domain.Origin, e Event, card *Smartcard) error {
	e.PrevCardEvent = card.StatusEvent
	seq, err := s.appendEventSeq(tx, o, e, false)
	card.StatusEvent = seq
	return err
}

// appendEventSeq appends e and returns its number; indexed puts an event
// about a card in the audit.card index.
func (s *Store) appendEventSeq(tx *bolt.Tx, o domain.Origin, e Event, indexed bool) (uint64, error) {
	b := tx.Bucket(bucketAudit)
	b.FillPercent = 1 // keys only ever grow: full pages, half the page writes
	e.PrevHash = genesisHash
	if k, v := b.Cursor().Last(); k != nil {
		hash, err := storedHash(v)
		if err == nil && len(k) != 8 {
			err = fmt.Errorf("key %x is no event number", k)
		}
		if err != nil {
			return 0, fmt.Errorf("read last audit event: %w", err)
		}
		e.Seq, e.PrevHash = binary.BigEndian.Uint64(k), hash
	}
	e.Seq++
	e.Format = EventFormat
	e.Time = s.now()
	e.ClockUnsynced = !s.clockSynced()
	e.Actor, e.Source, e.CorrelationId = o.Actor, o.Source, o.CorrelationID
	data, err := encodeEvent(&e)
	if err != nil {
		return 0, err
	}
	if indexed && !e.CardUuid.IsNil() {
		if err := tx.Bucket(bucketAuditByCard).Put(append(e.CardUuid[:], seqKey(e.Seq)...), nil); err != nil {
			return 0, err
		}
	}
	return e.Seq, b.Put(seqKey(e.Seq), data)
}

// cardEvents returns the numbers of the events about a card, oldest
// first: those in the audit.card index, and the card's chain of status
// changes (Smartcard.StatusEvent, Event.PrevCardEvent).
func cardEvents(tx *bolt.Tx, card guid.GUID) ([]uint64, error) {
	var seqs []uint64
	c := tx.Bucket(bucketAuditByCard).Cursor()
	for k, _ := c.Seek(card[:]); k != nil && bytes.HasPrefix(k, card[:]); k, _ = c.Next() {
		seqs = append(seqs, binary.BigEndian.Uint64(k[16:]))
	}
	var rec struct{ StatusEvent uint64 }
	if _, err := getJSON(tx.Bucket(bucketCards), card[:], &rec); err != nil {
		return nil, err
	}
	audit := tx.Bucket(bucketAudit)
	for seq := rec.StatusEvent; seq != 0; {
		seqs = append(seqs, seq)
		var e struct {
			CardUuid      guid.GUID
			PrevCardEvent uint64
		}
		v := audit.Get(seqKey(seq))
		if v == nil {
			return nil, fmt.Errorf("the status changes of card %s lead to event %d, which is not in the audit log", card, seq)
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, fmt.Errorf("read audit event %d: %w", seq, err)
		}
		if e.CardUuid != card || e.PrevCardEvent >= seq {
			return nil, fmt.Errorf("audit event %d does not continue the status changes of card %s", seq, card)
		}
		seq = e.PrevCardEvent
	}
	slices.Sort(seqs)
	return slices.Compact(seqs), nil
}

// AuditFilter selects events for AuditPage. Zero fields select everything.
type AuditFilter struct {
	Before uint64    // only events numbered below this; 0: from the newest
	Card   guid.GUID // only events about this card
	Action Action    // only this action
	Actor  string    // only actors whose name contains this
	Limit  int       // at most this many; 0: 50
}

// AuditPage returns matching events, newest first.
func (s *Store) AuditPage(f AuditFilter) ([]Event, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	out := []Event{}
	err := s.db.View(func(tx *bolt.Tx) error {
		audit := tx.Bucket(bucketAudit)
		keep := func(v []byte) (bool, error) {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return false, fmt.Errorf("read audit event: %w", err)
			}
			if (f.Action != "" && e.Action != f.Action) || (f.Actor != "" && !strings.Contains(e.Actor, f.Actor)) {
				return true, nil
			}
			out = append(out, e)
			return len(out) < f.Limit, nil
		}
		before := f.Before
		if before == 0 {
			before = math.MaxUint64
		}
		// Walk back from the last key below end.
		walk := func(c *bolt.Cursor, end []byte, each func(k, v []byte) (bool, error)) error {
			k, v := c.Seek(end)
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
			for ; k != nil; k, v = c.Prev() {
				more, err := each(k, v)
				if err != nil || !more {
					return err
				}
			}
			return nil
		}
		if !f.Card.IsNil() {
			seqs, err := cardEvents(tx, f.Card)
			if err != nil {
				return err
			}
			for i := len(seqs) - 1; i >= 0; i-- {
				if seqs[i] >= before {
					continue
				}
				if more, err := keep(audit.Get(seqKey(seqs[i]))); err != nil || !more {
					return err
				}
			}
			return nil
		}
		return walk(audit.Cursor(), seqKey(before), func(_, v []byte) (bool, error) { return keep(v) })
	})
	return out, err
}

// EachEvent calls fn on each event that matches f, oldest first, and
// stops at fn's first error, which it returns, or when ctx ends. f.Before
// (0: none) bounds the events from above, as in AuditPage; f.Limit is not
// used. It reads in batches (eachBatch), so its memory does not grow with
// the log, and fn runs outside any transaction.
func (s *Store) EachEvent(ctx context.Context, f AuditFilter, fn func(Event) error) error {
	var after uint64 // the last event read
	return eachBatch(ctx, s, func(tx *bolt.Tx, buf []Event) ([]Event, bool, error) {
		audit := tx.Bucket(bucketAudit)
		// next returns the next event after after, and its number; nil at
		// the end.
		var next func() (uint64, []byte)
		if f.Card.IsNil() {
			c := audit.Cursor()
			k, v := c.Seek(seqKey(after + 1))
			next = func() (uint64, []byte) {
				if k == nil {
					return 0, nil
				}
				seq, ev := binary.BigEndian.Uint64(k), v
				k, v = c.Next()
				return seq, ev
			}
		} else {
			seqs, err := cardEvents(tx, f.Card)
			if err != nil {
				return buf, false, err
			}
			i, _ := slices.BinarySearch(seqs, after+1)
			next = func() (uint64, []byte) {
				if i == len(seqs) {
					return 0, nil
				}
				i++
				return seqs[i-1], audit.Get(seqKey(seqs[i-1]))
			}
		}
		for seq, v := next(); v != nil; seq, v = next() {
			if f.Before != 0 && seq >= f.Before {
				return buf, false, nil
			}
			after = seq
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return buf, false, fmt.Errorf("read audit event %d: %w", seq, err)
			}
			if (f.Action != "" && e.Action != f.Action) || (f.Actor != "" && !strings.Contains(e.Actor, f.Actor)) {
				continue
			}
			if buf = append(buf, e); len(buf) == batchSize {
				return buf, after != math.MaxUint64, nil
			}
		}
		return buf, false, nil
	}, fn)
}

// Events returns up to limit audit events with sequence numbers above
// after, oldest first. A limit of 0 means all.
func (s *Store) Events(after uint64, limit int) ([]Event, error) {
	out := []Event{}
	if after == math.MaxUint64 {
		return out, nil
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && (limit == 0 || len(out) < limit); k, v = c.Next() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("read audit event %x: %w", k, err)
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// ReadEventLines reads an exported audit log: one JSON event a line, as
// `cardstop audit export` writes it; blank lines are skipped. A line that
// is not an event is an error naming it; a line may be at most 1 MiB.
func ReadEventLines(r io.Reader) ([]Event, error) {
	var events []Event
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue // a blank line, as an editor may leave at the end
		}
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %d is not an audit event: %v", line, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	return events, nil
}

// VerifyChain checks that events are numbered from 1 without gaps and that
// each one's hashes are intact and chained to the one before.
func VerifyChain(events []Event) error {
	prev := genesisHash
	for i, e := range events {
		if e.Seq != uint64(i+1) {
			return fmt.Errorf("event %d: sequence number %d, want %d", i+1, e.Seq, i+1)
		}
		if e.PrevHash != prev {
			return fmt.Errorf("event %d: does not follow event %d (PrevHash differs)", e.Seq, e.Seq-1)
		}
		if e.ComputeHash() != e.Hash {
			return fmt.Errorf("event %d: content does not match its hash", e.Seq)
		}
		prev = e.Hash
	}
	return nil
}
