package domain

import (
	"slices"
	"strings"

	"github.com/cardstop/cardstop/storage/domain/guid"
)

// ActionName names an action on a card, in MIM CM's lowercase words as
// GET /smartcards/{id}/operations lists them.
type ActionName string

// The actions.
const (
	Disable   ActionName = "disable"
	Suspend   ActionName = "suspend"
	Reinstate ActionName = "reinstate"
	Enable    ActionName = "enable" // re-enable a disabled card
	Activate  ActionName = "activate"
	Retire    ActionName = "retire"
)

// Via says which way a change comes in.
type Via string

// The ways in.
const (
	ViaAPI     Via = "api"     // the MIM CM REST API: a request carried out
	ViaPage    Via = "page"    // a person on the page
	ViaStation Via = "station" // the walk-up station: a card in the reader and a press
)

// Action is one thing that can be done to a card: the one table that the
// API's /operations and PUT, the page's buttons and confirmations and the
// walk-up station read. Nothing else decides whether a change is allowed.
type Action struct {
	Name  ActionName
	Label string      // for people
	Type  RequestType // the MIM CM request type that carries it out
	From  []CardStatus
	// To are the statuses it may lead to. A caller that names none (the
	// page, the station) gets To[0], or with Restore the status the card
	// had before, if it is one of To.
	To      []CardStatus
	Restore bool
	Role    Role // the least role
	Station bool // the walk-up station may do it (possession plus a press)
	Reasons []string
}

// actions is the table (PRODUCT.md §1 and §3).
var actions = []Action{
	{Name: Disable, Label: "Disable", Type: TypeDisable,
		From: []CardStatus{CardNew, CardAssigned, CardActive, CardSuspended}, To: []CardStatus{CardDisabled},
		Role: RoleOperator, Station: true, Reasons: []string{"lost", "stolen", "damaged", "left the organisation", "other"}},
	{Name: Suspend, Label: "Suspend", Type: TypeSuspendOrReinstate,
		From: []CardStatus{CardActive}, To: []CardStatus{CardSuspended},
		Role: RoleOperator, Reasons: []string{"temporarily lost", "leave of absence", "under investigation", "other"}},
	{Name: Reinstate, Label: "Reinstate", Type: TypeSuspendOrReinstate,
		From: []CardStatus{CardSuspended}, To: []CardStatus{CardActive},
		Role: RoleOperator, Reasons: []string{"found", "returned", "investigation closed", "other"}},
	{Name: Enable, Label: "Re-enable", Type: TypeSuspendOrReinstate,
		From: []CardStatus{CardDisabled}, To: []CardStatus{CardActive, CardSuspended}, Restore: true,
		Role: RoleAdmin, Reasons: []string{"found", "disabled by mistake", "other"}},
	{Name: Activate, Label: "Activate", Type: TypeSuspendOrReinstate,
		From: []CardStatus{CardNew, CardAssigned}, To: []CardStatus{CardActive},
		Role: RoleAdmin, Reasons: []string{"issued", "other"}},
	{Name: Retire, Label: "Retire", Type: TypeRetire,
		From: []CardStatus{CardNone, CardNew, CardAssigned, CardActive, CardDisabled, CardSuspended}, To: []CardStatus{CardRetired},
		Role: RoleAdmin, Reasons: []string{"expired", "destroyed", "replaced", "left the organisation", "other"}},
}

// Actions returns the table, in the order pages and lists show it.
func Actions() []Action { return slices.Clone(actions) }

// LookupAction returns the action of that name.
func LookupAction(name ActionName) (Action, bool) {
	i := slices.IndexFunc(actions, func(a Action) bool { return a.Name == name })
	if i < 0 {
		return Action{}, false
	}
	return actions[i], true
}

// Available returns the actions role may take on a card in status, coming
// in via the given way, in table order.
func Available(status CardStatus, role Role, via Via) []Action {
	var out []Action
	for _, a := range actions {
		if a.startsFrom(status) && a.AllowedTo(role) && (via != ViaStation || a.Station) {
			out = append(out, a)
		}
	}
	return out
}

func (a Action) startsFrom(s CardStatus) bool { return slices.Contains(a.From, s) }

// AllowedTo reports whether role may take the action: a person's role that
// includes the action's, or a station's token for what the walk-up
// station may do (possession plus a press at a station the hub trusts).
func (a Action) AllowedTo(role Role) bool {
	if role == RoleStation {
		return a.Station
	}
	return role.Includes(a.Role)
}

// CardState is what the rules need to know of a card.
type CardState struct {
	Status         CardStatus
	PreviousStatus CardStatus // before its last change
}

// RequestState is what the rules need to know of the request an API
// client carries out.
type RequestState struct {
	Uuid   guid.GUID
	Type   RequestType
	Status RequestStatus
	Card   guid.GUID // the card it is for; nil until carried out
}

// CarriedOut reports whether the request has changed its card already: a
// request becomes Executing in the transaction that changes its card, and
// in no other way (PUT /requests/{id} cannot set Executing). A request is
// carried out once; changing the card again needs a new request.
func (r RequestState) CarriedOut() bool { return r.Status == RequestExecuting }

