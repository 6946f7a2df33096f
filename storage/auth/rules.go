package auth

import (
	"regexp"

	"github.com/cardstop/cardstop/storage/domain"
)

// name is the rule for token and user names: 1-64 letters, digits, '.',
// '_' or '-', not starting with a punctuation mark.
var name = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CheckName refuses (domain.ErrInvalid) a name that breaks the rule for
// token and user names. kind ("token" or "user") begins the refusal.
func CheckName(kind, n string) error {
	if !name.MatchString(n) {
		return domain.Refuse(domain.ErrInvalid, "%s name %q: use 1-64 letters, digits, '.', '_' or '-'", kind, domain.Clip(n))
	}
	return nil
}

// CheckRole refuses (domain.ErrInvalid) a role a credential cannot have:
// a token is a viewer, an operator, an admin or a station; a user (a
// person) is a viewer, an operator or an admin. kind ("token" or "user")
// names it in the refusal.
func CheckRole(kind string, r domain.Role) error {
	switch {
	case kind == "token" && r == domain.RoleStation:
		return nil
	case r == domain.RoleStation:
		return domain.Refuse(domain.ErrInvalid, "a %s cannot have the station role: it is for a walk-up station's token", kind)
	case r != domain.RoleViewer && r != domain.RoleOperator && r != domain.RoleAdmin:
		return domain.Refuse(domain.ErrInvalid, "a %s needs a role: %s", kind, roleChoice(kind))
	}
	return nil
}

func roleChoice(kind string) string {
	if kind == "token" {
		return "viewer, operator, admin or station"
	}
	return "viewer, operator or admin"
}
