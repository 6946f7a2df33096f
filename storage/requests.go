package storage

import (
	"cmp"
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

// Request is a MIM CM request record: the documented fields in their
// documented order, then the appliance's own.
type Request struct {
	Uuid                     guid.GUID
	RequestType              domain.RequestType
	Status                   domain.RequestStatus
	Flags                    int
	DataCollection           []DataItem
	DataCollectionFlags      int
	OriginatorUserUuid       guid.GUID
	TargetUserUuid           guid.GUID
	Submitted                time.Time
	Completed                time.Time
	NewProfileUuid           guid.GUID
	OldProfileUuid           guid.GUID
	NewSmartcardUuid         guid.GUID
	OldSmartcardUuid         guid.GUID
	Priority                 int
	Comment                  string
	ProfileTemplateUuid      guid.GUID
	SecurityDescriptor       string
	IsSmartcard              bool
	IsEnrollmentAgent        bool
	IsDataCollectionComplete bool

	// Originator names the credential that created the request.
	Originator string `json:",omitempty"`
	// StatusWord keeps the word a client used when it differs from the
	// stored status ("Abandoned" is stored as Canceled).
	StatusWord string `json:",omitempty"`
}

// DataItem is one name/value pair of a request's data collection.
type DataItem struct {
	Name  string
	Value *string
}

// Request flags and data collection flags as MIM CM sets them for a smart
// card request (RequestFlags.Smartcard = 2; 32 is what every documented
// request carries).
const (
	requestFlagSmartcard = 2
	dataCollectionFlags  = 32
)

// NewRequest is what a client asks for in POST /requests.
type NewRequest struct {
	Type                domain.RequestType
	Smartcard           guid.GUID // the card the request is for; may be nil until executed
	Target              guid.GUID // the target user; defaults to the card's user
	ProfileTemplateUuid guid.GUID
	DataCollection      []DataItem
	Comment             string
	Priority            int
	// IdempotencyKey, when set, makes the request once: a later
	// CreateRequest with the same key from the same credential (Origin's
	// ActorUuid) returns the request the first one made and changes
	// nothing. Keys are kept for good; each costs a few dozen bytes.
	IdempotencyKey string
}

// bucketRequestKeys maps a credential's uuid and an idempotency key to the
// request they made.
var bucketRequestKeys = []byte("requests.idempotency")

// idempotencyKey is the key of bucketRequestKeys: the credential's uuid,
// then the client's key, so two credentials never share a key.
func idempotencyKey(actor guid.GUID, key string) []byte {
	return append(actor[:len(actor):len(actor)], key...)
}

// Limits on what a client may store in a request.
const (
	maxComment        = 1024
	maxDataCollection = 32
	maxDataText       = 256
)

// CreateRequest stores a new request. A caller whose role may carry out the
// type gets an Approved request; an operator asking to retire gets a
// Pending one that an admin approves. With an IdempotencyKey the caller
// used before it returns that request instead, and changes nothing.
func (s *Store) CreateRequest(ctx context.Context, o domain.Origin, n NewRequest) (Request, error) {
	status, err := domain.NewRequestStatus(n.Type, o.Role)
	switch {
	case err != nil:
		return Request{}, err
	case len(n.Comment) > maxComment:
		return Request{}, domain.Refuse(domain.ErrInvalid, "comment is longer than %d characters", maxComment)
	case len(n.DataCollection) > maxDataCollection:
		return Request{}, domain.Refuse(domain.ErrInvalid, "datacollection has more than %d items", maxDataCollection)
	}
	for _, d := range n.DataCollection {
		if len(d.Name) > maxDataText || (d.Value != nil && len(*d.Value) > maxDataText) {
			return Request{}, domain.Refuse(domain.ErrInvalid, "a datacollection name or value is longer than %d characters", maxDataText)
		}
	}
	r := Request{
		Uuid:                guid.NewOrdered(s.now()), // appended where the last requests are,
		RequestType:         n.Type,
		Status:              status,
		Flags:               requestFlagSmartcard,
		DataCollection:      n.DataCollection,
		DataCollectionFlags: dataCollectionFlags,
		OriginatorUserUuid:  o.ActorUuid,
		TargetUserUuid:      n.Target,
		NewSmartcardUuid:    n.Smartcard,
		OldSmartcardUuid:    n.Smartcard,
		Priority:            n.Priority,
		Comment:             n.Comment,
		ProfileTemplateUuid: n.ProfileTemplateUuid,
		IsSmartcard:         true,
		Originator:          o.Actor,
	}
	if r.DataCollection == nil {
		r.DataCollection = []DataItem{}
	}
	base := r
	err = s.update(ctx, func(tx *bolt.Tx) error {
		r = base // the closure may run again, alone, when its batch fails
		if n.IdempotencyKey != "" {
			k := idempotencyKey(o.ActorUuid, n.IdempotencyKey)
			if id := tx.Bucket(bucketRequestKeys).Get(k); id != nil {
				var err error
				r, err = getRequest(tx, guid.GUID(id))
				if err == nil && (r.RequestType != n.Type || r.NewSmartcardUuid != n.Smartcard) {
					err = domain.Refuse(domain.ErrConflict, "the Idempotency-Key %q made request %s, a %s request for smartcard %s; use a new key for another request",
						domain.Clip(n.IdempotencyKey), r.Uuid, r.RequestType, r.NewSmartcardUuid)
				}
				return err
			}
			if err := tx.Bucket(bucketRequestKeys).Put(k, r.Uuid[:]); err != nil {
				return err
			}
		}
		if !n.Smartcard.IsNil() {
			card, err := getCard(tx, n.Smartcard)
			if err != nil {
				return err
			}
			if card.Status == domain.CardRetired {
				return domain.Refuse(domain.ErrConflict, "smartcard %s is Retired, which is final; no request can change it", card.Uuid)
			}
			if r.TargetUserUuid.IsNil() {
				r.TargetUserUuid = card.AssignedUserUuid
			}
			if r.ProfileTemplateUuid.IsNil() {
				r.ProfileTemplateUuid = card.ProfileTemplateUuid
			}
		}
		r.Submitted = s.now()
		if err := putJSON(tx.Bucket(bucketRequests), r.Uuid[:], r); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionRequestCreate, RequestUuid: r.Uuid, CardUuid: n.Smartcard,
			NewStatus: r.Status.String(), RequestType: r.RequestType.String(), Reason: r.dataItem("Reason"), Comment: r.Comment})
	})
	if err != nil {
		return Request{}, fmt.Errorf("create request: %w", err)
	}
	return r, nil
}

