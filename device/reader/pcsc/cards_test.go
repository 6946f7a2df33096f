//go:build cgo

package pcsc_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ebfe/scard"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/reader/pcsc/pcscdtest"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// recorder is a card that notes, on the card side, what pcscd passed it
// and what the card answered: how many commands of each INS, of each
// status byte, and the UIDs it gave.
type recorder struct {
	vcard.Card

	mu   sync.Mutex
	ins  map[byte]int // commands, by INS
	sw1  map[byte]int // answers, by SW1
	uids [][]byte     // data of the answers to GET DATA (UID) that ended 9000
}

func record(c vcard.Card) *recorder {
	return &recorder{Card: c, ins: map[byte]int{}, sw1: map[byte]int{}}
}

func (r *recorder) Process(apdu []byte) []byte {
	resp := r.Card.Process(apdu)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(apdu) >= 2 {
		r.ins[apdu[1]]++
	}
	if len(resp) >= 2 {
		r.sw1[resp[len(resp)-2]]++
		if len(apdu) >= 2 && apdu[0] == 0xFF && apdu[1] == 0xCA && bytes.HasSuffix(resp, []byte{0x90, 0x00}) {
			r.uids = append(r.uids, bytes.Clone(resp[:len(resp)-2]))
		}
	}
	return resp
}

