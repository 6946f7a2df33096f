package auth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
)

func TestCheckPasswordRules(t *testing.T) {
	tests := []struct {
		name     string
		password string
		want     string // the refusal; "" when allowed
	}{
		{"empty", "", "the password needs at least 10 characters"},
		{"9 characters", "123456789", "the password needs at least 10 characters"},
		{"10 characters", "1234567890", ""},
		{"10 characters, more bytes", "ääääääääää", ""},
		{"9 characters, 18 bytes", "äääääääää", "the password needs at least 10 characters"},
		{"256 bytes", strings.Repeat("a", 256), ""},
		{"257 bytes", strings.Repeat("a", 257), "the password is longer than 256 bytes"},
		{"129 characters, 258 bytes", strings.Repeat("ä", 129), "the password is longer than 256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.CheckPasswordRules(tt.password)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckPasswordRules = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, domain.ErrInvalid) || err.Error() != tt.want {
				t.Fatalf("CheckPasswordRules = %v, want ErrInvalid %q", err, tt.want)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	const password = "a long passphrase"
	h1, h2 := auth.HashPassword(password), auth.HashPassword(password)
	for _, h := range []string{h1, h2} {
		if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("hash %q: want argon2id in PHC form with 19 MiB, 2 passes, 1 lane", h)
		}
		if strings.Contains(h, password) {
			t.Errorf("hash %q holds the password", h)
		}
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}

	// Every malformed hash is tried with the right password: none matches.
	parts := strings.Split(h1, "$")
	with := func(i int, s string) string {
		p := append([]string(nil), parts...)
		p[i] = s
		return strings.Join(p, "$")
	}
	tests := []struct {
		name     string
		hash     string
		password string
		want     bool
	}{
		{"right password", h1, password, true},
		{"the other salt", h2, password, true},
		{"wrong password", h1, "not the passphrase", false},
		{"empty password", h1, "", false},
		{"password with a suffix", h1, password + " ", false},
		{"empty hash", "", password, false},
		{"the password itself", password, password, false},
		{"argon2i", with(1, "argon2i"), password, false},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234", password, false},
		{"a part missing", strings.Join(parts[:5], "$"), password, false},
		{"a part too many", h1 + "$x", password, false},
		{"parameters unreadable", with(3, "m=x,t=2,p=1"), password, false},
		{"no lanes", with(3, "m=19456,t=2,p=0"), password, false},
		{"more than 1 GiB", with(3, "m=1048577,t=2,p=1"), password, false},
		{"more than 16 passes", with(3, "m=19456,t=17,p=1"), password, false},
		{"other parameters", with(3, "m=19456,t=1,p=1"), password, false},
		{"salt not base64", with(4, "!!!"), password, false},
		{"key not base64", with(5, "!!!"), password, false},
		{"empty key", with(5, ""), password, false},
		{"other salt", with(4, strings.Split(h2, "$")[4]), password, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := auth.CheckPassword(tt.hash, tt.password); got != tt.want {
				t.Errorf("CheckPassword(%q, %q) = %v, want %v", tt.hash, tt.password, got, tt.want)
			}
		})
	}
}

// BenchmarkCheck compares a wrong password with an unknown name: the two
// should take the same time.
func BenchmarkCheck(b *testing.B) {
	hash := auth.HashPassword("a long passphrase")
	b.Run("wrong password", func(b *testing.B) {
		for b.Loop() {
			auth.CheckPassword(hash, "not the passphrase")
		}
	})
	b.Run("unknown name", func(b *testing.B) {
		for b.Loop() {
			auth.CheckNoPassword("not the passphrase")
		}
	})
}
