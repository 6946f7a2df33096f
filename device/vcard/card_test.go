package vcard

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPIVAnswers checks the virtual PIV card's status words, APDU by APDU.
func TestPIVAnswers(t *testing.T) {
	g, _ := guid.Parse("bc88f13f-83ba-4037-8262-46eba1291c6e")
	card := &PIV{GUID: g}
	steps := []struct {
		name, apdu, wantSW string
	}{
		{"GET DATA before SELECT", "00CB3FFF055C035FC10200", "6985"},
		{"SELECT other AID", "00A4040005A000000397", "6A82"},
		{"SELECT with bad P1", "00A4000005A000000308", "6A86"},
		{"SELECT short PIV AID", "00A4040005A000000308", "9000"},
		{"GET DATA discovery object", "00CB3FFF035C017E00", "6A82"},
		{"GET DATA CHUID", "00CB3FFF055C035FC10200", "9000"},
		{"GET DATA bad P1P2", "00CB0000055C035FC10200", "6A86"},
		{"VERIFY unsupported", "0020008000", "6D00"},
		{"proprietary class", "FFCA000000", "6E00"},
		{"too short", "00A4", "6700"},
	}
	for _, st := range steps {
		if st.wantSW == "" {
			continue
		}
		resp := card.Process(unhex(t, st.apdu))
		if sw := hex.EncodeToString(resp[len(resp)-2:]); !bytes.EqualFold([]byte(sw), []byte(st.wantSW)) {
			t.Errorf("%s: status %s, want %s", st.name, sw, st.wantSW)
		}
	}
	card.Reset()
	if sw := card.Process(unhex(t, "00CB3FFF055C035FC10200")); !bytes.Equal(sw, swNotAllowed) {
		t.Errorf("GET DATA after reset = %X, want 6985: the selection must not survive a reset", sw)
	}
}

// transmitter lets the reader's identity code talk to a card in process.
type transmitter struct{ card Card }

func (tr transmitter) Transmit(apdu []byte) ([]byte, error) { return tr.card.Process(apdu), nil }

