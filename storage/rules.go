package storage

import (
	"strings"
)

// Role is what a credential may do. Roles are ordered: each includes the
// rights of the ones before it.
type Role int

// The roles of PRODUCT.md §3.
const (
	RoleNone Role = iota
	RoleViewer
	RoleOperator
	RoleAdmin
)

var roleNames = []string{"none", "viewer", "operator", "admin"}

func (r Role) String() string { return enumName(roleNames, int(r)) }

// ParseRole accepts viewer, operator or admin in any case.
func ParseRole(s string) (Role, error) {
	for i, name := range roleNames[1:] {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Role(i + 1), nil
		}
	}
	return RoleNone, refuse(ErrInvalid, "unknown role %q; use viewer, operator or admin", clip(s))
}

// MarshalText stores a role by name, so the file stays readable.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (r *Role) UnmarshalText(b []byte) error {
	p, err := ParseRole(string(b))
	*r = p
	return err
}

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
		return refuse(ErrConflict, "the smartcard is Retired, which is final; it cannot become %s", to)
	case !ok:
		return refuse(ErrConflict, "a smartcard cannot go from %s to %s", from, to)
	case role < least:
		return refuse(ErrForbidden, "changing a smartcard from %s to %s needs the %s role; you have %s", from, to, least, role)
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

// approveRole is the least role whose new request of a type is approved at
// once; a weaker role that may still ask gets a Pending request for an
// admin to approve.
var approveRole = map[RequestType]Role{
	TypeDisable:            RoleOperator,
	TypeSuspendOrReinstate: RoleOperator,
	TypeRetire:             RoleAdmin,
}

func supportedTypes() string {
	return "Disable (or Revoke), Retire, and SuspendOrReinstate (or Suspend, Reinstate)"
}

// checkTypeTarget says whether a request of type t may set a card to status.
func checkTypeTarget(t RequestType, status CardStatus) error {
	for _, s := range typeTargets[t] {
		if s == status {
			return nil
		}
	}
	names := make([]string, 0, 2)
	for _, s := range typeTargets[t] {
		names = append(names, s.String())
	}
	return refuse(ErrConflict, "a %s request can set a smartcard to %s, not %s", t, strings.Join(names, " or "), status)
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
