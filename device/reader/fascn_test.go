package reader

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// nistFASCN is NIST's test FASC-N: SS 9999 FS 9999 FS 999999 FS 0 FS 1 FS
// 0000000000 3 0000 1 ES LRC, the non-federal issuers' form.
const nistFASCN = "D4E739DA739CED39CE739D836858210842108421C84210C3EB"

func TestParseFASCNKnownVector(t *testing.T) {
	f, err := ParseFASCN(unhex(t, nistFASCN))
	if err != nil {
		t.Fatal(err)
	}
	want := FASCN{Agency: "9999", System: "9999", Credential: "999999", CS: "0", ICI: "1", PI: "0000000000", OC: "3", OI: "0000", POA: "1"}
	if f != want {
		t.Fatalf("ParseFASCN = %+v; want %+v", f, want)
	}
	if got := f.Digits(); got != "99999999999999010000000000300001" {
		t.Fatalf("Digits = %s", got)
	}
	if got := f.String(); got != "9999-9999-999999-0-1-0000000000-3-0000-1" {
		t.Fatalf("String = %s", got)
	}
	if !f.NonFederal() {
		t.Fatal("the 14 nines are not taken for the non-federal placeholder")
	}
	b, err := f.Encode()
	if err != nil || !bytes.Equal(b, unhex(t, nistFASCN)) {
		t.Fatalf("Encode = %X, %v; want %s", b, err, nistFASCN)
	}
}

// TestEncodeFASCNSecondVector checks the encoder against a FASC-N of a
// federal form worked out by hand (with an independent encoder).
func TestEncodeFASCNSecondVector(t *testing.T) {
	f, err := FASCNFromDigits("7099-1234-123456-1-1-0123456789-1-0042-1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Encode()
	if want := unhex(t, "D70339DA08C92D0464956DA1685830464956F05380424443EB"); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("Encode = %X, %v; want %X", b, err, want)
	}
	if f.NonFederal() {
		t.Fatal("agency 7099 taken for the non-federal placeholder")
	}
}

func TestFASCNRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		d := make([]byte, FASCNDigits)
		for i := range d {
			d[i] = '0' + byte(r.IntN(10))
		}
		f, err := FASCNFromDigits(string(d))
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.Encode()
		if err != nil || len(b) != FASCNSize {
			t.Fatalf("Encode(%s) = %X, %v", d, b, err)
		}
		back, err := ParseFASCN(b)
		if err != nil || back != f || back.Digits() != string(d) {
			t.Fatalf("ParseFASCN(Encode(%s)) = %+v, %v", d, back, err)
		}
	}
}

func TestParseFASCNRefuses(t *testing.T) {
	good := unhex(t, nistFASCN)
	flip := func(bit int) []byte {
		b := bytes.Clone(good)
		b[bit/8] ^= 0x80 >> (bit % 8)
		return b
	}
	// with changes one character of the NIST FASC-N and makes its parity
	// bits and LRC right again, so only the character itself is wrong.
	with := func(i int, c byte) []byte {
		chars := fascnLayout
		chars[i] = c
		return encodeChars(chars)
	}
	// staleLRC changes the last digit (POA), with its parity right, and
	// keeps the old LRC.
	staleLRC := func() []byte {
		f, _ := ParseFASCN(good)
		f.POA = "5"
		b, _ := f.Encode()
		b[FASCNSize-1] = good[FASCNSize-1] // ES (its last 3 bits) and LRC
		b[FASCNSize-2] = b[FASCNSize-2]&^0x03 | good[FASCNSize-2]&0x03
		return b
	}
	tests := []struct {
		name string
		in   []byte
		why  string
	}{
		{"empty", nil, "0 bytes"},
		{"short", good[:24], "24 bytes"},
		{"long", append(bytes.Clone(good), 0), "26 bytes"},
		{"the old virtual card's D4 and zeros", append([]byte{0xD4}, make([]byte, 24)...), "character 3 fails its parity"},
		{"all zero", make([]byte, 25), "character 1 fails its parity"},
		{"parity of the start sentinel", flip(4), "character 1 fails its parity"},
		{"a data bit of the agency", flip(5), "character 2 fails its parity"},
		{"a data bit of the LRC", flip(196), "character 40 fails its parity"},
		{"the LRC's parity", flip(199), "character 40 fails its parity"},
		{"a digit changed, parity right, LRC stale", staleLRC(), "LRC is"},
		{"no start sentinel", with(0, 0), "character 1 is 0, want B"},
		{"a separator in the agency code", with(1, fascnFS), "character 2 is D, not a digit"},
		{"a digit for a separator", with(5, 7), "character 6 is 7, want D"},
		{"an end sentinel too soon", with(37, fascnES), "character 38 is F, not a digit"},
		{"no end sentinel", with(38, fascnFS), "character 39 is D, want F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFASCN(tt.in)
			if !errors.Is(err, ErrFASCN) || !strings.Contains(err.Error(), tt.why) {
				t.Fatalf("ParseFASCN(%X) = %+v, %v; want ErrFASCN, %s", tt.in, f, err, tt.why)
			}
		})
	}
}

