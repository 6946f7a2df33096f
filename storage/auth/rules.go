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
// a token or user is a viewer, an operator or an admin. kind ("token" or
// "user") names it in the refusal.
func CheckRole(kind string, r domain.Role) error {
	if r < domain.RoleViewer || r > domain.RoleAdmin {
		return domain.Refuse(domain.ErrInvalid, "a %s needs a role: viewer, operator or admin", kind)
	}
	return nil
}
