package domain

import (
	"strings"
)

// Role is what a credential may do. The people's roles are ordered (viewer,
// operator, admin: each includes the rights of the ones before it); the
// station role stands apart and includes none of them. Compare roles with
// Includes, never with < or >=.
type Role int

// The roles of PRODUCT.md §3, and the station role of FLEET.md §4.
//
// RoleStation sorts below every person's role on purpose: an ordered
// comparison that slips in anywhere refuses a station rather than granting
// it everything.
const (
	RoleNone Role = iota
	// RoleStation is a walk-up station's token at its hub: it may look
	// cards up and create, carry out and finish Disable requests, nothing
	// else. Only tokens have it; no person does.
	RoleStation
	RoleViewer
	RoleOperator
	RoleAdmin
)

var roleNames = []string{"none", "station", "viewer", "operator", "admin"}

func (r Role) String() string { return enumName(roleNames, int(r)) }

// Includes reports whether r has every right of least: a person's role
// includes the roles before it, and the station role only itself.
func (r Role) Includes(least Role) bool {
	if r == RoleStation || least == RoleStation {
		return r == least
	}
	return r >= least && r > RoleNone
}

// ParseRole accepts station, viewer, operator or admin in any case.
func ParseRole(s string) (Role, error) {
	for i, name := range roleNames[1:] {
		if strings.EqualFold(strings.TrimSpace(s), name) {
			return Role(i + 1), nil
		}
	}
	return RoleNone, Refuse(ErrInvalid, "unknown role %q; use viewer, operator, admin or station", Clip(s))
}

// MarshalText stores a role by name, so the file stays readable.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (r *Role) UnmarshalText(b []byte) error {
	p, err := ParseRole(string(b))
	*r = p
	return err
}
