package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/wire"
)

// APIPrefix is where MIM CM clients find the API; paths match in any case.
const APIPrefix = "/CertificateManagement/api/v1.0"

// apiStore is what the MIM CM handlers read and change.
type apiStore interface {
	Card(id guid.GUID) (storage.Smartcard, error)
	CardBySerial(serial string) (storage.Smartcard, error)
	EachCard(ctx context.Context, f storage.CardFilter, fn func(storage.Smartcard) error) error
	Request(id guid.GUID) (storage.Request, error)
	EachRequest(ctx context.Context, f storage.RequestFilter, fn func(storage.Request) error) error
	CreateRequest(ctx context.Context, o domain.Origin, n storage.NewRequest) (storage.Request, error)
	Apply(ctx context.Context, o domain.Origin, cmd domain.Command) (storage.Smartcard, error)
	SetRequestStatus(ctx context.Context, o domain.Origin, reqID guid.GUID, to domain.RequestStatus, word string) (storage.Request, error)
}

// pathGUID reads a GUID from a path segment.
func pathGUID(r *http.Request, name string) (guid.GUID, error) {
	g, err := guid.Parse(pathValue(r, name))
	if err != nil {
		return g, &httpError{code: http.StatusBadRequest, msg: "the " + name + " in the path must be a GUID, not " + clipQ(pathValue(r, name))}
	}
	return g, nil
}

// listCards answers GET /smartcards. With cardid it returns the one card
// (MIM CM's documented look-up); otherwise an array, in uuid order,
// streamed (stream.go), and paged when the client asks (limit, after).
func (s *Server) listCards(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	q, err := readQuery(r, "cardid", "assigneduser", "status", "limit", "after")
	if err != nil {
		return err
	}
	if cardid, ok := q["cardid"]; ok {
		if len(q) > 1 {
			return &httpError{code: http.StatusBadRequest, msg: "cardid finds one card; it cannot be combined with other parameters"}
		}
		card, err := s.findCard(cardid)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, wire.SmartcardFrom(card))
		return nil
	}
	var f storage.CardFilter
	if v, ok := q["assigneduser"]; ok {
		if f.AssignedUser, err = guid.Parse(v); err != nil || f.AssignedUser.IsNil() {
			return &httpError{code: http.StatusBadRequest, msg: "assigneduser must be a user's GUID, not " + clipQ(v)}
		}
	}
	if f.Status, err = optional(q, "status", domain.ParseCardStatus); err != nil {
		return err
	}
	if v, ok := q["limit"]; ok {
		if f.Limit, err = strconv.Atoi(strings.TrimSpace(v)); err != nil || f.Limit < 1 || f.Limit > maxLimit {
			return &httpError{code: http.StatusBadRequest, msg: "limit must be a whole number from 1 to " + strconv.Itoa(maxLimit) + ", not " + clipQ(v)}
		}
	}
	if v, ok := q["after"]; ok {
		if f.After, err = guid.Parse(v); err != nil {
			return &httpError{code: http.StatusBadRequest, msg: "after must be a smartcard's GUID (the last uuid of the page before), not " + clipQ(v)}
		}
	}
	each := func(ctx context.Context, fn func(storage.Smartcard) error) error { return s.store.EachCard(ctx, f, fn) }
	return streamArray(s, w, r, each, wire.SmartcardFrom)
}

// maxLimit is the largest page GET /smartcards takes.
const maxLimit = 1_000_000

