package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/cardstop/cardstop/storage/domain"
)

// Password rules: long enough to resist guessing, short enough to hash cheaply.
const (
	// MinPassword is the fewest characters (runes) a password may have.
	MinPassword = 10
	// MaxPassword is the most bytes a password may have.
	MaxPassword = 256
)

// argon2id parameters (OWASP's first choice: 19 MiB, 2 passes, 1 lane):
// about 50 ms on a Raspberry Pi 4.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// Limits on the parameters CheckPassword accepts from a stored hash, so a
// damaged or planted hash cannot make one check take more than 1 GiB of
// memory or 16 passes.
const (
	maxArgonMemory = 1 << 20 // KiB
	maxArgonTime   = 16
)

// dummyHash is compared against when there is no account, so that an
// unknown name takes as long as a wrong password. It is the hash of 32
// random bytes that were thrown away: nothing matches it. A constant, not
// computed at start, which would cost 19 MiB of memory for nothing.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$DnNjKWpWrotAi5koNKymhA$gxs5NkcrXALtb6ehj7/G1kXXJnmVAOPMMYOyjK2UCdk"

// CheckPasswordRules refuses (domain.ErrInvalid) a password shorter than
// MinPassword characters or longer than MaxPassword bytes.
func CheckPasswordRules(password string) error {
	switch n := len([]rune(password)); {
	case n < MinPassword:
		return domain.Refuse(domain.ErrInvalid, "the password needs at least %d characters", MinPassword)
	case len(password) > MaxPassword:
		return domain.Refuse(domain.ErrInvalid, "the password is longer than %d bytes", MaxPassword)
	}
	return nil
}

// HashPassword returns the argon2id hash of password with a new random
// salt, in PHC string form ($argon2id$v=19$m=…,t=…,p=…$salt$key). It takes
// about 50 ms and 19 MiB; it does not check the password rules.
func HashPassword(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword says whether password is the one hash was made from,
// comparing in constant time; a hash it cannot read never matches.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || m > maxArgonMemory || t > maxArgonTime || p == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// CheckNoPassword does the work of CheckPassword against a hash that
// nothing matches. Call it when there is no account by the name given, so
// that an unknown name takes as long as a wrong password and the time of
// the answer does not tell which names exist.
func CheckNoPassword(password string) {
	CheckPassword(dummyHash, password)
}

// argon2id takes argonMemory (19 MiB) for each password hashed or checked,
// so a burst of sign-ins would take memory without bound. A Hasher runs
// at most a few at once; the others wait their turn, but not long.
const (
	// MaxPasswordWork is how many passwords a Hasher hashes or checks at
	// once: 38 MiB at most.
	MaxPasswordWork = 2
	// PasswordWait is how long a password waits for its turn before it
	// is refused with ErrBusy.
	PasswordWait = 2 * time.Second
)

// ErrBusy: a password waited PasswordWait for its turn in a Hasher.
var ErrBusy = errors.New("too many passwords are being checked at once")

// Hasher hashes and checks passwords with argon2id, at most n at once. It
// is safe for concurrent use.
type Hasher struct {
	slots chan struct{}
	wait  time.Duration
	// Observe, when set, is called as each hash or check begins, and the
	// function it returns as it ends, inside the limit: tests count with
	// it. Set it before the Hasher is used.
	Observe func() (done func())
}

// NewHasher returns a Hasher that runs at most n (at least 1) hashes or
// checks at once; the others wait up to wait for their turn.
func NewHasher(n int, wait time.Duration) *Hasher {
	return &Hasher{slots: make(chan struct{}, max(n, 1)), wait: wait}
}

// run runs f in its turn: at once when a slot is free, or once one is
// freed within h.wait. It fails with ErrBusy when none is, or with the
// context's error when ctx ends first; f has not run then.
func (h *Hasher) run(ctx context.Context, f func()) error {
	select {
	case h.slots <- struct{}{}:
	default:
		t := time.NewTimer(h.wait)
		defer t.Stop()
		select {
		case h.slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return ErrBusy
		}
	}
	defer func() { <-h.slots }()
	if h.Observe != nil {
		defer h.Observe()()
	}
	f()
	return nil
}

// Hash is HashPassword in its turn.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	var hash string
	err := h.run(ctx, func() { hash = HashPassword(password) })
	return hash, err
}

// Check is CheckPassword in its turn.
func (h *Hasher) Check(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	err := h.run(ctx, func() { ok = CheckPassword(hash, password) })
	return ok, err
}

// CheckNone is CheckNoPassword in its turn.
func (h *Hasher) CheckNone(ctx context.Context, password string) error {
	return h.run(ctx, func() { CheckNoPassword(password) })
}
