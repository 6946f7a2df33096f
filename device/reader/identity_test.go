package reader

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTLV(t *testing.T) {
	long := bytes.Repeat([]byte{0xAB}, 300)
	tests := []struct {
		name    string
		in      []byte
		want    []TLV
		wantErr bool
	}{
		{name: "empty", in: nil},
		{name: "one short", in: unhex(t, "34 02 AA BB"), want: []TLV{{0x34, unhex(t, "AABB")}}},
		{name: "two-byte tag", in: unhex(t, "5F 24 01 00"), want: []TLV{{0x5F24, []byte{0}}}},
		{name: "three-byte tag", in: unhex(t, "5F C1 02 01 07"), want: []TLV{{0x5FC102, []byte{7}}}},
		{name: "81 length", in: append(unhex(t, "53 81 03"), 1, 2, 3), want: []TLV{{0x53, []byte{1, 2, 3}}}},
		{name: "82 length", in: append(unhex(t, "53 82 01 2C"), long...), want: []TLV{{0x53, long}}},
		{name: "padding skipped", in: unhex(t, "00 FF 34 01 01 00"), want: []TLV{{0x34, []byte{1}}}},
		{name: "zero length", in: unhex(t, "3E 00 FE 00"), want: []TLV{{0x3E, []byte{}}, {0xFE, []byte{}}}},
		{name: "value cut short", in: unhex(t, "34 10 AA"), wantErr: true},
		{name: "length missing", in: unhex(t, "34"), wantErr: true},
		{name: "indefinite length", in: unhex(t, "34 80 00 00"), wantErr: true},
		{name: "length of five bytes", in: unhex(t, "34 85 00 00 00 00 01 AA"), wantErr: true},
		{name: "long length cut", in: unhex(t, "34 82 01"), wantErr: true},
		{name: "huge length", in: unhex(t, "34 84 7F FF FF FF"), wantErr: true},
		{name: "tag cut short", in: unhex(t, "5F"), wantErr: true},
		{name: "tag too long", in: unhex(t, "5F 81 82 83 01 00"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTLV(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrTLV) {
					t.Fatalf("ParseTLV = %v, %v; want ErrTLV", got, err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("ParseTLV = %v, %v; want %v", got, err, tt.want)
			}
			for i := range got {
				if got[i].Tag != tt.want[i].Tag || !bytes.Equal(got[i].Value, tt.want[i].Value) {
					t.Fatalf("object %d = %X %X; want %X %X", i, got[i].Tag, got[i].Value, tt.want[i].Tag, tt.want[i].Value)
				}
			}
		})
	}
}

func TestAppendTLVRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 127, 128, 255, 256, 70000} {
		for _, tag := range []uint32{0x53, 0x5F24, 0x5FC102} {
			v := bytes.Repeat([]byte{0x5A}, n)
			objs, err := ParseTLV(AppendTLV(nil, tag, v))
			if err != nil || len(objs) != 1 || objs[0].Tag != tag || !bytes.Equal(objs[0].Value, v) {
				t.Fatalf("tag %X, %d bytes: %v %v", tag, n, objs, err)
			}
		}
	}
}

// chuid builds a CHUID object around a GUID field, with an all-zero
// (invalid) FASC-N.
func chuid(guidField []byte) []byte {
	return chuidWith(make([]byte, 25), guidField)
}

// chuidWith builds a CHUID object; a nil field is left out.
func chuidWith(fascn, guidField []byte) []byte {
	var c []byte
	if fascn != nil {
		c = AppendTLV(c, 0x30, fascn)
	}
	if guidField != nil {
		c = AppendTLV(c, 0x34, guidField)
	}
	c = AppendTLV(c, 0x35, []byte("20301231"))
	c = AppendTLV(c, 0x3E, nil)
	c = AppendTLV(c, 0xFE, nil)
	return AppendTLV(nil, 0x53, c)
}

// fed7099 is a valid federal FASC-N (see TestEncodeFASCNSecondVector).
const (
	fed7099       = "D70339DA08C92D0464956DA1685830464956F05380424443EB"
	fed7099Serial = "fascn:70991234123456110123456789100421"
)