// optional parses the query parameter name, when it is there.
func optional[T any](q map[string]string, name string, parse func(string) (T, error)) (*T, error) {
	v, ok := q[name]
	if !ok {
		return nil, nil
	}
	t, err := parse(v)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// findCard looks a cardid up as the card's serial number, as MIM CM's
// examples use it, and then as the card's uuid, as its parameter table
// describes it.
func (s *Server) findCard(cardid string) (storage.Smartcard, error) {
	card, err := s.store.CardBySerial(cardid)
	if errors.Is(err, domain.ErrNotFound) {
		if id, perr := guid.Parse(cardid); perr == nil {
			if byID, err2 := s.store.Card(id); err2 == nil {
				return byID, nil
			}
		}
	}
	return card, err
}

func (s *Server) getCard(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	return getOne(w, r, s.store.Card, wire.SmartcardFrom)
}

// getOne answers the GET of one record by the id in the path, which takes
// no query: the record in its wire shape.
func getOne[R, W any](w http.ResponseWriter, r *http.Request, get func(guid.GUID) (R, error), shape func(R) W) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	id, err := pathGUID(r, "id")
	if err != nil {
		return err
	}
	rec, err := get(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, shape(rec))
	return nil
}

// cardOperations lists what the caller may do next to the card.
func (s *Server) cardOperations(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	id, err := pathGUID(r, "id")
	if err != nil {
		return err
	}
	card, err := s.store.Card(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, domain.Operations(card.Status, o.Role))
	return nil
}

var createRequestKeys = []string{"type", "smartcard", "target", "profiletemplateuuid", "datacollection", "comment", "priority"}

// createRequest answers POST /requests with 201 and the new request's
// relative URI as a JSON string, as MIM CM does.
func (s *Server) createRequest(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	b, err := readBody(w, r, createRequestKeys...)
	if err != nil {
		return err
	}
	if err := b.Require("type"); err != nil {
		return err
	}
	var n storage.NewRequest
	typ, err := b.Text("type")
	if err != nil {
		return err
	}
	if n.Type, err = domain.ParseRequestType(typ); err != nil {
		return err
	}
	var errs [6]error
	n.Smartcard, errs[0] = b.GUID("smartcard")
	n.Target, errs[1] = b.GUID("target")
	n.ProfileTemplateUuid, errs[2] = b.GUID("profiletemplateuuid")
	n.DataCollection, errs[3] = b.DataCollection("datacollection")
	n.Comment, errs[4] = b.String("comment")
	n.Priority, errs[5] = b.Int("priority")
	if err := firstError(errs[:]); err != nil {
		return err
	}
	if n.IdempotencyKey, err = idempotencyKey(r); err != nil {
		return err
	}
	req, err := s.store.CreateRequest(r.Context(), o, n)
	if err != nil {
		return err
	}
	uri := "api/v1.0/requests/" + req.Uuid.String()
	w.Header().Set("Location", APIPrefix+"/requests/"+req.Uuid.String())
	writeJSON(w, http.StatusCreated, uri)
	return nil
}

// maxIdempotencyKey is the longest Idempotency-Key POST /requests takes.
const maxIdempotencyKey = 255

// idempotencyKey reads the optional Idempotency-Key header: 1-255
// printable ASCII characters. A client that sends it again after a lost
// answer gets the request the first POST made (storage.NewRequest).
func idempotencyKey(r *http.Request) (string, error) {
	vs, ok := r.Header["Idempotency-Key"]
	if !ok {
		return "", nil
	}
	bad := &httpError{code: http.StatusBadRequest, msg: "the Idempotency-Key header must be one value of 1 to " +
		strconv.Itoa(maxIdempotencyKey) + " printable ASCII characters; nothing was created"}
	if len(vs) != 1 || len(vs[0]) < 1 || len(vs[0]) > maxIdempotencyKey {
		return "", bad
	}
	for _, c := range []byte(vs[0]) {
		if c < 0x20 || c > 0x7e {
			return "", bad
		}
	}
	return vs[0], nil
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
	q, err := readQuery(r, "targetuser", "status")
	if err != nil {
		return err
	}
	var f storage.RequestFilter
	if v, ok := q["targetuser"]; ok {
		if !strings.EqualFold(v, "current") {
			return &httpError{code: http.StatusBadRequest, msg: `targetuser supports only "current"`}
		}
		// MIM CM's current user is the caller's user account. The API's
		// callers are tokens, which are no user: no request targets one, and
		// an empty list would look like an answer (docs/API.md).
		return &httpError{code: http.StatusBadRequest, msg: `targetuser=current means the caller's own user, and the token ` +
			strings.TrimPrefix(o.Actor, "token:") + ` is not a user, so no request can target it; leave targetuser out to list the requests`}
	}
	if f.Status, err = optional(q, "status", domain.ParseRequestStatus); err != nil {
		return err
	}
	each := func(ctx context.Context, fn func(storage.Request) error) error {
		return s.store.EachRequest(ctx, f, fn)
	}
	return streamArray(s, w, r, each, wire.RequestFrom)
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	return getOne(w, r, s.store.Request, wire.RequestFrom)
}

