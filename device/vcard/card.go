// Package vcard is a virtual smartcard that plugs into a real pcscd through
// the vsmartcard vpcd reader driver. Tests and demos use it to insert and
// remove cards without hardware; the reader code cannot tell it from a
// real card, since every APDU goes through pcscd.
package vcard

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage/domain/guid"
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
	swWrongLength    = []byte{0x67, 0x00}
)

// maxShort is the most response data a short APDU carries (Le = 00).
const maxShort = 256

// ATRs: a T=1 contact card, a T=0 contact card (TD1 offers T=0 and
// nothing else, so there is no TCK), and what a PC/SC reader reports for a
// contactless MIFARE Classic 1K (PC/SC part 3, 3.1.3.2.3).
var (
	contactATR     = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}
	t0ATR          = []byte{0x3B, 0x80, 0x00}
	contactlessATR = []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x6A}
)

// pivAID is the PIV application's AID without version; a SELECT of any
// prefix of the full AID of at least 5 bytes selects it, as on real cards.
var pivAID = []byte{0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00}

// PIV is a PIV card with a CHUID, which holds GUID and a valid FASC-N.
// Its other objects are absent, as on a card that was issued with only a
// CHUID. Like a real card answering short APDUs, it gives at most 256
// bytes at a time: the rest of a longer answer comes through GET
// RESPONSE (00 C0 00 00 xx) after 61 xx. Set the fields before inserting
// the card; they must not change while it is in a reader.
type PIV struct {
	// GUID is the CHUID's GUID; guid.Nil writes an all-zero GUID, a card
	// then known by its FASC-N alone.
	GUID guid.GUID
	// FASCN is the 25 bytes of the CHUID's FASC-N, carried as they are,
	// valid or not (reader.FASCN.Encode makes valid ones); nil carries
	// DerivedFASCN(GUID).
	FASCN []byte
	// CHUIDSize pads the issuer signature (tag 3E) until the CHUID object
	// is this many bytes, as a CHUID with a real signature and
	// certificate is (2 to 3 KB); 0, or less than the unpadded size, leaves
	// the signature empty.
	CHUIDSize int

	selected bool
	pending  []byte // answer data not yet fetched by GET RESPONSE
}

// ATR implements Card.
func (p *PIV) ATR() []byte { return contactATR }

// Reset implements Card.
func (p *PIV) Reset() { p.selected, p.pending = false, nil }

// Process implements Card: SELECT, GET DATA for the CHUID, GET RESPONSE,
// refusals for everything else, with the status words of SP 800-73-4
// part 2.
func (p *PIV) Process(apdu []byte) []byte {
	if len(apdu) < 4 {
		return swWrongLength
	}
	if apdu[0]&0xF0 == 0xF0 {
		return swCLAUnsupported
	}
	if apdu[1] == 0xC0 { // GET RESPONSE: the rest of the last answer
		return p.getResponse(apdu)
	}
	p.pending = nil
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
		return p.answer(p.propertyTemplate())
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
		return p.answer(p.CHUID())
	}
	return swINSUnsupported
}

// answer returns data and 9000, or its first 256 bytes and 61 xx when
// there is more, keeping the rest for GET RESPONSE.
func (p *PIV) answer(data []byte) []byte {
	if len(data) <= maxShort {
		return append(append([]byte{}, data...), swOK...)
	}
	p.pending = data[maxShort:]
	return append(append([]byte{}, data[:maxShort]...), 0x61, byte(min(len(p.pending), maxShort)))
}

