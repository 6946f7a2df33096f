package auth

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestDummyHash: the hash CheckNoPassword checks against has the
// parameters, salt and key sizes of HashPassword's, so an unknown name
// costs what a wrong password does; and it matches nothing tried.
func TestDummyHash(t *testing.T) {
	real := strings.Split(HashPassword("a long passphrase"), "$")
	dummy := strings.Split(dummyHash, "$")
	if len(dummy) != len(real) {
		t.Fatalf("dummyHash has %d parts, a hash %d", len(dummy), len(real))
	}
	for i := range 4 { // "", argon2id, version, parameters
		if dummy[i] != real[i] {
			t.Errorf("part %d of dummyHash is %q, of a hash %q", i, dummy[i], real[i])
		}
	}
	for i := 4; i < 6; i++ { // salt and key
		d, err1 := base64.RawStdEncoding.DecodeString(dummy[i])
		r, err2 := base64.RawStdEncoding.DecodeString(real[i])
		if err1 != nil || err2 != nil || len(d) != len(r) {
			t.Errorf("part %d of dummyHash: %d bytes (%v), of a hash %d", i, len(d), err1, len(r))
		}
	}
	for _, p := range []string{"", "a long passphrase", "password12"} {
		if CheckPassword(dummyHash, p) {
			t.Errorf("dummyHash matches %q", p)
		}
		CheckNoPassword(p)
	}
}
