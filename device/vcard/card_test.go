package vcard

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage/guid"
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
	tests := []struct {
		name string
		card Card
		want reader.Identity
	}{
		{"piv", &PIV{GUID: g}, reader.Identity{Kind: reader.KindPIV, Serial: "{bc88f13f-83ba-4037-8262-46eba1291c6e}"}},
		{"piv without GUID", &PIV{}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonCHUIDNoID}},
		{"contactless", &Contactless{UID: []byte{0x04, 0xA2, 0x24, 0xB2}}, reader.Identity{Kind: reader.KindUID, Serial: "04A224B2"}},
		{"atr only", ATROnly{}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonNoIdentifier}},
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
