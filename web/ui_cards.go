package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/page"
)

// pageSize is the number of cards a search page shows.
const pageSize = 50

// cardAction is what a person may do to a card from its page, and how it
// maps onto the request types of the API.
type cardAction struct {
	page.Action
	typ  domain.RequestType
	from []domain.CardStatus // empty: any state the rules allow
	to   domain.CardStatus
}

var cardActions = []cardAction{
	{Action: page.Action{Name: "disable", Label: "Disable", Danger: true,
		Reasons: []string{"lost", "stolen", "damaged", "left the organisation", "other"}},
		typ: domain.TypeDisable, to: domain.CardDisabled},
	{Action: page.Action{Name: "suspend", Label: "Suspend",
		Reasons: []string{"temporarily lost", "leave of absence", "under investigation", "other"}},
		typ: domain.TypeSuspendOrReinstate, to: domain.CardSuspended},
	{Action: page.Action{Name: "reinstate", Label: "Reinstate", Reasons: []string{"found", "returned", "investigation closed", "other"}},
		typ: domain.TypeSuspendOrReinstate, from: []domain.CardStatus{domain.CardSuspended}, to: domain.CardActive},
	{Action: page.Action{Name: "enable", Label: "Re-enable", Reasons: []string{"found", "disabled by mistake", "other"}},
		typ: domain.TypeSuspendOrReinstate, from: []domain.CardStatus{domain.CardDisabled}, to: domain.CardActive},
	{Action: page.Action{Name: "retire", Label: "Retire", Danger: true, TypeSerial: true,
		Reasons: []string{"expired", "destroyed", "replaced", "left the organisation", "other"}},
		typ: domain.TypeRetire, to: domain.CardRetired},
}

// allowed reports whether role may take action a on a card in status.
func (a cardAction) allowed(status domain.CardStatus, role domain.Role) bool {
	if len(a.from) > 0 && !slices.Contains(a.from, status) {
		return false
	}
	return status != a.to && domain.CheckTransition(status, a.to, role) == nil
}

func (s *Server) cardsPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	q := r.URL.Query()
	v := page.CardsView{Query: strings.TrimSpace(q.Get("q")), PageSize: pageSize}
	search := storage.CardSearch{Text: v.Query, Limit: pageSize}
	if st := q.Get("status"); st != "" {
		status, err := domain.ParseCardStatus(st)
		if err != nil {
			return err
		}
		v.Status, search.Status = status.String(), &status
	}
	if off, err := strconv.Atoi(q.Get("offset")); err == nil && off > 0 {
		v.Offset, search.Offset = off, off
	}
	cards, total, err := s.pages.SearchCards(search)
	if err != nil {
		return err
	}
	v.Cards, v.Total = views(cards, smartcardView), total
	s.render(w, r, http.StatusOK, page.Cards(u, v))
	return nil
}

func (s *Server) loadCard(r *http.Request) (storage.Smartcard, error) {
	id, err := guid.Parse(r.PathValue("id"))
	if err != nil {
		return storage.Smartcard{}, &httpError{code: http.StatusNotFound, msg: "There is no card with the id " + clipQ(r.PathValue("id")) + "."}
	}
	return s.pages.Card(id)
}

func (s *Server) cardPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	card, err := s.loadCard(r)
	if err != nil {
		return err
	}
	v := page.CardView{Card: smartcardView(card)}
	for _, a := range cardActions {
		if a.allowed(card.Status, u.Role) {
			v.Actions = append(v.Actions, a.Action)
		}
	}
	events, err := s.pages.AuditPage(storage.AuditFilter{Card: card.Uuid, Limit: 100})
	if err != nil {
		return err
	}
	reqs, err := s.pages.Requests(storage.RequestFilter{Card: card.Uuid})
	if err != nil {
		return err
	}
	slices.Reverse(reqs)
	v.Events, v.Requests = views(events, eventView), views(reqs, requestView)
	if done := r.URL.Query().Get("done"); done != "" {
		for _, a := range cardActions {
			if a.Name == done {
				v.Notice = "Done: " + a.Label + ". The card is now " + card.Status.String() + "."
			}
		}
	}
	s.render(w, r, http.StatusOK, page.Card(u, v))
	return nil
}

func findAction(name string) (cardAction, error) {
	for _, a := range cardActions {
		if a.Name == name {
			return a, nil
		}
	}
	return cardAction{}, &httpError{code: http.StatusNotFound, msg: "There is no action " + clipQ(name) + "."}
}

// actionTarget reads the action and the card a page path names.
func (s *Server) actionTarget(r *http.Request) (cardAction, storage.Smartcard, error) {
	a, err := findAction(r.PathValue("action"))
	if err != nil {
		return a, storage.Smartcard{}, err
	}
	card, err := s.loadCard(r)
	return a, card, err
}

// notAllowed says why a person may not take action a on card.
func notAllowed(a cardAction, card storage.Smartcard, u *page.Session) string {
	return "You cannot " + strings.ToLower(a.Label) + " this card: it is " + card.Status.String() + " and your role is " + u.Role.String() + "."
}

// actionPage is the one confirmation step before a change.
func (s *Server) actionPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	a, card, err := s.actionTarget(r)
	if err != nil {
		return err
	}
	v := page.ActionView{Card: smartcardView(card), Action: a.Action, Reason: a.Reasons[0]}
	code := http.StatusOK
	if !a.allowed(card.Status, u.Role) {
		v.Error, code = notAllowed(a, card, u), http.StatusConflict
	}
	s.render(w, r, code, page.ActionPage(u, v))
	return nil
}