func TestParseCHUID(t *testing.T) {
	g := unhex(t, "bc88f13f83ba4037826246eba1291c6e")
	fascn := unhex(t, fed7099)
	tests := []struct {
		name      string
		in        []byte
		wantGUID  string
		wantFASCN []byte
		err       error
	}{
		{"guid and fasc-n", chuidWith(fascn, g), "bc88f13f-83ba-4037-8262-46eba1291c6e", fascn, nil},
		{"all-zero guid", chuidWith(fascn, make([]byte, 16)), "00000000-0000-0000-0000-000000000000", fascn, nil},
		{"no guid", chuidWith(fascn, nil), "00000000-0000-0000-0000-000000000000", fascn, nil},
		{"short guid", chuidWith(fascn, g[:8]), "00000000-0000-0000-0000-000000000000", fascn, nil},
		{"no fasc-n", chuidWith(nil, g), "bc88f13f-83ba-4037-8262-46eba1291c6e", nil, nil},
		{"not a CHUID", AppendTLV(nil, 0x7E, nil), "", nil, ErrTLV},
		{"garbage", []byte{0x53, 0x05, 0x34}, "", nil, ErrTLV},
		{"garbage inside", []byte{0x53, 0x02, 0x34, 0x05}, "", nil, ErrTLV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCHUID(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseCHUID = %+v, %v; want %v", got, err, tt.err)
				}
				return
			}
			if err != nil || got.GUID.String() != tt.wantGUID || !bytes.Equal(got.FASCN, tt.wantFASCN) {
				t.Fatalf("ParseCHUID = %+v, %v; want GUID %s, FASC-N %X", got, err, tt.wantGUID, tt.wantFASCN)
			}
		})
	}
}

// TestReadIdentity runs the identity read against cards that answer the
// PIV read and the UID request in every way the rules tell apart.
func TestReadIdentity(t *testing.T) {
	g := unhex(t, "bc88f13f83ba4037826246eba1291c6e")
	fed, nist := unhex(t, fed7099), unhex(t, nistFASCN)
	badLRC := bytes.Clone(fed)
	badLRC[24] ^= 0x18 // an LRC bit and its parity: only the LRC is wrong
	var (
		noPIV = "6A82"
		noUID = "6A81"
	)
	ok := func(b []byte) string { return hex.EncodeToString(b) + "9000" }
	tests := []struct {
		name       string
		chuid, uid string // answers to GET DATA (CHUID) and to GET DATA (UID); "" = not asked
		want       Identity
	}{
		{"guid", ok(chuidWith(fed, g)), "", Identity{Kind: KindPIV, Serial: "{bc88f13f-83ba-4037-8262-46eba1291c6e}"}},
		{"guid, invalid fasc-n", ok(chuid(g)), "", Identity{Kind: KindPIV, Serial: "{bc88f13f-83ba-4037-8262-46eba1291c6e}"}},
		{"guid, the non-federal fasc-n", ok(chuidWith(nist, g)), "", Identity{Kind: KindPIV, Serial: "{bc88f13f-83ba-4037-8262-46eba1291c6e}"}},
		{"zero guid, fasc-n", ok(chuidWith(fed, make([]byte, 16))), "", Identity{Kind: KindFASCN, Serial: fed7099Serial}},
		{"absent guid, fasc-n", ok(chuidWith(fed, nil)), "", Identity{Kind: KindFASCN, Serial: fed7099Serial}},
		{"short guid, fasc-n", ok(chuidWith(fed, g[:8])), "", Identity{Kind: KindFASCN, Serial: fed7099Serial}},
		{"zero guid, invalid fasc-n", ok(chuid(make([]byte, 16))), noUID, Identity{Kind: KindUnknown, Reason: ReasonCHUIDNoID}},
		{"zero guid, fasc-n with a bad LRC", ok(chuidWith(badLRC, make([]byte, 16))), noUID, Identity{Kind: KindUnknown, Reason: ReasonCHUIDNoID}},
		{"zero guid, fasc-n of 24 bytes", ok(chuidWith(fed[:24], make([]byte, 16))), noUID, Identity{Kind: KindUnknown, Reason: ReasonCHUIDNoID}},
		{"no guid, no fasc-n", ok(chuidWith(nil, nil)), noUID, Identity{Kind: KindUnknown, Reason: ReasonCHUIDNoID}},
		{"zero guid, the non-federal fasc-n", ok(chuidWith(nist, make([]byte, 16))), noUID, Identity{Kind: KindUnknown, Reason: ReasonCHUIDPIVI}},
		{"zero guid, invalid fasc-n, fixed UID", ok(chuid(make([]byte, 16))), ok(unhex(t, "04A224B2C35E80")), Identity{Kind: KindUID, Serial: "04A224B2C35E80"}},
		{"no PIV, 7-byte UID", noPIV, ok(unhex(t, "04A224B2C35E80")), Identity{Kind: KindUID, Serial: "04A224B2C35E80"}},
		{"no PIV, 4-byte fixed UID", noPIV, ok(unhex(t, "A1B2C3D4")), Identity{Kind: KindUID, Serial: "A1B2C3D4"}},
		{"no PIV, 4-byte UID of 08 in its last byte", noPIV, ok(unhex(t, "A1B2C308")), Identity{Kind: KindUID, Serial: "A1B2C308"}},
		{"no PIV, 7-byte UID starting 08", noPIV, ok(unhex(t, "08A224B2C35E80")), Identity{Kind: KindUID, Serial: "08A224B2C35E80"}},
		{"no PIV, random UID", noPIV, ok(unhex(t, "08A224B2")), Identity{Kind: KindUnknown, Reason: ReasonRandomUID}},
		{"bad CHUID, random UID", ok(chuid(nil)), ok(unhex(t, "083F0001")), Identity{Kind: KindUnknown, Reason: ReasonRandomUID}},
		{"no PIV, no UID", noPIV, noUID, Identity{Kind: KindUnknown, Reason: ReasonNoIdentifier}},
		{"no PIV, empty UID", noPIV, "9000", Identity{Kind: KindUnknown, Reason: ReasonNoIdentifier}},
		{"no PIV, UID of 17 bytes", noPIV, ok(make([]byte, 17)), Identity{Kind: KindUnknown, Reason: ReasonNoIdentifier}},
		{"not a CHUID", ok(AppendTLV(nil, 0x7E, nil)), noUID, Identity{Kind: KindUnknown, Reason: ReasonNoIdentifier}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := [][2]string{{hex.EncodeToString(selectPIV), "9000"}}
			if tt.chuid == noPIV {
				steps[0][1] = noPIV
			} else {
				steps = append(steps, [2]string{hex.EncodeToString(getCHUID), tt.chuid})
			}
			if tt.uid != "" {
				steps = append(steps, [2]string{hex.EncodeToString(getUID), tt.uid})
			}
			s := &script{t: t, steps: steps}
			got, err := ReadIdentity(s)
			if err != nil || got != tt.want {
				t.Fatalf("ReadIdentity = %+v, %v; want %+v", got, err, tt.want)
			}
			if len(s.steps) != 0 {
				t.Fatalf("%d exchanges left unsent", len(s.steps))
			}
		})
	}
}

