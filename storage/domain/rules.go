package domain

import (
	"strings"
)

// transition is one allowed edge of the card state graph.
type transition struct{ from, to CardStatus }

// transitions lists every allowed change of a card's state, with the least
// role that may make it (PRODUCT.md §1 and §3). Anything absent is refused.
var transitions = map[transition]Role{
	{CardActive, CardDisabled}:   RoleOperator,
	{CardActive, CardSuspended}:  RoleOperator,
	{CardSuspended, CardActive}:  RoleOperator, // reinstate
	{CardDisabled, CardActive}:   RoleAdmin,    // re-enable
	{CardNew, CardActive}:        RoleAdmin,
	{CardAssigned, CardActive}:   RoleAdmin,
	{CardNew, CardDisabled}:      RoleOperator,
	{CardAssigned, CardDisabled}: RoleOperator,
	{CardNone, CardRetired}:      RoleAdmin,
	{CardNew, CardRetired}:       RoleAdmin,
	{CardAssigned, CardRetired}:  RoleAdmin,
	{CardActive, CardRetired}:    RoleAdmin,
	{CardDisabled, CardRetired}:  RoleAdmin,
	{CardSuspended, CardRetired}: RoleAdmin,
}

// CheckTransition says whether role may move a card from one state to
// another. Staying in the same state is not a transition; callers treat it
// as a no-op before asking.
func CheckTransition(from, to CardStatus, role Role) error {
	least, ok := transitions[transition{from, to}]
	switch {
	case !ok && from == CardRetired:
		return Refuse(ErrConflict, "the smartcard is Retired, which is final; it cannot become %s", to)
	case !ok:
		return Refuse(ErrConflict, "a smartcard cannot go from %s to %s", from, to)
	case role < least:
		return Refuse(ErrForbidden, "changing a smartcard from %s to %s needs the %s role; you have %s", from, to, least, role)
	}
	return nil
}

// typeTargets lists, for each request type this appliance carries out, the
// card states a request of that type may set.
var typeTargets = map[RequestType][]CardStatus{
	TypeDisable:            {CardDisabled},
	TypeRetire:             {CardRetired},
	TypeSuspendOrReinstate: {CardSuspended, CardActive},
}

// ApproveRole is the least role whose new request of a type is approved at
// once; a weaker role that may still ask gets a Pending request for an
// admin to approve.
var ApproveRole = map[RequestType]Role{
	TypeDisable:            RoleOperator,
	TypeSuspendOrReinstate: RoleOperator,
	TypeRetire:             RoleAdmin,
}

// SupportedTypes names the request types this appliance carries out, for messages.
func SupportedTypes() string {
	return "Disable (or Revoke), Retire, and SuspendOrReinstate (or Suspend, Reinstate)"
}

// CheckTypeTarget says whether a request of type t may set a card to status.
func CheckTypeTarget(t RequestType, status CardStatus) error {
	for _, s := range typeTargets[t] {
		if s == status {
			return nil
		}
	}
	names := make([]string, 0, 2)
	for _, s := range typeTargets[t] {
		names = append(names, s.String())
	}
	return Refuse(ErrConflict, "a %s request can set a smartcard to %s, not %s", t, strings.Join(names, " or "), status)
}

// Operations lists, in MIM CM's lowercase words, what role may do next to
// a card in the given state.
func Operations(status CardStatus, role Role) []string {
	ops := []string{}
	for _, op := range []struct {
		name string
		to   CardStatus
	}{{"disable", CardDisabled}, {"suspend", CardSuspended}, {"reinstate", CardActive}, {"retire", CardRetired}} {
		if status != op.to && CheckTransition(status, op.to, role) == nil {
			ops = append(ops, op.name)
		}
	}
	return ops
}

// CheckRequestTransition holds the rules for a request's own status.
func CheckRequestTransition(from, to RequestStatus, role Role) error {
	switch {
	case from.Finished():
		return Refuse(ErrConflict, "it is already %s", from)
	case to == RequestApproved || to == RequestDenied:
		if from != RequestPending {
			return Refuse(ErrConflict, "only a Pending request can be %s; it is %s", to, from)
		}
		if role < RoleAdmin {
			return Refuse(ErrForbidden, "approving or denying needs the admin role; you have %s", role)
		}
	case to == RequestCompleted:
		if from == RequestPending {
			return Refuse(ErrForbidden, "it is Pending; it must be approved before it can be Completed")
		}
	case to == RequestCanceled:
	default:
		return Refuse(ErrInvalid, "a request can be set to Completed, Canceled, Abandoned, Approved or Denied, not %s", to)
	}
	return nil
}

// KindOf returns the kind of a refusal, or err itself.
func KindOf(err error) error {
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	return err
}
