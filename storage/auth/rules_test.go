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
		role domain.Role
		ok   bool
	}{
		{domain.RoleNone, false},
		{domain.RoleViewer, true},
		{domain.RoleOperator, true},
		{domain.RoleAdmin, true},
		{domain.Role(4), false},
		{domain.Role(-1), false},
	}
	for _, tt := range tests {
		err := auth.CheckRole("token", tt.role)
		if (err == nil) != tt.ok {
			t.Errorf("CheckRole(%v) = %v, want ok %v", tt.role, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, domain.ErrInvalid) || err.Error() != "a token needs a role: viewer, operator or admin") {
			t.Errorf("CheckRole(%v) = %v", tt.role, err)
		}
	}
}
