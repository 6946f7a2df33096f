package storage_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

func TestTokenLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	secret, tok, err := s.CreateToken(context.Background(), admin, "mim-sync", domain.RoleOperator)
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if !strings.HasPrefix(secret, "cst_") || len(secret) < 40 {
		t.Errorf("secret %q: want cst_ and at least 256 bits", secret)
	}
	if tok.Name != "mim-sync" || tok.Role != domain.RoleOperator || tok.Uuid.IsNil() || !tok.Created.Equal(fixedNow) {
		t.Errorf("token: %+v", tok)
	}
	secret2, _, err := s.CreateToken(context.Background(), admin, "reader.1", domain.RoleViewer)
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if secret2 == secret {
		t.Error("two tokens got the same secret")
	}

	got, err := s.Authenticate(secret)
	if err != nil || got.Name != "mim-sync" || got.Role != domain.RoleOperator || got.Uuid != tok.Uuid {
		t.Errorf("Authenticate = %+v, %v", got, err)
	}
	if got, err := s.Authenticate(secret2); err != nil || got.Name != "reader.1" || got.Role != domain.RoleViewer {
		t.Errorf("Authenticate(second) = %+v, %v", got, err)
	}

	list, err := s.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "mim-sync" || list[1].Name != "reader.1" {
		t.Fatalf("Tokens = %+v, want mim-sync and reader.1 in that order", list)
	}
	for _, l := range list {
		if l.Hash != nil {
			t.Errorf("Tokens shows the hash of %s", l.Name)
		}
	}
	if list[0].Role != domain.RoleOperator || list[0].Uuid != tok.Uuid || !list[0].Created.Equal(fixedNow) {
		t.Errorf("listed token: %+v", list[0])
	}

	// Only the hash is stored: the secret is nowhere in the file.
	raw, err := os.ReadFile(filepath.Join(dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range []string{secret, secret2, strings.TrimPrefix(secret, "cst_")} {
		if bytes.Contains(raw, []byte(sec)) {
			t.Errorf("the database file holds the secret %q", sec)
		}
	}

	if err := s.RevokeToken(context.Background(), admin, "mim-sync"); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := s.Authenticate(secret); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Authenticate after revoke: %v, want ErrNotFound", err)
	}
	if _, err := s.Authenticate(secret2); err != nil {
		t.Errorf("the other token stopped working: %v", err)
	}
	if list, _ := s.Tokens(); len(list) != 1 || list[0].Name != "reader.1" {
		t.Errorf("Tokens after revoke = %+v", list)
	}
	if err := s.RevokeToken(context.Background(), admin, "mim-sync"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("revoking twice: %v, want ErrNotFound", err)
	}
	// The name is free again, with a new secret.
	secret3, _, err := s.CreateToken(context.Background(), admin, "mim-sync", domain.RoleAdmin)
	if err != nil {
		t.Fatalf("re-creating a revoked name: %v", err)
	}
	if _, err := s.Authenticate(secret); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("old secret works for the new token: %v", err)
	}
	if got, err := s.Authenticate(secret3); err != nil || got.Role != domain.RoleAdmin {
		t.Errorf("Authenticate(new) = %+v, %v", got, err)
	}

	evs := allEvents(t, s)
	type ev struct {
		action     storage.Action
		role, name string
	}
	want := []ev{
		{storage.ActionTokenCreate, "operator", "mim-sync"},
		{storage.ActionTokenCreate, "viewer", "reader.1"},
		{storage.ActionTokenRevoke, "operator", "mim-sync"},
		{storage.ActionTokenCreate, "admin", "mim-sync"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i, w := range want {
		e := evs[i]
		if (ev{e.Action, e.Role, e.Name}) != w || e.Actor != "user:root" || e.Source != "192.0.2.3" {
			t.Errorf("event %d = %+v, want %+v", i+1, e, w)
		}
		for _, sec := range []string{secret, secret2, secret3} {
			if strings.Contains(e.Comment+e.Reason+e.NewStatus+e.Name, sec) {
				t.Errorf("event %d holds a secret", i+1)
			}
		}
	}
	checkStore(t, s)
}

func TestTokenRefusals(t *testing.T) {
	tests := []struct {
		name  string
		token string
		role  domain.Role
		want  error
	}{
		{"duplicate name", "taken", domain.RoleViewer, domain.ErrConflict},
		{"empty name", "", domain.RoleViewer, domain.ErrInvalid},
		{"space in name", "my token", domain.RoleViewer, domain.ErrInvalid},
		{"leading dot", ".hidden", domain.RoleViewer, domain.ErrInvalid},
		{"slash", "a/b", domain.RoleViewer, domain.ErrInvalid},
		{"65 characters", strings.Repeat("a", 65), domain.RoleViewer, domain.ErrInvalid},
		{"newline", "name\n", domain.RoleViewer, domain.ErrInvalid},
		{"no role", "fresh", domain.RoleNone, domain.ErrInvalid},
		{"role 5", "fresh", domain.Role(5), domain.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			first, _, err := s.CreateToken(context.Background(), admin, "taken", domain.RoleOperator)
			if err != nil {
				t.Fatal(err)
			}
			secret, tok, err := s.CreateToken(context.Background(), admin, tt.token, tt.role)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CreateToken(%q, %v) = %v, want %v", tt.token, tt.role, err, tt.want)
			}
			if secret != "" || tok.Name != "" {
				t.Errorf("refused CreateToken returned %q, %+v", secret, tok)
			}
			if list, _ := s.Tokens(); len(list) != 1 || list[0].Role != domain.RoleOperator {
				t.Errorf("Tokens after refusal = %+v", list)
			}
			if got, err := s.Authenticate(first); err != nil || got.Role != domain.RoleOperator {
				t.Errorf("the first token changed: %+v, %v", got, err)
			}
			if evs := allEvents(t, s); len(evs) != 1 {
				t.Errorf("%d events, want 1", len(evs))
			}
			checkStore(t, s)
		})
	}
}

func TestAuthenticateUnknown(t *testing.T) {
	s := newStore(t)
	secret, _, err := s.CreateToken(context.Background(), admin, "real", domain.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"", "cst_", "cst_nope", strings.TrimPrefix(secret, "cst_"), secret + "x", " " + secret,
		strings.ToUpper(secret)} {
		if got, err := s.Authenticate(in); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("Authenticate(%q) = %+v, %v; want ErrNotFound", in, got, err)
		}
	}
	checkStore(t, s)
}
