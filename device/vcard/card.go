// Package vcard is a virtual smartcard that plugs into a real pcscd through
// the vsmartcard vpcd reader driver. Tests and demos use it to insert and
// remove cards without hardware; the reader code cannot tell it from a
// real card, since every APDU goes through pcscd.
package vcard

import (
	"bytes"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage/guid"
)

// Card is the card side of the vpcd protocol.
type Card interface {
	// ATR is the answer to reset, at most 33 bytes.
	ATR() []byte
	// Reset returns the card to its power-on state (no application selected).
	Reset()
	// Process answers one command APDU with a response APDU (data, SW1,
	// SW2). A nil answer pulls the card out there and then, as a person
	// pulling it mid-read would.
	Process(apdu []byte) []byte
}

// Status words the virtual cards answer with.
var (
	swOK             = []byte{0x90, 0x00}
	swNotFound       = []byte{0x6A, 0x82}
	swINSUnsupported = []byte{0x6D, 0x00}
	swCLAUnsupported = []byte{0x6E, 0x00}
	swWrongP1P2      = []byte{0x6A, 0x86}
	swNotAllowed     = []byte{0x69, 0x85} // conditions of use not satisfied
)

// ATRs: a T=1 contact card, and what a PC/SC reader reports for a
// contactless MIFARE Classic 1K (PC/SC part 3, 3.1.3.2.3).
var (
	contactATR     = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}
	contactlessATR = []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6A}
)

// pivAID is the PIV application's AID without version; a SELECT of any
// prefix of the full AID of at least 5 bytes selects it, as on real cards.
var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// PIV is a PIV card with a CHUID whose GUID is GUID. Its other objects are
// absent, as on a card that was issued with only a CHUID.
type PIV struct {
	GUID     guid.GUID
	selected bool
}

// ATR implements Card.
func (p *PIV) ATR() []byte { return contactATR }

// Reset implements Card.
func (p *PIV) Reset() { p.selected = false }

// Process implements Card: SELECT, GET DATA for the CHUID, refusals for
// everything else, with the status words of SP 800-73-4 part 2.
func (p *PIV) Process(apdu []byte) []byte {
	if len(apdu) < 4 {
		return []byte{0x67, 0x00} // wrong length
	}
	if apdu[0]&0xF0 == 0xF0 {
		return swCLAUnsupported
	}
	switch apdu[1] {
	case 0xA4: // SELECT
		if apdu[2] != 0x04 {
			return swWrongP1P2
		}
		aid := commandData(apdu)
		if len(aid) < 5 || !bytes.HasPrefix(pivAID, aid) {
			p.selected = false
			return swNotFound
		}
		p.selected = true
		return append(p.propertyTemplate(), swOK...)
	case 0xCB: // GET DATA
		if !p.selected {
			return swNotAllowed
		}
		if apdu[2] != 0x3F || apdu[3] != 0xFF {
			return swWrongP1P2
		}
		if !bytes.Equal(commandData(apdu), []byte{0x5C, 0x03, 0x5F, 0xC1, 0x02}) {
			return swNotFound
		}
		return append(p.chuid(), swOK...)
	}
	return swINSUnsupported
}

// propertyTemplate is the answer to SELECT (SP 800-73-4 part 2, 3.1.1).
func (p *PIV) propertyTemplate() []byte {
	var t []byte
	t = reader.AppendTLV(t, 0x4F, pivAID[5:])                                 // PIX of the application
	t = reader.AppendTLV(t, 0x79, reader.AppendTLV(nil, 0x4F, pivAID[:5]))    // coexistent tag allocation authority
	t = reader.AppendTLV(t, 0x50, []byte("Cardstop virtual PIV"))             // application label
	t = reader.AppendTLV(t, 0xAC, []byte{0x80, 0x01, 0x11, 0x06, 0x01, 0x00}) // algorithms: ECC P-256
	return reader.AppendTLV(nil, 0x61, t)
}

// chuid is the CHUID object (SP 800-73-4 part 1, 3.1.2): FASC-N, GUID,
// expiry date, an empty signature and error detection code.
func (p *PIV) chuid() []byte {
	fascn := make([]byte, 25)
	fascn[0] = 0xD4 // the FASC-N of a non-federal issuer: zeros after the start sentinel
	var c []byte
	c = reader.AppendTLV(c, 0x30, fascn)
	c = reader.AppendTLV(c, 0x34, p.GUID[:])
	c = reader.AppendTLV(c, 0x35, []byte("20301231"))
	c = reader.AppendTLV(c, 0x3E, nil)
	c = reader.AppendTLV(c, 0xFE, nil)
	return reader.AppendTLV(nil, 0x53, c)
}

// commandData returns the data field of a short APDU of case 3 or 4.
func commandData(apdu []byte) []byte {
	if len(apdu) < 6 {
		return nil
	}
	lc := int(apdu[4])
	if len(apdu) < 5+lc {
		return nil
	}
	return apdu[5 : 5+lc]
}

// Contactless is a contactless card seen through a PC/SC reader: the
// reader answers GET DATA (UID) for it; it has no PIV application.
type Contactless struct {
	UID []byte
}

// ATR implements Card.
func (c *Contactless) ATR() []byte { return contactlessATR }

// Reset implements Card.
func (c *Contactless) Reset() {}

// Process implements Card.
func (c *Contactless) Process(apdu []byte) []byte {
	switch {
	case len(apdu) >= 4 && apdu[0] == 0xFF && apdu[1] == 0xCA && apdu[2] == 0x00:
		return append(append([]byte{}, c.UID...), swOK...)
	case len(apdu) >= 2 && apdu[1] == 0xA4:
		return swNotFound
	}
	return swINSUnsupported
}

// ATROnly is a card that answers to reset and to nothing else, like a
// storage card or one of an unknown kind.
type ATROnly struct{}

// ATR implements Card.
func (ATROnly) ATR() []byte { return contactATR }

// Reset implements Card.
func (ATROnly) Reset() {}

// Process implements Card.
func (ATROnly) Process(apdu []byte) []byte {
	if len(apdu) >= 2 && apdu[1] == 0xA4 {
		return swNotFound
	}
	return swINSUnsupported
}

// Mute is a card that answers reset and then no command at all, as a
// broken card may: whoever talks to it must not wait for ever.
type Mute struct{ ATROnly }

// mute tells serve to leave every command unanswered.
func (Mute) mute() {}