// Request returns the request with the given uuid.
func (s *Store) Request(id guid.GUID) (Request, error) {
	var r Request
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = getRequest(tx, id)
		return err
	})
	return r, err
}

// RequestFilter selects requests. Zero fields select everything.
type RequestFilter struct {
	TargetUser guid.GUID
	Card       guid.GUID
	Status     *domain.RequestStatus
}

// Requests returns the matching requests, oldest first. It holds them
// all: a listing of unknown length should use EachRequest.
func (s *Store) Requests(f RequestFilter) ([]Request, error) {
	out := []Request{}
	err := s.EachRequest(context.Background(), f, func(r Request) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func (f RequestFilter) keep(r requestKey) bool {
	return (f.TargetUser.IsNil() || r.TargetUserUuid == f.TargetUser) && (f.Status == nil || r.Status == *f.Status) &&
		(f.Card.IsNil() || r.NewSmartcardUuid == f.Card)
}

// requestKey is what a listing of requests decides on: the fields of the
// filter and the order.
type requestKey struct {
	TargetUserUuid   guid.GUID
	Status           domain.RequestStatus
	NewSmartcardUuid guid.GUID
	Submitted        time.Time
}

// EachRequest calls fn on each request that matches f, oldest first (in
// uuid order among those submitted at the same time), and stops at fn's
// first error, which it returns, or when ctx ends. Requests are stored by
// uuid, so it first sorts the matching uuids by submission time (24 bytes
// a request, 2.4 MB for 100,000), then reads the requests in batches
// (eachBatch) and calls fn outside any transaction. A request whose
// status changed meanwhile so that it no longer matches is left out.
func (s *Store) EachRequest(ctx context.Context, f RequestFilter, fn func(Request) error) error {
	type entry struct {
		submitted int64 // Unix nanoseconds
		id        guid.GUID
	}
	var order []entry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
			var r requestKey
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode request %x: %w", k, err)
			}
			if f.keep(r) {
				order = append(order, entry{r.Submitted.UnixNano(), guid.GUID(k)})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	slices.SortStableFunc(order, func(a, b entry) int { return cmp.Compare(a.submitted, b.submitted) })
	next := 0
	return eachBatch(ctx, s, func(tx *bolt.Tx, buf []Request) ([]Request, bool, error) {
		for ; next < len(order) && len(buf) < batchSize; next++ {
			r, err := getRequest(tx, order[next].id)
			if err != nil {
				return buf, false, err
			}
			if f.keep(requestKey{r.TargetUserUuid, r.Status, r.NewSmartcardUuid, r.Submitted}) {
				buf = append(buf, r)
			}
		}
		return buf, next < len(order), nil
	}, fn)
}

func getRequest(tx *bolt.Tx, id guid.GUID) (Request, error) {
	return getFound[Request](tx.Bucket(bucketRequests), id[:], "request %s not found", id)
}

// dataItem returns the value of the request's data collection item of
// that name, "" without one.
func (r Request) dataItem(name string) string {
	for _, d := range r.DataCollection {
		if strings.EqualFold(d.Name, name) && d.Value != nil {
			return *d.Value
		}
	}
	return ""
}

// SetRequestStatus completes, cancels (word "Abandoned" or "Canceled"),
// approves or denies a request. Approving and denying are for admins and
// only from Pending; a station token finishes only the Disable requests it
// made. Setting the status a request already has is a no-op.
func (s *Store) SetRequestStatus(ctx context.Context, o domain.Origin, reqID guid.GUID, to domain.RequestStatus, word string) (Request, error) {
	if !o.Role.Includes(domain.RoleOperator) && o.Role != domain.RoleStation {
		return Request{}, domain.Refuse(domain.ErrForbidden, "changing a request needs the operator role; you have %s", o.Role)
	}
	var r Request
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = getRequest(tx, reqID)
		if err != nil {
			return err
		}
		if o.Role == domain.RoleStation && (r.OriginatorUserUuid != o.ActorUuid || r.RequestType != domain.TypeDisable) {
			// A station finishes the Disable requests it made, and touches
			// no one else's.
			return domain.Refuse(domain.ErrForbidden, "request %s was not made by this station token; a station token may finish only the Disable requests it made", r.Uuid)
		}
		if r.Status == to {
			return nil
		}
		if err := domain.CheckRequestTransition(r.Status, to, o.Role); err != nil {
			return domain.Refuse(domain.KindOf(err), "request %s: %s", r.Uuid, err)
		}
		old := r.Status
		r.Status, r.StatusWord = to, ""
		if w := strings.TrimSpace(word); !strings.EqualFold(w, to.String()) {
			r.StatusWord = w
		}
		if to.Finished() {
			r.Completed = s.now()
		}
		if err := putJSON(tx.Bucket(bucketRequests), r.Uuid[:], r); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionRequestStatus, RequestUuid: r.Uuid, CardUuid: r.NewSmartcardUuid,
			OldStatus: old.String(), NewStatus: to.String(), StatusWord: r.StatusWord})
	})
	if err != nil {
		return Request{}, fmt.Errorf("set request status: %w", err)
	}
	return r, nil
}