func TestIsRandomUID(t *testing.T) {
	for _, tt := range []struct {
		uid  string
		want bool
	}{{"08000000", true}, {"08FFFFFF", true}, {"08A224B2", true}, {"18A224B2", false}, {"88A224B2", false},
		{"04A224B2", false}, {"08A224B2C35E80", false}, {"08", false}, {"", false}} {
		if got := IsRandomUID(unhex(t, tt.uid)); got != tt.want {
			t.Errorf("IsRandomUID(%s) = %v; want %v", tt.uid, got, tt.want)
		}
	}
}

func TestIdentityJSON(t *testing.T) {
	for _, tt := range []struct {
		id   Identity
		want string
	}{
		{Identity{Kind: KindFASCN, Serial: fed7099Serial}, `{"kind":"fascn","serial":"` + fed7099Serial + `"}`},
		{Identity{Kind: KindUnknown, Reason: ReasonRandomUID}, `{"kind":"unknown","reason":"random UID: a new one at every tap"}`},
	} {
		b, err := json.Marshal(tt.id)
		if err != nil || string(b) != tt.want {
			t.Errorf("json.Marshal(%+v) = %s, %v; want %s", tt.id, b, err, tt.want)
		}
	}
}

// script is a card that answers a fixed list of exchanges in order.
type script struct {
	t     *testing.T
	steps [][2]string // command, response (hex)
	err   error       // returned once the steps are used up, if set
}

func (s *script) Transmit(apdu []byte) ([]byte, error) {
	if len(s.steps) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		s.t.Fatalf("unexpected APDU %X", apdu)
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	if want := unhex(s.t, step[0]); !bytes.Equal(apdu, want) {
		s.t.Fatalf("APDU %X, want %X", apdu, want)
	}
	return unhex(s.t, step[1]), nil
}

func TestExchange(t *testing.T) {
	const sel = "00A4040005A000000308"
	tests := []struct {
		name  string
		steps [][2]string
		want  string
		sw    uint16
	}{
		{"plain", [][2]string{{sel, "AABB9000"}}, "AABB", 0},
		{"61xx chain", [][2]string{{sel, "AA6102"}, {"00C0000002", "BBCC6101"}, {"00C0000001", "DD9000"}}, "AABBCCDD", 0},
		{"6Cxx resend", [][2]string{{"00CA000000", "6C04"}, {"00CA000004", "010203049000"}}, "01020304", 0},
		{"refusal", [][2]string{{sel, "6A82"}}, "", 0x6A82},
		{"6Cxx twice is a refusal", [][2]string{{"00CA000000", "6C04"}, {"00CA000004", "6C05"}}, "", 0x6C05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{t: t, steps: tt.steps}
			got, err := Exchange(s, unhex(t, tt.steps[0][0]))
			var se StatusError
			switch {
			case tt.sw != 0 && (!errors.As(err, &se) || se.SW != tt.sw):
				t.Fatalf("Exchange = %X, %v; want status %04X", got, err, tt.sw)
			case tt.sw == 0 && (err != nil || hex.EncodeToString(got) != strings.ToLower(tt.want)):
				t.Fatalf("Exchange = %X, %v; want %s", got, err, tt.want)
			}
			if len(s.steps) != 0 {
				t.Fatalf("%d exchanges left unsent", len(s.steps))
			}
		})
	}
}