// readStatus reads the one-key body {"status": ...} of both PUTs.
func readStatus(w http.ResponseWriter, r *http.Request) (string, error) {
	if _, err := readQuery(r); err != nil {
		return "", err
	}
	b, err := readBody(w, r, "status")
	if err != nil {
		return "", err
	}
	if err := b.Require("status"); err != nil {
		return "", err
	}
	return b.Text("status")
}

// setRequestStatus answers PUT /requests/{id}: complete, cancel or abandon
// (and, for admins, approve or deny) a request.
func (s *Server) setRequestStatus(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
	id, err := pathGUID(r, "id")
	if err != nil {
		return err
	}
	st, word, err := readStatusAs(w, r, domain.ParseRequestStatus)
	if err != nil {
		return err
	}
	req, err := s.store.SetRequestStatus(r.Context(), o, id, st, word)
	if err != nil {
		return err
	}
	return answer(w, r, wire.RequestFrom(req))
}

// getRequestCard answers the GET of the seed's URL: the card, unchanged.
func (s *Server) getRequestCard(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	reqID, cardID, err := requestCardIDs(r)
	if err != nil {
		return err
	}
	if _, err := s.store.Request(reqID); err != nil {
		return err
	}
	card, err := s.store.Card(cardID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.SmartcardFrom(card))
	return nil
}

// setCardStatus answers PUT /requests/{reqid}/smartcards/{scid}: the one
// documented way to change a card's status.
func (s *Server) setCardStatus(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
	reqID, cardID, err := requestCardIDs(r)
	if err != nil {
		return err
	}
	st, _, err := readStatusAs(w, r, domain.ParseCardStatus)
	if err != nil {
		return err
	}
	before, err := s.store.Card(cardID)
	if err != nil {
		return err
	}
	// The rules make setting the status the card has a no-op, and only a
	// change spends the allowance.
	card, err := s.limitChange(o, before, before.Status == st, func() (storage.Smartcard, error) {
		return s.store.Apply(r.Context(), o, domain.Command{Request: reqID, Card: cardID, To: st, Via: domain.ViaAPI})
	})
	if err != nil {
		return err
	}
	if o.Role == domain.RoleStation && before.Status != card.Status {
		s.stations.changed(strings.TrimPrefix(o.Actor, "token:"), s.opt.Now(), cardID)
	}
	return answer(w, r, wire.SmartcardFrom(card))
}

// requestCardIDs reads the request's and the card's GUIDs of the path
// requests/{reqid}/smartcards/{scid}.
func requestCardIDs(r *http.Request) (reqID, cardID guid.GUID, err error) {
	if reqID, err = pathGUID(r, "reqid"); err != nil {
		return reqID, cardID, err
	}
	cardID, err = pathGUID(r, "scid")
	return reqID, cardID, err
}

// readStatusAs reads the body {"status": ...} of a PUT and parses the word.
func readStatusAs[T any](w http.ResponseWriter, r *http.Request, parse func(string) (T, error)) (T, string, error) {
	word, err := readStatus(w, r)
	if err != nil {
		var zero T
		return zero, "", err
	}
	st, err := parse(word)
	return st, word, err
}

// answer writes 200 with v, or 204 when the client prefers return=minimal.
func answer(w http.ResponseWriter, r *http.Request, v any) error {
	if wantsMinimal(r) {
		w.Header().Set("Preference-Applied", "return=minimal")
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
