// Package guid parses and prints the GUIDs of the MIM CM API.
//
// MIM CM writes GUIDs lowercase and hyphenated, and uses the all-zero GUID
// for "unset". Its clients are less tidy: the documentation's own examples
// send uppercase GUIDs, GUIDs in braces and GUIDs with a leading space, so
// Parse accepts all of those and String always prints the canonical form.
package guid

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// GUID is a 16-byte identifier. The zero value is the all-zero GUID, which
// the API uses for "unset".
type GUID [16]byte

// Nil is the all-zero GUID.
var Nil GUID

// ErrSyntax is returned by Parse for text that is not a GUID.
var ErrSyntax = errors.New("not a GUID")

// New returns a random (version 4) GUID.
func New() GUID {
	var g GUID
	_, _ = rand.Read(g[:]) // crypto/rand.Read never fails on Linux.
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// NewOrdered returns a GUID that sorts after those made before it (a
// version 7 UUID: milliseconds since 1970, then 74 random bits). Records
// keyed by it are appended where the last ones were, so that a commit
// writes the same few pages instead of one page a record anywhere in the
// file.
func NewOrdered(now time.Time) GUID {
	g := New()
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		g[i] = byte(ms >> (40 - 8*i))
	}
	g[6] = g[6]&0x0f | 0x70
	return g
}

// Parse reads a GUID in any case, with or without braces and surrounding
// white space: "17CF063D-E337-4AA9-A822-346554DDD3C9", "{17cf063d-...}".
// The hyphens are required, at their usual places.
func Parse(s string) (GUID, error) {
	t := strings.TrimSpace(s)
	if len(t) == 38 && t[0] == '{' && t[37] == '}' {
		t = t[1:37]
	}
	var g GUID
	if len(t) != 36 || t[8] != '-' || t[13] != '-' || t[18] != '-' || t[23] != '-' {
		return g, fmt.Errorf("%w: %q", ErrSyntax, clip(s))
	}
	hexDigits := t[0:8] + t[9:13] + t[14:18] + t[19:23] + t[24:36]
	if _, err := hex.Decode(g[:], []byte(hexDigits)); err != nil {
		return Nil, fmt.Errorf("%w: %q", ErrSyntax, clip(s))
	}
	return g, nil
}

// clip keeps error messages short when a client sends a long string.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// String prints the canonical form: lowercase, hyphenated, no braces.
func (g GUID) String() string {
	var b [36]byte
	return string(g.Append(b[:0]))
}

// Append appends the canonical form to b, without allocating when b
// has room: for hot loops over many ids.
func (g GUID) Append(b []byte) []byte {
	n := len(b)
	b = append(b, make([]byte, 36)...)
	out := b[n:]
	hex.Encode(out[0:8], g[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], g[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], g[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], g[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], g[10:16])
	return b
}

// Prefix is the start of a canonical form, read once into bytes: a search
// tries it on every card of a large file.
type Prefix struct {
	b       [16]byte
	nibbles int
	ok      bool // p can begin a canonical form
}

// MakePrefix reads p, the start of a canonical form (lowercase).
func MakePrefix(p []byte) Prefix {
	var x Prefix
	if len(p) > 36 {
		return x
	}
	for i, c := range p {
		var v byte
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return x
			}
			continue
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return x
		}
		if x.nibbles%2 == 0 {
			x.b[x.nibbles/2] = v << 4
		} else {
			x.b[x.nibbles/2] |= v
		}
		x.nibbles++
	}
	x.ok = true
	return x
}

// Of reports whether g's canonical form begins with the prefix.
func (x Prefix) Of(g GUID) bool {
	full := x.nibbles / 2
	if !x.ok || string(g[:full]) != string(x.b[:full]) {
		return false
	}
	return x.nibbles%2 == 0 || g[full]>>4 == x.b[full]>>4
}

// IsNil reports whether g is the all-zero GUID.
func (g GUID) IsNil() bool { return g == Nil }

// MarshalText prints the canonical form, so JSON shows a string.
func (g GUID) MarshalText() ([]byte, error) { return g.Append(nil), nil }

// UnmarshalText accepts what Parse accepts.
func (g *GUID) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*g = p
	return nil
}
