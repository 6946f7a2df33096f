package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Smartcard is a card's record: the 13 fields of MIM CM's Smartcard object,
// then what the appliance keeps about the last change of its status (the
// card keeps it because audit logs get rotated; a re-enable restores
// PreviousStatus's meaning from it).
type Smartcard struct {
	// Zero fields are left out of the stored record (a nil GUID is 36
	// bytes of zeros otherwise): half the size, twice the cards a page.
	Uuid                   guid.GUID
	Status                 domain.CardStatus
	Flags                  int       `json:",omitzero"`
	ParentSmartcardUuid    guid.GUID `json:",omitzero"`
	PrimarySmartcardUuid   guid.GUID `json:",omitzero"`
	PermanentSmartcardUuid guid.GUID `json:",omitzero"`
	AssignedUserUuid       guid.GUID `json:",omitzero"`
	ProfileTemplateUuid    guid.GUID `json:",omitzero"`
	ProfileTemplateVersion int       `json:",omitzero"`
	Comment                string    `json:",omitzero"`
	SerialNumber           string
	Middleware             string `json:",omitzero"`
	Atr                    string `json:",omitzero"`

	PreviousStatus    domain.CardStatus `json:",omitempty"`
	StatusChanged     time.Time         `json:",omitzero"`
	StatusChangedBy   string            `json:",omitempty"`
	StatusReason      string            `json:",omitempty"`
	StatusRequestUuid guid.GUID         `json:",omitzero"`
	// StatusEvent is the number of the card's newest card.status event,
	// the head of the chain of its status changes (Event.PrevCardEvent):
	// those events have no entry in the audit.card index (schema 2).
	StatusEvent uint64 `json:",omitzero"`
}

// NormalizeSerial is the form serials are indexed and compared in: no
// surrounding space or braces, lowercase. "{D1EF...}" and "d1ef..." are one card.
func NormalizeSerial(s string) string {
	t := strings.TrimSpace(s)
	if len(t) >= 2 && t[0] == '{' && t[len(t)-1] == '}' {
		t = t[1 : len(t)-1]
	}
	return strings.ToLower(t)
}

// CardFilter selects cards for Cards and EachCard. Zero fields select
// everything.
type CardFilter struct {
	AssignedUser guid.GUID
	Status       *domain.CardStatus
	// After starts the listing after this uuid (which need not exist), for
	// paging: the next page starts after the last card of the one before.
	After guid.GUID
	// Limit is the most cards listed; 0: no limit.
	Limit int
}

// Card returns the card with the given uuid.
func (s *Store) Card(id guid.GUID) (Smartcard, error) {
	return cachedView(s, &s.cards, id, getCard)
}

// CardBySerial finds a card by its serial number (MIM CM's cardid), in any
// case and with or without braces.
func (s *Store) CardBySerial(serial string) (Smartcard, error) {
	var c Smartcard
	err := s.db.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketCardsSerial).Get([]byte(NormalizeSerial(serial)))
		if id == nil {
			return domain.Refuse(domain.ErrNotFound, "no smartcard has the card id %q", domain.Clip(serial))
		}
		var err error
		c, err = getCard(tx, guid.GUID(id))
		return err
	})
	return c, err
}