// Command is one change of a card's status, as any way in asks for it.
type Command struct {
	Card guid.GUID
	// Action names what the page or the station does. The API names no
	// action: its Request's type and To say what it carries out.
	Action ActionName
	// Request is the request the API carries out; nil on the page and at
	// the station, whose change is recorded as a completed request.
	Request guid.GUID
	// To is the status the API asks for; the page and the station leave it
	// zero and get the action's.
	To       CardStatus
	Reason   string    // a word from the action's list, for the page and the station
	Comment  string    // free text
	Evidence *Evidence // the walk-up station's
	Via      Via
}

// Decision is what the rules make of a command: the action and the status
// it leads to. NoOp says the card has that status already: nothing is
// written.
type Decision struct {
	Action Action
	To     CardStatus
	NoOp   bool
}

// Decide applies the table to a command. req is the request carried out
// (the API), nil otherwise. It is the only place that allows or refuses
// a change of a card's status, and the store calls it inside the
// transaction that makes the change.
func Decide(card CardState, req *RequestState, cmd Command, role Role) (Decision, error) {
	if !role.Includes(RoleOperator) && role != RoleStation {
		return Decision{}, Refuse(ErrForbidden, "changing a smartcard needs the operator role; you have %s", role)
	}
	var candidates []Action
	to := cmd.To
	if req != nil {
		if !req.Card.IsNil() && req.Card != cmd.Card {
			return Decision{}, Refuse(ErrConflict, "request %s is for smartcard %s, not %s", req.Uuid, req.Card, cmd.Card)
		}
		switch {
		case req.Status == RequestPending || req.Status == RequestDenied:
			return Decision{}, Refuse(ErrForbidden, "request %s is %s; only an Approved request can be carried out", req.Uuid, req.Status)
		case req.Status != RequestApproved && req.Status != RequestExecuting:
			return Decision{}, Refuse(ErrConflict, "request %s is already %s", req.Uuid, req.Status)
		}
		var targets []CardStatus
		for _, a := range actions {
			if a.Type != req.Type {
				continue
			}
			for _, t := range a.To {
				if !slices.Contains(targets, t) {
					targets = append(targets, t)
				}
			}
			if slices.Contains(a.To, to) {
				candidates = append(candidates, a)
			}
		}
		if len(candidates) == 0 {
			names := make([]string, len(targets))
			for i, t := range targets {
				names[i] = t.String()
			}
			return Decision{}, Refuse(ErrConflict, "a %s request can set a smartcard to %s, not %s", req.Type, strings.Join(names, " or "), to)
		}
	} else {
		a, ok := LookupAction(cmd.Action)
		if !ok {
			return Decision{}, Refuse(ErrInvalid, "there is no action %q", Clip(string(cmd.Action)))
		}
		switch {
		case to != CardNone && !slices.Contains(a.To, to):
			return Decision{}, Refuse(ErrConflict, "%s sets a smartcard to %s, not %s", a.Label, a.To[0], to)
		case to != CardNone:
		case a.Restore && slices.Contains(a.To, card.PreviousStatus):
			to = card.PreviousStatus
		default:
			to = a.To[0]
		}
		candidates = []Action{a}
	}
	if card.Status == to {
		return Decision{Action: candidates[0], To: to, NoOp: true}, nil
	}
	if req != nil && req.CarriedOut() {
		// Its card changed since (a re-enable, another request): setting
		// it again would carry the request out twice.
		return Decision{}, Refuse(ErrConflict, "request %s has already been carried out; the smartcard is now %s: changing it again needs a new request", req.Uuid, card.Status)
	}
	i := slices.IndexFunc(candidates, func(a Action) bool { return a.startsFrom(card.Status) })
	switch {
	case i < 0 && card.Status == CardRetired:
		return Decision{}, Refuse(ErrConflict, "the smartcard is Retired, which is final; it cannot become %s", to)
	case i < 0:
		return Decision{}, Refuse(ErrConflict, "a smartcard cannot go from %s to %s", card.Status, to)
	}
	a := candidates[i]
	switch {
	case role == RoleStation && !a.Station:
		return Decision{}, Refuse(ErrForbidden, "a station token may not %s a smartcard; it may only carry out what the walk-up station may do", a.Name)
	case !a.AllowedTo(role):
		return Decision{}, Refuse(ErrForbidden, "changing a smartcard from %s to %s needs the %s role; you have %s", card.Status, to, a.Role, role)
	case cmd.Via == ViaStation && !a.Station:
		return Decision{}, Refuse(ErrForbidden, "the walk-up station may not %s a smartcard", a.Name)
	}
	return Decision{Action: a, To: to}, nil
}

// Operations lists the names of the actions role may take on a card in
// status over the API, for GET /smartcards/{id}/operations; never nil.
func Operations(status CardStatus, role Role) []string {
	ops := []string{}
	for _, a := range Available(status, role, ViaAPI) {
		ops = append(ops, string(a.Name))
	}
	return ops
}

// Edge returns the action that leads a card from one status to another,
// for checkers of a log: ok is false when no action does.
func Edge(from, to CardStatus) (a Action, ok bool) {
	i := slices.IndexFunc(actions, func(a Action) bool { return a.startsFrom(from) && slices.Contains(a.To, to) })
	if i < 0 {
		return Action{}, false
	}
	return actions[i], true
}