func TestExchangeEndlessChain(t *testing.T) {
	card := transmitFunc(func([]byte) ([]byte, error) { return []byte{0x61, 0x01}, nil })
	if _, err := Exchange(card, []byte{0x00, 0xCA, 0x00, 0x00, 0x00}); err == nil || !strings.Contains(err.Error(), "61xx") {
		t.Fatalf("Exchange on an endless chain = %v", err)
	}
}

type transmitFunc func([]byte) ([]byte, error)

func (f transmitFunc) Transmit(apdu []byte) ([]byte, error) { return f(apdu) }

func TestReadIdentityErrors(t *testing.T) {
	gone := errors.New("card removed")
	// A card pulled after SELECT: the error is passed on, not taken for "unknown".
	s := &script{t: t, steps: [][2]string{{hex.EncodeToString(selectPIV), "9000"}}, err: gone}
	if id, err := ReadIdentity(s); !errors.Is(err, gone) {
		t.Fatalf("ReadIdentity of a pulled card = %+v, %v; want the transmit error", id, err)
	}
	// A card whose answers are too short is unknown, not an error storm.
	short := transmitFunc(func([]byte) ([]byte, error) { return []byte{0x90}, nil })
	if _, err := ReadIdentity(short); err == nil {
		t.Fatal("ReadIdentity accepted a one-byte answer")
	}
}

// FuzzParseTLV: never panics, and what it parses re-encodes to objects
// that parse to the same tags and values.
func FuzzParseTLV(f *testing.F) {
	f.Add(chuid(bytes.Repeat([]byte{1}, 16)))
	f.Add([]byte{0x53, 0x82, 0x00, 0x02, 0x34, 0x00})
	f.Add([]byte{0x5F, 0xC1, 0x02, 0x81, 0x01, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := ParseTLV(b)
		if err != nil {
			return
		}
		var again []byte
		for _, o := range objs {
			again = AppendTLV(again, o.Tag, o.Value)
		}
		objs2, err := ParseTLV(again)
		if err != nil || len(objs2) != len(objs) {
			t.Fatalf("re-encoded %X does not parse back: %v", again, err)
		}
	})
}

// FuzzReadIdentity feeds arbitrary card answers to the identity read: it
// must end, never panic, and name a card only with a well-formed serial.
func FuzzReadIdentity(f *testing.F) {
	f.Add([]byte{0x90, 0x00}, chuid(bytes.Repeat([]byte{7}, 16)), []byte{0x6A, 0x82})
	f.Add([]byte{0x6A, 0x82}, []byte{0x6A, 0x82}, []byte{0x04, 0xA2, 0x90, 0x00})
	f.Add([]byte{0x61, 0x05}, []byte{0x6C, 0x10}, []byte{})
	f.Add([]byte{0x90, 0x00}, chuidWith(unhex(f, fed7099), make([]byte, 16)), []byte{0x6A, 0x82})
	f.Add([]byte{0x90, 0x00}, chuidWith(unhex(f, nistFASCN), nil), []byte{0x08, 0x01, 0x02, 0x03, 0x90, 0x00})
	f.Fuzz(func(t *testing.T, selectResp, dataResp, uidResp []byte) {
		n := 0
		card := transmitFunc(func(apdu []byte) ([]byte, error) {
			n++
			if n > 3*maxChained {
				t.Fatal("the identity read does not end")
			}
			switch apdu[1] {
			case 0xA4:
				return selectResp, nil
			case 0xCB:
				return append(append([]byte{}, dataResp...), 0x90, 0x00), nil
			case 0xCA:
				return uidResp, nil
			}
			return selectResp, nil
		})
		id, err := ReadIdentity(card)
		if err != nil {
			return
		}
		switch id.Kind {
		case KindPIV:
			if len(id.Serial) != 38 {
				t.Fatalf("PIV serial %q", id.Serial)
			}
		case KindUID:
			if id.Serial == "" || strings.ToUpper(id.Serial) != id.Serial {
				t.Fatalf("UID serial %q", id.Serial)
			}
		case KindFASCN:
			if len(id.Serial) != len("fascn:")+FASCNDigits || !strings.HasPrefix(id.Serial, "fascn:") || strings.Trim(id.Serial[6:], "0123456789") != "" {
				t.Fatalf("FASC-N serial %q", id.Serial)
			}
		case KindUnknown:
			if id.Serial != "" || id.Reason == "" {
				t.Fatalf("unknown card with serial %q, reason %q", id.Serial, id.Reason)
			}
		default:
			t.Fatalf("kind %q", id.Kind)
		}
	})
}