// Cards returns the cards that match f, ordered by uuid. It holds them
// all: a listing of unknown length should use EachCard.
func (s *Store) Cards(f CardFilter) ([]Smartcard, error) {
	out := []Smartcard{}
	err := s.EachCard(context.Background(), f, func(c Smartcard) error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// EachCard calls fn on each card that matches f, in uuid order, and stops
// at fn's first error, which it returns, or when ctx ends. It reads in
// batches (eachBatch), so its memory does not grow with the number of
// cards, and fn runs outside any transaction: it may take its time.
func (s *Store) EachCard(ctx context.Context, f CardFilter, fn func(Smartcard) error) error {
	after, started := f.After, !f.After.IsNil()
	taken := 0
	return eachBatch(ctx, s, func(tx *bolt.Tx, buf []Smartcard) ([]Smartcard, bool, error) {
		// The index that holds the wanted cards together, in uuid order
		// under a common prefix.
		var c *bolt.Cursor
		var prefix []byte
		switch {
		case !f.AssignedUser.IsNil():
			c, prefix = tx.Bucket(bucketCardsUser).Cursor(), f.AssignedUser[:]
		case f.Status != nil && statusIndexed(*f.Status):
			c, prefix = tx.Bucket(bucketCardsStatus).Cursor(), []byte{byte(*f.Status)}
		default:
			c = tx.Bucket(bucketCards).Cursor()
		}
		seek := prefix
		if started {
			seek = append(slices.Clip(prefix), after[:]...)
		}
		k, v := c.Seek(seek)
		if started && bytes.Equal(k, seek) {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			id := guid.GUID(k[len(prefix):])
			var card Smartcard
			var err error
			if prefix == nil {
				if err = json.Unmarshal(v, &card); err != nil {
					err = fmt.Errorf("decode card %x: %w", k, err)
				}
			} else {
				card, err = getCard(tx, id)
			}
			if err != nil {
				return buf, false, err
			}
			after, started = id, true
			if f.Status != nil && card.Status != *f.Status {
				continue // the user index or all cards, filtered by status here
			}
			buf = append(buf, card)
			if taken++; taken == f.Limit {
				return buf, false, nil
			}
			if len(buf) == batchSize {
				return buf, true, nil
			}
		}
		return buf, false, nil
	}, fn)
}

func getCard(tx *bolt.Tx, id guid.GUID) (Smartcard, error) {
	return getFound[Smartcard](tx.Bucket(bucketCards), id[:], "smartcard %s not found", id)
}

func userKey(c Smartcard) []byte   { return append(c.AssignedUserUuid[:], c.Uuid[:]...) }
func statusKey(c Smartcard) []byte { return append([]byte{byte(c.Status)}, c.Uuid[:]...) }

// statusIndexed says whether cards of status st are in the status index.
// Active cards, nearly all of a site's, are not: a disable then writes one
// index entry, where moving the card from one entry to another wrote two
// pages anywhere in the index (schema 2). Active cards are the ones in no
// entry.
func statusIndexed(st domain.CardStatus) bool { return st != domain.CardActive }

// putCard stores c and keeps the indexes in step with it. old is the stored
// record c replaces, or nil for a new card. Index entries that do not
// change are not rewritten: every page spared is a page not written at
// the commit.
func putCard(tx *bolt.Tx, old *Smartcard, c Smartcard) error {
	bySerial, byUser, byStatus := tx.Bucket(bucketCardsSerial), tx.Bucket(bucketCardsUser), tx.Bucket(bucketCardsStatus)
	serial := []byte(NormalizeSerial(c.SerialNumber))
	if old == nil || NormalizeSerial(old.SerialNumber) != string(serial) {
		if old != nil {
			if err := bySerial.Delete([]byte(NormalizeSerial(old.SerialNumber))); err != nil {
				return err
			}
		}
		if other := bySerial.Get(serial); other != nil && guid.GUID(other) != c.Uuid {
			return domain.Refuse(domain.ErrConflict, "smartcard %s already has the serial number %q", guid.GUID(other), c.SerialNumber)
		}
		if err := bySerial.Put(serial, c.Uuid[:]); err != nil {
			return err
		}
		if err := serialsChanged(bySerial); err != nil {
			return err
		}
	}
	if old == nil || old.AssignedUserUuid != c.AssignedUserUuid {
		if old != nil && !old.AssignedUserUuid.IsNil() {
			if err := byUser.Delete(userKey(*old)); err != nil {
				return err
			}
		}
		if !c.AssignedUserUuid.IsNil() {
			if err := byUser.Put(userKey(c), nil); err != nil {
				return err
			}
		}
	}
	if old == nil || old.Status != c.Status {
		if old != nil && statusIndexed(old.Status) {
			if err := byStatus.Delete(statusKey(*old)); err != nil {
				return err
			}
		}
		if statusIndexed(c.Status) {
			if err := byStatus.Put(statusKey(c), nil); err != nil {
				return err
			}
		}
	}
	return putJSON(tx.Bucket(bucketCards), c.Uuid[:], c)
}

// validateCard checks a card that comes from outside (an import).
func validateCard(c Smartcard) error {
	switch {
	case c.Uuid.IsNil():
		return domain.Refuse(domain.ErrInvalid, "Uuid is missing")
	case NormalizeSerial(c.SerialNumber) == "":
		return domain.Refuse(domain.ErrInvalid, "SerialNumber is missing")
	case len(c.SerialNumber) > 128:
		return domain.Refuse(domain.ErrInvalid, "SerialNumber is longer than 128 characters")
	case !c.Status.Valid():
		return domain.Refuse(domain.ErrInvalid, "Status %d is not a smartcard status (0-6)", c.Status)
	case len(c.Comment) > 1024 || len(c.Middleware) > 256 || len(c.Atr) > 128:
		return domain.Refuse(domain.ErrInvalid, "Comment, Middleware or Atr is too long")
	}
	return nil
}

// ImportCards adds new cards, all or nothing: a card that is invalid or
// whose uuid or serial is already taken rejects the whole set, and the
// error names its position (from 1). Each card gets an audit event.
func (s *Store) ImportCards(ctx context.Context, o domain.Origin, cards []Smartcard) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		for i, c := range cards {
			if err := importCard(tx, c); err != nil {
				return fmt.Errorf("card %d: %w", i+1, err)
			}
			if err := s.appendEvent(tx, o, Event{Action: ActionCardImport, CardUuid: c.Uuid, NewStatus: c.Status.String()}); err != nil {
				return err
			}
		}
		return nil
	})
}

