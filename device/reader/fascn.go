package reader

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
)

// FASCN is a Federal Agency Smart Credential Number, as the CHUID of a PIV
// card carries it (tag 30; TIG SCEPACS 2.3, SP 800-73-4 part 1, 3.1.2).
// Each field holds decimal digits, exactly as many as its comment says.
type FASCN struct {
	Agency     string // 4: the agency code
	System     string // 4: the system (site) code
	Credential string // 6: the credential number, unique within a system
	CS         string // 1: the credential series
	ICI        string // 1: the individual credential issue, raised when a card is replaced
	PI         string // 10: the person identifier
	OC         string // 1: the organizational category (1 federal, 2 state, 3 commercial, 4 foreign)
	OI         string // 4: the organizational identifier
	POA        string // 1: the person/organization association category
}

// FASCNSize is the length of a FASC-N in a CHUID: 40 characters of 5 bits.
const FASCNSize = 25

// FASCNDigits is the number of digits in a FASC-N's fields.
const FASCNDigits = 32

// ErrFASCN is returned for bytes or digits that are not a FASC-N.
var ErrFASCN = errors.New("invalid FASC-N")

// The FASC-N's characters: BCD digits 0-9 and three markers.
const (
	fascnSS = 0xB // start sentinel
	fascnFS = 0xD // field separator
	fascnES = 0xF // end sentinel
)

// fascnLayout is the sequence of the FASC-N's first 39 characters: a
// marker, or 0 for a digit (taken in field order). The 40th is the LRC.
var fascnLayout = [39]byte{
	fascnSS, 0, 0, 0, 0, // agency
	fascnFS, 0, 0, 0, 0, // system
	fascnFS, 0, 0, 0, 0, 0, 0, // credential
	fascnFS, 0, // CS
	fascnFS, 0, // ICI
	fascnFS, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // PI
	0,          // OC
	0, 0, 0, 0, // OI
	0, // POA
	fascnES,
}

// fields returns pointers to f's fields in order, with their widths.
func (f *FASCN) fields() []struct {
	s *string
	n int
} {
	return []struct {
		s *string
		n int
	}{{&f.Agency, 4}, {&f.System, 4}, {&f.Credential, 6}, {&f.CS, 1}, {&f.ICI, 1}, {&f.PI, 10}, {&f.OC, 1}, {&f.OI, 4}, {&f.POA, 1}}
}

// ParseFASCN decodes the 25 bytes of a FASC-N: 40 characters of 5 bits
// packed most significant bit first, each 4 BCD bits least significant
// first followed by an odd parity bit. The start and end sentinels, the
// field separators, every parity bit and the LRC (the XOR of the data bits
// of the 39 characters before it) must be right: a card's FASC-N that
// fails any of them is no identity.
func ParseFASCN(b []byte) (FASCN, error) {
	if len(b) != FASCNSize {
		return FASCN{}, fmt.Errorf("%w: %d bytes, want %d", ErrFASCN, len(b), FASCNSize)
	}
	var chars [40]byte
	for i := range chars {
		var c byte
		for j := range 5 {
			pos := 5*i + j
			c |= (b[pos/8] >> (7 - pos%8) & 1) << j // data bits least significant first, then parity
		}
		if bits.OnesCount8(c)%2 != 1 {
			return FASCN{}, fmt.Errorf("%w: character %d fails its parity", ErrFASCN, i+1)
		}
		chars[i] = c & 0x0F
	}
	var lrc byte
	digits := make([]byte, 0, FASCNDigits)
	for i, want := range fascnLayout {
		c := chars[i]
		lrc ^= c
		switch {
		case want != 0 && c != want:
			return FASCN{}, fmt.Errorf("%w: character %d is %X, want %X", ErrFASCN, i+1, c, want)
		case want == 0 && c > 9:
			return FASCN{}, fmt.Errorf("%w: character %d is %X, not a digit", ErrFASCN, i+1, c)
		case want == 0:
			digits = append(digits, '0'+c)
		}
	}
	if chars[39] != lrc {
		return FASCN{}, fmt.Errorf("%w: LRC is %X, want %X", ErrFASCN, chars[39], lrc)
	}
	return FASCNFromDigits(string(digits))
}

// FASCNFromDigits splits the 32 digits of a FASC-N, in field order
// (agency, system, credential, CS, ICI, PI, OC, OI, POA), into its fields.
// Dashes and spaces between the digits are ignored.
func FASCNFromDigits(s string) (FASCN, error) {
	s = strings.NewReplacer("-", "", " ", "").Replace(s)
	if len(s) != FASCNDigits || strings.Trim(s, "0123456789") != "" {
		return FASCN{}, fmt.Errorf("%w: %q is not %d digits", ErrFASCN, s, FASCNDigits)
	}
	var f FASCN
	for _, fl := range f.fields() {
		*fl.s, s = s[:fl.n], s[fl.n:]
	}
	return f, nil
}

// Digits returns the 32 digits of f in field order, the form of the
// station's FASC-N serials ("fascn:" and these digits).
func (f FASCN) Digits() string {
	var sb strings.Builder
	for _, fl := range f.fields() {
		sb.WriteString(*fl.s)
	}
	return sb.String()
}

// String returns f's fields separated by dashes, for people.
func (f FASCN) String() string {
	var parts []string
	for _, fl := range f.fields() {
		parts = append(parts, *fl.s)
	}
	return strings.Join(parts, "-")
}

// NonFederal tells whether f is the placeholder that non-federal issuers
// (PIV-I) must write: agency 9999, system 9999, credential 999999 (the
// "14 nines"). Such a FASC-N is shared by many cards; their GUID is
// what identifies them.
func (f FASCN) NonFederal() bool {
	return f.Agency == "9999" && f.System == "9999" && f.Credential == "999999"
}

// Encode returns the 25 bytes of f as a CHUID carries them, with the
// sentinels, separators, parity bits and LRC. It fails when a field does
// not hold exactly its number of digits.
func (f FASCN) Encode() ([]byte, error) {
	for _, fl := range f.fields() {
		if len(*fl.s) != fl.n || strings.Trim(*fl.s, "0123456789") != "" {
			return nil, fmt.Errorf("%w: field %q is not %d digits", ErrFASCN, *fl.s, fl.n)
		}
	}
	digits := f.Digits()
	var chars [40]byte
	var lrc byte
	for i, c := range fascnLayout {
		if c == 0 {
			c, digits = digits[0]-'0', digits[1:]
		}
		chars[i] = c
		lrc ^= c
	}
	chars[39] = lrc
	out := make([]byte, FASCNSize)
	for i, c := range chars {
		if bits.OnesCount8(c)%2 == 0 {
			c |= 0x10 // odd parity
		}
		for j := range 5 {
			pos := 5*i + j
			out[pos/8] |= (c >> j & 1) << (7 - pos%8)
		}
	}
	return out, nil
}