func TestIdentityOfEachCard(t *testing.T) {
	g, _ := guid.Parse("BC88F13F-83BA-4037-8262-46EBA1291C6E")
	fed, _ := reader.FASCNFromDigits("7099-1234-123456-1-1-0123456789-1-0042-1")
	fedBytes, _ := fed.Encode()
	nist, _ := reader.FASCNFromDigits("9999-9999-999999-0-1-0000000000-3-0000-1")
	nistBytes, _ := nist.Encode()
	pivG := reader.Identity{Kind: reader.KindPIV, Serial: "{bc88f13f-83ba-4037-8262-46eba1291c6e}"}
	byFASCN := reader.Identity{Kind: reader.KindFASCN, Serial: "fascn:70991234123456110123456789100421"}
	tests := []struct {
		name string
		card Card
		want reader.Identity
	}{
		{"piv", &PIV{GUID: g}, pivG},
		{"piv, its FASC-N given", &PIV{GUID: g, FASCN: fedBytes}, pivG},
		{"piv, zero GUID, FASC-N given", &PIV{FASCN: fedBytes}, byFASCN},
		{"piv, zero GUID, derived FASC-N", &PIV{}, reader.Identity{Kind: reader.KindFASCN, Serial: "fascn:" + DerivedFASCN(guid.Nil).Digits()}},
		{"piv, zero GUID, invalid FASC-N", &PIV{FASCN: append([]byte{0xD4}, make([]byte, 24)...)}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonCHUIDNoID}},
		{"piv, zero GUID, non-federal FASC-N", &PIV{FASCN: nistBytes}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonCHUIDPIVI}},
		{"piv, CHUID of 2500 bytes", &PIV{GUID: g, CHUIDSize: 2500}, pivG},
		{"piv, zero GUID, CHUID of 3000 bytes", &PIV{FASCN: fedBytes, CHUIDSize: 3000}, byFASCN},
		{"piv over T=0", &T0{Card: &PIV{GUID: g}}, pivG},
		{"piv over T=0, CHUID of 2500 bytes", &T0{Card: &PIV{GUID: g, CHUIDSize: 2500}}, pivG},
		{"contactless", &Contactless{UID: []byte{0x04, 0xA2, 0x24, 0xB2}}, reader.Identity{Kind: reader.KindUID, Serial: "04A224B2"}},
		{"contactless over T=0", &T0{Card: &Contactless{UID: []byte{0x04, 0xA2, 0x24, 0xB2}}}, reader.Identity{Kind: reader.KindUID, Serial: "04A224B2"}},
		{"random UID", &Contactless{RandomUID: true}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonRandomUID}},
		{"atr only", ATROnly{}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonNoIdentifier}},
		{"atr only over T=0", &T0{Card: ATROnly{}}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonNoIdentifier}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := reader.ReadIdentity(transmitter{tt.card})
			if err != nil || got != tt.want {
				t.Fatalf("ReadIdentity = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestDerivedFASCN(t *testing.T) {
	for range 200 {
		g := guid.New()
		f := DerivedFASCN(g)
		b, err := f.Encode()
		if err != nil {
			t.Fatal(err)
		}
		back, err := reader.ParseFASCN(b)
		if err != nil || back != f || f.NonFederal() || f.OC < "1" || f.OC > "4" || f.POA < "1" || f.POA > "7" {
			t.Fatalf("DerivedFASCN(%s) = %+v: %v", g, f, err)
		}
		if DerivedFASCN(g) != f {
			t.Fatal("DerivedFASCN is not the same for the same GUID")
		}
	}
	if DerivedFASCN(guid.New()) == DerivedFASCN(guid.New()) {
		t.Fatal("two GUIDs, one FASC-N")
	}
}

func TestCHUIDSize(t *testing.T) {
	for _, size := range []int{0, 100, 200, 300, 2000, 2500, 3000, 3395} {
		c := (&PIV{GUID: guid.New(), CHUIDSize: size}).CHUID()
		if size > 100 && len(c) != size || size <= 100 && len(c) > 100 {
			t.Errorf("CHUIDSize %d: the CHUID is %d bytes", size, len(c))
		}
		if _, err := reader.ParseCHUID(c); err != nil {
			t.Errorf("CHUIDSize %d: %v", size, err)
		}
	}
}

// exchange runs one step of a card conversation and checks the answer.
func exchange(t *testing.T, card Card, apdu string, wantLen int, wantSW string) []byte {
	t.Helper()
	resp := card.Process(unhex(t, apdu))
	if len(resp) < 2 {
		t.Fatalf("%s: answer %X", apdu, resp)
	}
	if sw := hex.EncodeToString(resp[len(resp)-2:]); len(resp)-2 != wantLen || sw != wantSW {
		t.Fatalf("%s: %d bytes and %s; want %d bytes and %s", apdu, len(resp)-2, sw, wantLen, wantSW)
	}
	return resp[:len(resp)-2]
}

// TestPIVChaining: a CHUID of 600 bytes comes as 256 + 61 00, 256 + 61 58,
// 88 + 90 00, as a card answering short APDUs gives it.
func TestPIVChaining(t *testing.T) {
	card := &PIV{GUID: guid.New(), CHUIDSize: 600}
	want := card.CHUID()
	exchange(t, card, "00A4040005A000000308", len(card.propertyTemplate()), "9000")
	exchange(t, card, "00C0000000", 0, "6985") // nothing pending
	var got []byte
	got = append(got, exchange(t, card, "00CB3FFF055C035FC10200", 256, "6100")...)
	got = append(got, exchange(t, card, "00C0000000", 256, "6158")...)
	got = append(got, exchange(t, card, "00C0000010", 16, "6148")...) // a shorter Le takes less
	got = append(got, exchange(t, card, "00C0000048", 72, "9000")...)
	if !bytes.Equal(got, want) {
		t.Fatal("the chained CHUID differs from the card's")
	}
	exchange(t, card, "00C0000000", 0, "6985")
	// Another command drops what was pending.
	exchange(t, card, "00CB3FFF055C035FC10200", 256, "6100")
	exchange(t, card, "00CB3FFF035C017E00", 0, "6a82")
	exchange(t, card, "00C0000000", 0, "6985")
	// So does a reset.
	exchange(t, card, "00A4040005A000000308", len(card.propertyTemplate()), "9000")
	exchange(t, card, "00CB3FFF055C035FC10200", 256, "6100")
	card.Reset()
	exchange(t, card, "00C0000000", 0, "6985")
}

// TestT0: the T=0 card answers 61 xx to commands with data, 6C xx to a
// case 2 command with the wrong Le, and gives its data in GET RESPONSE.
func TestT0(t *testing.T) {
	piv := &PIV{GUID: guid.New(), CHUIDSize: 300}
	card := &T0{Card: piv}
	if atr := card.ATR(); !bytes.Equal(atr, []byte{0x3B, 0x80, 0x00}) {
		t.Fatalf("ATR %X", atr)
	}
	n := len(piv.propertyTemplate())
	exchange(t, card, "00A4040005A00000030800", 0, hex.EncodeToString([]byte{0x61, byte(n)}))
	exchange(t, card, "00C0000000", 0, hex.EncodeToString([]byte{0x6C, byte(n)})) // wrong Le
	exchange(t, card, hex.EncodeToString([]byte{0x00, 0xC0, 0x00, 0x00, byte(n)}), n, "9000")
	exchange(t, card, "00C0000000", 0, "6985")
	exchange(t, card, "00CB3FFF055C035FC10200", 0, "6100")
	var got []byte
	got = append(got, exchange(t, card, "00C0000000", 256, "612c")...)
	exchange(t, card, "00C0000000", 0, "6c2c")
	got = append(got, exchange(t, card, "00C000002C", 44, "9000")...)
	if !bytes.Equal(got, piv.CHUID()) {
		t.Fatal("the CHUID over T=0 differs from the card's")
	}
	exchange(t, card, "00CB3FFF035C017E00", 0, "6a82") // refusals pass as they are
	exchange(t, card, "0020008000", 0, "6d00")

	uid := &T0{Card: &Contactless{UID: []byte{1, 2, 3, 4}}}
	exchange(t, uid, "FFCA000000", 0, "6c04")
	exchange(t, uid, "FFCA000004", 4, "9000")
	exchange(t, uid, "FFCA000000", 0, "6c04")
	exchange(t, uid, "00C0000004", 0, "6985") // 6C xx leaves nothing pending
	exchange(t, uid, "FFCA000005", 0, "6c04")
	card.Reset()
	exchange(t, card, "00CB3FFF055C035FC10200", 0, "6985") // the reset reached the PIV card
}

func TestRandomUID(t *testing.T) {
	card := &Contactless{UID: []byte{1, 2, 3, 4}, RandomUID: true}
	seen := map[string]bool{}
	for range 50 {
		card.Reset()
		first := exchange(t, card, "FFCA000000", 4, "9000")
		again := exchange(t, card, "FFCA000000", 4, "9000")
		if !bytes.Equal(first, again) || first[0] != 0x08 || !reader.IsRandomUID(first) {
			t.Fatalf("UIDs %X, %X within one activation", first, again)
		}
		if seen[string(first)] {
			t.Fatalf("UID %X drawn twice", first)
		}
		seen[string(first)] = true
	}
}
