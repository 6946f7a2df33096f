package web

import (
	"errors"
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

// pageAction is an action of the table as the page shows it.
func pageAction(a domain.Action) page.Action {
	return page.Action{Name: string(a.Name), Label: a.Label, Reasons: a.Reasons,
		Danger: a.Name == domain.Disable || a.Name == domain.Retire, TypeSerial: a.Name == domain.Retire}
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
	id, err := guid.Parse(pathValue(r, "id"))
	if err != nil {
		return storage.Smartcard{}, &httpError{code: http.StatusNotFound, msg: "There is no card with the id " + clipQ(pathValue(r, "id")) + "."}
	}
	return s.pages.Card(id)
}

func (s *Server) cardPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	card, err := s.loadCard(r)
	if err != nil {
		return err
	}
	v := page.CardView{Card: smartcardView(card)}
	for _, a := range domain.Available(card.Status, u.Role, domain.ViaPage) {
		v.Actions = append(v.Actions, pageAction(a))
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
	q := r.URL.Query()
	if a, ok := domain.LookupAction(domain.ActionName(q.Get("done"))); ok {
		v.Notice = "Done: " + a.Label + ". The card is now " + card.Status.String() + "."
	}
	if a, ok := domain.LookupAction(domain.ActionName(q.Get("unchanged"))); ok {
		// Said with the card as it is now, and who changed it last: the
		// change that got there first.
		v.Unchanged = true
		v.Notice = "Nothing changed: the card was already " + card.Status.String() + " — by " + card.StatusChangedBy +
			" at " + card.StatusChanged.UTC().Format("2006-01-02 15:04:05 UTC") + ". Your " + strings.ToLower(a.Label) +
			", with its reason and comment, is kept in the history."
	}
	s.render(w, r, http.StatusOK, page.Card(u, v))
	return nil
}

func findAction(name string) (domain.Action, error) {
	if a, ok := domain.LookupAction(domain.ActionName(name)); ok {
		return a, nil
	}
	return domain.Action{}, &httpError{code: http.StatusNotFound, msg: "There is no action " + clipQ(name) + "."}
}

// allowed reports whether role may take action a on a card in status
// from the page.
func allowed(a domain.Action, status domain.CardStatus, role domain.Role) bool {
	return slices.ContainsFunc(domain.Available(status, role, domain.ViaPage), func(b domain.Action) bool { return b.Name == a.Name })
}

// actionTarget reads the action and the card a page path names.
func (s *Server) actionTarget(r *http.Request) (domain.Action, storage.Smartcard, error) {
	a, err := findAction(pathValue(r, "action"))
	if err != nil {
		return a, storage.Smartcard{}, err
	}
	card, err := s.loadCard(r)
	return a, card, err
}

// notAllowed says why a person may not take action a on card.
func notAllowed(a domain.Action, card storage.Smartcard, u *page.Session) string {
	return "You cannot " + strings.ToLower(a.Label) + " this card: it is " + card.Status.String() + " and your role is " + u.Role.String() + "."
}

// actionPage is the one confirmation step before a change.
func (s *Server) actionPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	a, card, err := s.actionTarget(r)
	if err != nil {
		return err
	}
	v := page.ActionView{Card: smartcardView(card), Action: pageAction(a), Reason: a.Reasons[0]}
	code := http.StatusOK
	if !allowed(a, card.Status, u.Role) {
		v.Error, v.Refused, code = notAllowed(a, card, u), true, http.StatusConflict
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
	v := page.ActionView{Card: smartcardView(card), Action: pageAction(a), Reason: r.PostFormValue("reason"), Comment: r.PostFormValue("comment")}
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
	case v.Action.TypeSerial && storage.NormalizeSerial(r.PostFormValue("serial")) != storage.NormalizeSerial(card.SerialNumber):
		return refuse(http.StatusBadRequest, "The serial number you typed is not this card's. Nothing was changed.")
	}
	cmd := domain.Command{Card: card.Uuid, Action: a.Name, Reason: v.Reason, Comment: v.Comment, Via: domain.ViaPage}
	// The rules, asked beforehand, say whether this would change nothing
	// (a form sent twice): that spends no allowance.
	preview, perr := domain.Decide(domain.CardState{Status: card.Status, PreviousStatus: card.PreviousStatus}, nil, cmd, o.Role)
	changed := false
	_, err = s.limitChange(o, card, perr == nil && preview.NoOp, func() (storage.Smartcard, error) {
		c, ch, err := s.pages.ApplyChanged(r.Context(), o, cmd)
		changed = ch
		return c, err
	})
	var he *httpError
	if errors.As(err, &he) && he.code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", he.header["Retry-After"])
		return refuse(he.code, he.msg+". Nothing was changed.")
	}
	if err != nil {
		if errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrForbidden) {
			// The rules refused, inside the transaction: say so with the
			// card as it is now.
			if now, err := s.pages.Card(card.Uuid); err == nil {
				card, v.Card = now, smartcardView(now)
			}
			v.Refused = true
			return refuse(http.StatusConflict, notAllowed(a, card, u)+" Nothing was changed.")
		}
		code, msg := statusOf(err)
		if code >= 500 {
			return err
		}
		return refuse(code, msg+". Nothing was changed.")
	}
	// The card had the status already (someone else was first): the page
	// must not claim the change was this person's.
	outcome := "?done="
	if !changed {
		outcome = "?unchanged="
	}
	http.Redirect(w, r, "/cards/"+card.Uuid.String()+outcome+string(a.Name), http.StatusSeeOther)
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

var auditActions = []storage.Action{storage.ActionCardStatus, storage.ActionCardStatusUnchanged, storage.ActionCardImport, storage.ActionCardUpstream,
	storage.ActionRequestCreate, storage.ActionRequestStatus, storage.ActionOutboxPark, storage.ActionOutboxRetry,
	storage.ActionOutboxDrop, storage.ActionTokenCreate, storage.ActionTokenRevoke, storage.ActionUserAdd,
	storage.ActionUserPassword, storage.ActionUserRemove, storage.ActionSignIn, storage.ActionSignInFail, storage.ActionSignOut}

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
	w.Header().Set("Content-Type", "application/x-ndjson; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="cardstop-audit.jsonl"`)
	st := newStream(w, r, true) // the lines are what the events are hashed as: HTML escaped
	err = s.pages.EachEvent(r.Context(), f, func(e storage.Event) error { return st.value(e, true) })
	if err = s.endStream(w, r, st, err); err != nil { // nothing sent yet: a page says what failed
		w.Header().Del("Content-Disposition")
		w.Header().Del("Content-Type")
	}
	return err
}