// encodeChars packs 39 characters and their LRC with right parity bits,
// to build FASC-Ns that are wrong in their characters only.
func encodeChars(c [39]byte) []byte {
	var all [40]byte
	copy(all[:], c[:])
	for _, x := range c {
		all[39] ^= x
	}
	out := make([]byte, FASCNSize)
	for i, x := range all {
		x &= 0x0F
		if (x>>0^x>>1^x>>2^x>>3)&1 == 0 {
			x |= 0x10
		}
		for j := range 5 {
			pos := 5*i + j
			out[pos/8] |= (x >> j & 1) << (7 - pos%8)
		}
	}
	return out
}

func TestFASCNDigitsRefused(t *testing.T) {
	for _, s := range []string{"", "123", "9999999999999901000000000030000", "999999999999990100000000003000011", "9999999999999901000000000030000x"} {
		if _, err := FASCNFromDigits(s); !errors.Is(err, ErrFASCN) {
			t.Errorf("FASCNFromDigits(%q) = %v; want ErrFASCN", s, err)
		}
	}
	if f, err := FASCNFromDigits("9999-9999-999999-0-1-0000000000-3-0000-1"); err != nil || f.Digits() != "99999999999999010000000000300001" {
		t.Errorf("dashed digits: %+v, %v", f, err)
	}
	for _, f := range []FASCN{{}, {Agency: "12345", System: "0000", Credential: "000000", CS: "0", ICI: "0", PI: "0000000000", OC: "0", OI: "0000", POA: "0"},
		{Agency: "12a4", System: "0000", Credential: "000000", CS: "0", ICI: "0", PI: "0000000000", OC: "0", OI: "0000", POA: "0"}} {
		if b, err := f.Encode(); !errors.Is(err, ErrFASCN) {
			t.Errorf("Encode(%+v) = %X, %v; want ErrFASCN", f, b, err)
		}
	}
}

// FuzzFASCN: ParseFASCN never panics, and what it accepts encodes back to
// the very same bytes (every bit of a FASC-N follows from its digits).
func FuzzFASCN(f *testing.F) {
	f.Add(unhex(f, nistFASCN))
	f.Add(append([]byte{0xD4}, make([]byte, 24)...))
	f.Add(make([]byte, 25))
	f.Fuzz(func(t *testing.T, b []byte) {
		fn, err := ParseFASCN(b)
		if err != nil {
			if !errors.Is(err, ErrFASCN) {
				t.Fatalf("ParseFASCN error %v is not ErrFASCN", err)
			}
			return
		}
		again, err := fn.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("ParseFASCN(%X) = %+v, which encodes to %X, %v", b, fn, again, err)
		}
		if len(fn.Digits()) != FASCNDigits {
			t.Fatalf("digits %q", fn.Digits())
		}
	})
}