// seen returns the counts so far: GET RESPONSE commands, 61xx and 6Cxx
// answers, and the UIDs given.
func (r *recorder) seen() (getResponse, s61, s6C int, uids [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ins[0xC0], r.sw1[0x61], r.sw1[0x6C], append([][]byte{}, r.uids...)
}

// fascnBytes encodes the FASC-N with these 32 digits.
func fascnBytes(t *testing.T, digits string) []byte {
	t.Helper()
	f, err := reader.FASCNFromDigits(digits)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// insertAndIdentify inserts card into reader 0, expects it identified as
// want with the given ATR, removes it, and expects its removal.
func insertAndIdentify(t *testing.T, events <-chan reader.Event, card vcard.Card, want reader.Identity, atr string) {
	t.Helper()
	in := insert(t, pcscdtest.Addr0, card)
	e := expect(t, events, reader.Inserted)
	if e.Identity != want || e.Reader != pcscdtest.Reader0 || !strings.EqualFold(hexString(e.ATR), atr) || e.Err != "" {
		t.Fatalf("inserted %+v; want identity %+v, ATR %s", e, want, atr)
	}
	in.Remove()
	expect(t, events, reader.Removed)
}

// TestCardsThroughPcscd: the cards the review asked for, each through a
// real pcscd and the vpcd driver: a PIV card known only by its FASC-N, a
// CHUID so long that it needs GET RESPONSE chaining, T=0 cards (61xx and
// 6Cxx), and a card with a random UID, which is no identity.
func TestCardsThroughPcscd(t *testing.T) {
	const fed = "70991234123456110123456789100421"
	events := watch(t, pcscdtest.Reader0)

	t.Run("FASC-N only", func(t *testing.T) {
		card := &vcard.PIV{FASCN: fascnBytes(t, fed)} // GUID all zero
		insertAndIdentify(t, events, card, reader.Identity{Kind: reader.KindFASCN, Serial: "fascn:" + fed}, "3B80800101")
	})

	t.Run("FASC-N only, derived", func(t *testing.T) {
		want := "fascn:" + vcard.DerivedFASCN(guid.Nil).Digits()
		insertAndIdentify(t, events, &vcard.PIV{}, reader.Identity{Kind: reader.KindFASCN, Serial: want}, "3B80800101")
	})

	t.Run("zero GUID and the non-federal FASC-N", func(t *testing.T) {
		card := &vcard.PIV{FASCN: fascnBytes(t, "99999999999999010000000000300001")}
		insertAndIdentify(t, events, card, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonCHUIDPIVI}, "3B80800101")
	})

	t.Run("zero GUID and an invalid FASC-N", func(t *testing.T) {
		card := &vcard.PIV{FASCN: append([]byte{0xD4}, make([]byte, 24)...)}
		insertAndIdentify(t, events, card, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonCHUIDNoID}, "3B80800101")
	})

	t.Run("chained CHUID", func(t *testing.T) {
		g := guid.New()
		piv := &vcard.PIV{GUID: g, CHUIDSize: 2500}
		if n := len(piv.CHUID()); n != 2500 {
			t.Fatalf("the CHUID is %d bytes; want 2500", n)
		}
		card := record(piv)
		insertAndIdentify(t, events, card, reader.Identity{Kind: reader.KindPIV, Serial: "{" + g.String() + "}"}, "3B80800101")
		// 2500 bytes = 256 with the GET DATA, then 9 GET RESPONSEs
		// (8 of 256 bytes, then 196), each but the last ending 61xx.
		if gr, s61, s6C, _ := card.seen(); gr != 9 || s61 != 9 || s6C != 0 {
			t.Fatalf("the card saw %d GET RESPONSEs and answered %d 61xx, %d 6Cxx; want 9, 9, 0", gr, s61, s6C)
		}
	})

	t.Run("T=0 PIV", func(t *testing.T) {
		g := guid.New()
		card := record(&vcard.T0{Card: &vcard.PIV{GUID: g}})
		in := insert(t, pcscdtest.Addr0, card)
		e := expect(t, events, reader.Inserted)
		if want := (reader.Identity{Kind: reader.KindPIV, Serial: "{" + g.String() + "}"}); e.Identity != want || hexString(e.ATR) != "3B8000" {
			t.Fatalf("inserted %+v; want %+v, ATR 3B8000", e, want)
		}
		// SELECT and GET DATA each answered 61xx, their data fetched by
		// GET RESPONSE.
		if gr, s61, s6C, _ := card.seen(); gr != 2 || s61 != 2 || s6C != 0 {
			t.Fatalf("the card saw %d GET RESPONSEs and answered %d 61xx, %d 6Cxx; want 2, 2, 0", gr, s61, s6C)
		}
		if p := protocol(t, pcscdtest.Reader0); p != scard.ProtocolT0 {
			t.Fatalf("pcscd negotiated protocol %d with a T=0-only card; want T=0 (%d)", p, scard.ProtocolT0)
		}
		in.Remove()
		expect(t, events, reader.Removed)
	})

	t.Run("T=0 PIV, chained CHUID", func(t *testing.T) {
		g := guid.New()
		card := record(&vcard.T0{Card: &vcard.PIV{GUID: g, CHUIDSize: 3000}})
		insertAndIdentify(t, events, card, reader.Identity{Kind: reader.KindPIV, Serial: "{" + g.String() + "}"}, "3B8000")
		// SELECT: 61xx, 1 GET RESPONSE. GET DATA: 61 00, then 12 GET
		// RESPONSEs (11 of 256 bytes, then 184), each but the last 61xx.
		if gr, s61, s6C, _ := card.seen(); gr != 13 || s61 != 13 || s6C != 0 {
			t.Fatalf("the card saw %d GET RESPONSEs and answered %d 61xx, %d 6Cxx; want 13, 13, 0", gr, s61, s6C)
		}
	})

	t.Run("T=0 UID, wrong Le", func(t *testing.T) {
		card := record(&vcard.T0{Card: &vcard.Contactless{UID: []byte{0x04, 0xA2, 0x24, 0xB2, 0xC3, 0x5E, 0x80}}})
		insertAndIdentify(t, events, card, reader.Identity{Kind: reader.KindUID, Serial: "04A224B2C35E80"}, "3B8000")
		// GET DATA (UID) with Le 00 gets 6C 07, and is sent again with Le 07.
		if gr, s61, s6C, uids := card.seen(); gr != 0 || s61 != 0 || s6C != 1 || len(uids) != 1 {
			t.Fatalf("the card saw %d GET RESPONSEs and answered %d 61xx, %d 6Cxx, %d UIDs; want 0, 0, 1, 1", gr, s61, s6C, len(uids))
		}
	})

	t.Run("random UID", func(t *testing.T) {
		card := record(&vcard.Contactless{RandomUID: true})
		unknown := reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonRandomUID}
		const atr = "3B8F8001804F0CA000000306030001000000006A"
		insertAndIdentify(t, events, card, unknown, atr)
		insertAndIdentify(t, events, card, unknown, atr) // the same card, tapped again
		_, _, _, uids := card.seen()
		if len(uids) != 2 || bytes.Equal(uids[0], uids[1]) || !reader.IsRandomUID(uids[0]) || !reader.IsRandomUID(uids[1]) {
			t.Fatalf("the card gave the UIDs %s; want two different random ones", fmt.Sprintf("% X", uids))
		}
	})
}

// protocol connects to the card in the reader on a context of its own
// and returns the protocol pcscd negotiated with it.
func protocol(t *testing.T, name string) scard.Protocol {
	t.Helper()
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	card, err := ctx.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		t.Fatalf("connect to %s: %v", name, err)
	}
	defer card.Disconnect(scard.LeaveCard)
	return card.ActiveProtocol()
}
