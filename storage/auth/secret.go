package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// TokenPrefix marks Cardstop's API token secrets, so secret scanners and
// people can recognise one that leaked.
const TokenPrefix = "cst_"

// secretBytes is the randomness of every secret: 256 bits, so that a fast
// hash (Hash) protects it as well as a slow one would.
const secretBytes = 32

// NewTokenSecret returns a new API token secret: TokenPrefix and 256
// random bits in unpadded base64url. It is shown once and never stored.
func NewTokenSecret() string {
	return TokenPrefix + randomString()
}

// IsTokenSecret says whether secret has the form of a token secret; one
// that has not cannot belong to any token, so it need not be looked up.
func IsTokenSecret(secret string) bool {
	return strings.HasPrefix(secret, TokenPrefix)
}

// NewSessionSecret returns a new session secret for a browser's cookie:
// 256 random bits in unpadded base64url, without a prefix.
func NewSessionSecret() string {
	return randomString()
}

// Hash is what is stored of a token or session secret, and what it is
// looked up by: its SHA-256. The secret has 256 random bits, so a slow
// password hash would add nothing but latency.
func Hash(secret string) []byte {
	sum := Digest(secret)
	return sum[:]
}

// Digest is Hash as an array: a map key made without an allocation.
func Digest(secret string) [sha256.Size]byte {
	var buf [64]byte // a secret's bytes, copied here rather than to the heap
	return sha256.Sum256(append(buf[:0], secret...))
}

func randomString() string {
	var raw [secretBytes]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on Linux.
	return base64.RawURLEncoding.EncodeToString(raw[:])
}
