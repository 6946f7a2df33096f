package domain

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
	return RoleNone, Refuse(ErrInvalid, "unknown role %q; use viewer, operator or admin", Clip(s))
}

// MarshalText stores a role by name, so the file stays readable.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads what MarshalText wrote.
func (r *Role) UnmarshalText(b []byte) error {
	p, err := ParseRole(string(b))
	*r = p
	return err
}