// getResponse serves up to Le bytes (00: 256) of the pending answer.
func (p *PIV) getResponse(apdu []byte) []byte {
	if apdu[2] != 0 || apdu[3] != 0 {
		return swWrongP1P2
	}
	if len(p.pending) == 0 {
		return swNotAllowed
	}
	n := maxShort
	if len(apdu) == 5 && apdu[4] != 0 {
		n = int(apdu[4])
	}
	n = min(n, len(p.pending))
	out := append([]byte{}, p.pending[:n]...)
	if p.pending = p.pending[n:]; len(p.pending) > 0 {
		return append(out, 0x61, byte(min(len(p.pending), maxShort)))
	}
	p.pending = nil
	return append(out, swOK...)
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

// CHUID returns the card's CHUID object, tag 53 and all (SP 800-73-4
// part 1, 3.1.2): FASC-N, GUID, expiry date, the issuer signature (empty,
// or padding up to CHUIDSize) and the error detection code.
func (p *PIV) CHUID() []byte {
	fascn := p.FASCN
	if fascn == nil {
		fascn, _ = DerivedFASCN(p.GUID).Encode() // DerivedFASCN's fields are always digits
	}
	build := func(sigLen int) []byte {
		sig := make([]byte, sigLen)
		for i := range sig {
			sig[i] = byte(i)
		}
		var c []byte
		c = reader.AppendTLV(c, 0x30, fascn)
		c = reader.AppendTLV(c, 0x34, p.GUID[:])
		c = reader.AppendTLV(c, 0x35, []byte("20301231"))
		c = reader.AppendTLV(c, 0x3E, sig)
		c = reader.AppendTLV(c, 0xFE, nil)
		return reader.AppendTLV(nil, 0x53, c)
	}
	c := build(0)
	// Lengths take a byte or two more past 127 and 255 bytes: a few
	// rounds find the signature size, exactly but at those edges.
	if p.CHUIDSize > len(c) {
		sig := p.CHUIDSize - len(c)
		for range 4 {
			if c = build(sig); len(c) == p.CHUIDSize {
				break
			}
			sig = max(0, sig+p.CHUIDSize-len(c))
		}
	}
	return c
}

// DerivedFASCN is the FASC-N a virtual PIV card carries unless told
// otherwise: valid, federal in form (never the non-federal placeholder)
// and the same for the same GUID, its digits drawn from the GUID's
// SHA-256 hash.
func DerivedFASCN(g guid.GUID) reader.FASCN {
	h := sha256.Sum256(g[:])
	d := make([]byte, reader.FASCNDigits)
	for i := range d {
		d[i] = '0' + h[i]%10
	}
	d[26] = '1' + h[26]%4 // organizational category 1 to 4
	d[31] = '1' + h[31]%7 // association category 1 to 7
	if string(d[:14]) == "99999999999999" {
		d[3] = '8'
	}
	f, _ := reader.FASCNFromDigits(string(d))
	return f
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
	// UID is the card's fixed UID.
	UID []byte
	// RandomUID makes the card a random-ID one instead (a DESFire with
	// random ID, a bank card): at every activation, that is every
	// insertion and every power-up, it draws a new 4-byte UID that starts
	// with 08 (ISO/IEC 14443-3). UID is then unused.
	RandomUID bool

	random, last []byte
}

// ATR implements Card.
func (c *Contactless) ATR() []byte { return contactlessATR }

// Reset implements Card. A random-ID card leaving the field forgets its
// UID: the next activation draws another.
func (c *Contactless) Reset() {
	if c.random != nil {
		c.last, c.random = c.random, nil
	}
}

// Process implements Card.
func (c *Contactless) Process(apdu []byte) []byte {
	switch {
	case len(apdu) >= 4 && apdu[0] == 0xFF && apdu[1] == 0xCA && apdu[2] == 0x00:
		return append(append([]byte{}, c.uid()...), swOK...)
	case len(apdu) >= 2 && apdu[1] == 0xA4:
		return swNotFound
	}
	return swINSUnsupported
}

func (c *Contactless) uid() []byte {
	if !c.RandomUID {
		return c.UID
	}
	for c.random == nil || bytes.Equal(c.random, c.last) {
		r := rand.Uint32()
		c.random = []byte{0x08, byte(r >> 16), byte(r >> 8), byte(r)}
	}
	return c.random
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
