package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"plain", "mim-sync", true},
		{"dots and underscores", "reader.1_a", true},
		{"one character", "a", true},
		{"leading digit", "1st", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"empty", "", false},
		{"space", "my token", false},
		{"leading dot", ".hidden", false},
		{"leading dash", "-x", false},
		{"slash", "a/b", false},
		{"65 characters", strings.Repeat("a", 65), false},
		{"newline", "name\n", false},
		{"not ASCII", "jürgen", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []string{"token", "user"} {
				err := auth.CheckName(kind, tt.in)
				if (err == nil) != tt.ok {
					t.Fatalf("CheckName(%q, %q) = %v, want ok %v", kind, tt.in, err, tt.ok)
				}
				if err == nil {
					continue
				}
				if !errors.Is(err, domain.ErrInvalid) {
					t.Errorf("CheckName(%q, %q) = %v, want ErrInvalid", kind, tt.in, err)
				}
				if want := kind + " name "; !strings.HasPrefix(err.Error(), want) ||
					!strings.HasSuffix(err.Error(), ": use 1-64 letters, digits, '.', '_' or '-'") {
					t.Errorf("CheckName(%q, %q) says %q", kind, tt.in, err)
				}
			}
		})
	}
}

func TestCheckRole(t *testing.T) {
	tests := []struct {
		kind string
		role domain.Role
		want string // the refusal; "" when the role is fine
	}{
		{"token", domain.RoleNone, "a token needs a role: viewer, operator, admin or station"},
		{"token", domain.RoleViewer, ""},
		{"token", domain.RoleOperator, ""},
		{"token", domain.RoleAdmin, ""},
		{"token", domain.RoleStation, ""},
		{"token", domain.Role(5), "a token needs a role: viewer, operator, admin or station"},
		{"token", domain.Role(-1), "a token needs a role: viewer, operator, admin or station"},
		{"user", domain.RoleNone, "a user needs a role: viewer, operator or admin"},
		{"user", domain.RoleAdmin, ""},
		{"user", domain.RoleStation, "a user cannot have the station role: it is for a walk-up station's token"},
	}
	for _, tt := range tests {
		err := auth.CheckRole(tt.kind, tt.role)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckRole(%s, %v) = %v, want nil", tt.kind, tt.role, err)
		case tt.want != "" && (!errors.Is(err, domain.ErrInvalid) || err.Error() != tt.want):
			t.Errorf("CheckRole(%s, %v) = %v, want %q", tt.kind, tt.role, err, tt.want)
		}
	}
}