// doAction carries an action out through the same rules as the REST API,
// and on refusal shows the confirmation page again with the reason.
func (s *Server) doAction(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error {
	a, card, err := s.actionTarget(r)
	if err != nil {
		return err
	}
	if err := formValues(w, r); err != nil {
		return err
	}
	v := page.ActionView{Card: smartcardView(card), Action: a.Action, Reason: r.PostFormValue("reason"), Comment: r.PostFormValue("comment")}
	refuse := func(code int, msg string) error {
		v.Error = msg
		s.render(w, r, code, page.ActionPage(u, v))
		return nil
	}
	switch {
	case !slices.Contains(a.Reasons, v.Reason):
		return refuse(http.StatusBadRequest, "Choose a reason from the list.")
	case len(v.Comment) > 1024:
		return refuse(http.StatusBadRequest, "The comment is longer than 1024 characters.")
	case a.TypeSerial && storage.NormalizeSerial(r.PostFormValue("serial")) != storage.NormalizeSerial(card.SerialNumber):
		return refuse(http.StatusBadRequest, "The serial number you typed is not this card's. Nothing was changed.")
	case !a.allowed(card.Status, u.Role) && card.Status != a.to:
		return refuse(http.StatusConflict, notAllowed(a, card, u)+" Nothing was changed.")
	}
	if err := s.allowChange(o.Actor); err != nil {
		he := err.(*httpError)
		w.Header().Set("Retry-After", he.header["Retry-After"])
		return refuse(he.code, he.msg+". Nothing was changed.")
	}
	if _, err := s.pages.ChangeCard(o, card.Uuid, storage.Change{Type: a.typ, To: a.to, Reason: v.Reason, Comment: v.Comment}); err != nil {
		code, msg := statusOf(err)
		if code >= 500 {
			return err
		}
		return refuse(code, msg+". Nothing was changed.")
	}
	http.Redirect(w, r, "/cards/"+card.Uuid.String()+"?done="+a.Name, http.StatusSeeOther)
	return nil
}

func (s *Server) requestsPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	reqs, err := s.pages.Requests(storage.RequestFilter{})
	if err != nil {
		return err
	}
	slices.Reverse(reqs)
	if len(reqs) > 200 {
		reqs = reqs[:200]
	}
	s.render(w, r, http.StatusOK, page.Requests(u, views(reqs, requestView)))
	return nil
}

var auditActions = []storage.Action{storage.ActionCardStatus, storage.ActionCardImport, storage.ActionRequestCreate,
	storage.ActionRequestStatus, storage.ActionTokenCreate, storage.ActionTokenRevoke, storage.ActionUserAdd,
	storage.ActionUserPassword, storage.ActionUserRemove, storage.ActionSignIn, storage.ActionSignOut}

// auditFilter reads the audit page's filters from the query.
func auditFilter(r *http.Request) (page.AuditView, storage.AuditFilter, error) {
	q := r.URL.Query()
	v := page.AuditView{Action: q.Get("action"), Actor: strings.TrimSpace(q.Get("actor")), Card: strings.TrimSpace(q.Get("card")),
		Actions: views(auditActions, func(a storage.Action) string { return string(a) })}
	f := storage.AuditFilter{Action: storage.Action(v.Action), Actor: v.Actor}
	if v.Action != "" && !slices.Contains(auditActions, f.Action) {
		return v, f, &httpError{code: http.StatusBadRequest, msg: "There is no action " + clipQ(v.Action) + " in the audit log."}
	}
	if v.Card != "" {
		id, err := guid.Parse(v.Card)
		if err != nil {
			return v, f, &httpError{code: http.StatusBadRequest, msg: "The card id must be a GUID."}
		}
		f.Card = id
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			return v, f, &httpError{code: http.StatusBadRequest, msg: "before must be an event number."}
		}
		f.Before = n
	}
	return v, f, nil
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	v, f, err := auditFilter(r)
	if err != nil {
		return err
	}
	f.Limit = pageSize
	events, err := s.pages.AuditPage(f)
	if err != nil {
		return err
	}
	v.Events = views(events, eventView)
	if n := len(events); n == pageSize && events[n-1].Seq > 1 {
		v.Older = events[n-1].Seq
	}
	s.render(w, r, http.StatusOK, page.Audit(u, v))
	return nil
}

// auditExport streams the matching events, oldest first, as JSON Lines:
// the same lines `cardstop audit verify` reads.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, _ *page.Session, _ domain.Origin) error {
	_, f, err := auditFilter(r)
	if err != nil {
		return err
	}
	var all []storage.Event
	for f.Limit = 1000; ; {
		batch, err := s.pages.AuditPage(f)
		if err != nil {
			return err
		}
		all = append(all, batch...)
		if len(batch) < f.Limit {
			break
		}
		f.Before = batch[len(batch)-1].Seq
	}
	slices.Reverse(all)
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cardstop-audit.jsonl"`)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, e := range all {
		if err := enc.Encode(e); err != nil {
			return nil // the client went away
		}
	}
	_ = bw.Flush()
	return nil
}

func (s *Server) stationPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	s.render(w, r, http.StatusOK, page.Station(u, s.stationPanelView()))
	return nil
}

func (s *Server) stationPanel(w http.ResponseWriter, r *http.Request, _ *page.Session, _ domain.Origin) error {
	s.render(w, r, http.StatusOK, page.StationPanel(s.stationPanelView()))
	return nil
}

func (s *Server) stationPress(w http.ResponseWriter, r *http.Request, _ *page.Session, _ domain.Origin) error {
	s.opt.PressButton()
	http.Redirect(w, r, "/station", http.StatusSeeOther)
	return nil
}