func importCard(tx *bolt.Tx, c Smartcard) error {
	if err := validateCard(c); err != nil {
		return err
	}
	if tx.Bucket(bucketCards).Get(c.Uuid[:]) != nil {
		return domain.Refuse(domain.ErrConflict, "smartcard %s already exists", c.Uuid)
	}
	c.Atr = strings.ToLower(c.Atr)
	return putCard(tx, nil, c)
}

// CardSearch selects cards for the page's search.
type CardSearch struct {
	// Text matches part of a serial number (any case, braces ignored) or
	// the start of a card's uuid; a whole GUID also finds the cards
	// assigned to that user.
	Text   string
	Status *domain.CardStatus
	Offset int
	Limit  int // 0: 50
}

// SearchCards returns a page of matching cards and how many match in all.
// Only the records on the page are read: the rest is decided on the index
// keys, so a search over 100,000 cards stays in milliseconds.
func (s *Store) SearchCards(q CardSearch) ([]Smartcard, int, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	// A part of a serial may carry only one of its braces ("{10001eef"):
	// the index holds none.
	text := strings.Trim(NormalizeSerial(q.Text), "{}")
	out := []Smartcard{}
	total := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		cards := tx.Bucket(bucketCards)
		// take counts a match and reads it when it falls on the page.
		take := func(id []byte) error {
			total++
			if total <= q.Offset || len(out) == q.Limit {
				return nil
			}
			var c Smartcard
			if _, err := getJSON(cards, id, &c); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		}
		if user, err := guid.Parse(text); err == nil {
			return s.searchGUID(tx, user, q.Status, take)
		}
		// With a status, the status index says which cards have it, on its
		// keys alone; the list is still walked in serial order, as without
		// one, rather than in the status index's order of hidden uuids.
		// Active cards are the ones the index does not hold.
		var indexed map[guid.GUID]bool
		if q.Status != nil {
			indexed = map[guid.GUID]bool{}
			prefix := []byte{byte(*q.Status)}
			if !statusIndexed(*q.Status) {
				prefix = nil // every card the index holds is not Active
			}
			c := tx.Bucket(bucketCardsStatus).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				indexed[guid.GUID(k[1:])] = true
			}
		}
		needle := []byte(text)
		uuidLike := len(text) <= 36 && strings.Trim(text, "0123456789abcdef-") == ""
		list, err := s.serialsOf(tx)
		if err != nil {
			return err
		}
		bySerial, byUuid := list.containing(needle), guid.MakePrefix(needle)
		for i := range list.ids {
			id := &list.ids[i] // not a copy: a slice of a copy would be made on the heap, each time
			if len(needle) > 0 && !bySerial(i) && !(uuidLike && byUuid.Of(*id)) {
				continue
			}
			if q.Status != nil && indexed[*id] != statusIndexed(*q.Status) {
				continue
			}
			if err := take(id[:]); err != nil {
				return err
			}
		}
		return nil
	})
	return out, total, err
}

// searchGUID finds by a whole GUID: the card with that uuid or serial, and
// the cards assigned to that user.
func (s *Store) searchGUID(tx *bolt.Tx, g guid.GUID, status *domain.CardStatus, take func(id []byte) error) error {
	var ids [][]byte
	if tx.Bucket(bucketCards).Get(g[:]) != nil {
		ids = append(ids, g[:])
	}
	if id := tx.Bucket(bucketCardsSerial).Get([]byte(g.String())); id != nil {
		ids = append(ids, id)
	}
	c := tx.Bucket(bucketCardsUser).Cursor()
	for k, _ := c.Seek(g[:]); k != nil && string(k[:16]) == string(g[:]); k, _ = c.Next() {
		ids = append(ids, k[16:])
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[string(id)] {
			continue
		}
		seen[string(id)] = true
		if status != nil {
			var card Smartcard
			if _, err := getJSON(tx.Bucket(bucketCards), id, &card); err != nil || card.Status != *status {
				if err != nil {
					return err
				}
				continue
			}
		}
		if err := take(id); err != nil {
			return err
		}
	}
	return nil
}
