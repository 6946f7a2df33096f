package auth_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage/auth"
)

func TestSecrets(t *testing.T) {
	tests := []struct {
		name   string
		new    func() string
		prefix string
		token  bool // IsTokenSecret
	}{
		{"token", auth.NewTokenSecret, auth.TokenPrefix, true},
		{"session", auth.NewSessionSecret, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 100 {
				s := tt.new()
				if !strings.HasPrefix(s, tt.prefix) {
					t.Fatalf("secret %q: want the prefix %q", s, tt.prefix)
				}
				raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, tt.prefix))
				if err != nil || len(raw) != 32 {
					t.Fatalf("secret %q: want 256 bits in unpadded base64url (%d bytes, %v)", s, len(raw), err)
				}
				if auth.IsTokenSecret(s) != tt.token {
					t.Errorf("IsTokenSecret(%q) = %v", s, !tt.token)
				}
				if seen[s] {
					t.Fatalf("secret %q came twice", s)
				}
				seen[s] = true
			}
		})
	}
}

func TestIsTokenSecret(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", false},
		{"cst_", true},
		{"cst_anything", true},
		{"CST_anything", false},
		{" cst_x", false},
		{"anything", false},
	}
	for _, tt := range tests {
		if got := auth.IsTokenSecret(tt.in); got != tt.want {
			t.Errorf("IsTokenSecret(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestHash(t *testing.T) {
	tests := []string{"", "cst_abc", "a session secret"}
	for _, in := range tests {
		want := sha256.Sum256([]byte(in))
		if got := auth.Hash(in); !bytes.Equal(got, want[:]) {
			t.Errorf("Hash(%q) = %x, want its SHA-256 %x", in, got, want)
		}
	}
	if bytes.Equal(auth.Hash("cst_a"), auth.Hash("cst_b")) {
		t.Error("two secrets have one hash")
	}
}
