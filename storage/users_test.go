package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestSignInRefusals: a wrong password and an unknown name give the same
// error, ErrBadCredentials, which is not a record not found.
func TestSignInRefusals(t *testing.T) {
	s := newStore(t)
	if err := s.AddUser(context.Background(), operator, "ann", domain.RoleViewer, "a long passphrase"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, user, password string }{
		{"wrong password", "ann", "not her passphrase"},
		{"unknown user", "bob", "a long passphrase"},
		{"empty password", "ann", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.SignIn(context.Background(), domain.Origin{}, tt.user, tt.password)
			if !errors.Is(err, storage.ErrBadCredentials) || errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("SignIn: %v; want ErrBadCredentials", err)
			}
			if err.Error() != "wrong user name or password" {
				t.Errorf("SignIn says %q", err)
			}
		})
	}
	if _, _, err := s.SignIn(context.Background(), domain.Origin{}, "ann", "a long passphrase"); err != nil {
		t.Fatalf("SignIn with the right password: %v", err)
	}
	checkStore(t, s)
}
