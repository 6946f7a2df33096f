// Package reader turns a smartcard in a reader into an identity, and
// defines the events a reader reports. It holds no PC/SC code: the adapter
// in reader/pcsc feeds it, so everything here builds and tests without cgo.
package reader

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cardstop/cardstop/storage/domain/guid"
)

// IdentityKind says how a card was identified.
type IdentityKind string

// The ways a card can be identified, best first.
const (
	KindPIV     IdentityKind = "piv"     // the GUID of the PIV CHUID
	KindFASCN   IdentityKind = "fascn"   // the FASC-N of a PIV CHUID that has no GUID
	KindUID     IdentityKind = "uid"     // a contactless card's fixed UID, via the reader
	KindUnknown IdentityKind = "unknown" // answered, but gave no identifier; Reason says why
)

// Identity is what a card says it is. Serial is the form the card records
// use:
//   - KindPIV: "{lowercase-guid}", the CHUID's GUID as MIM CM stores Base
//     CSP card ids, e.g. "{bc88f13f-83ba-4037-8262-46eba1291c6e}";
//   - KindFASCN: "fascn:" and the FASC-N's 32 digits in field order
//     (agency 4, system 4, credential 6, CS 1, ICI 1, PI 10, OC 1, OI 4,
//     POA 1), e.g. "fascn:70991234123456110123456789100421", for a CHUID
//     whose GUID is zero or absent but whose FASC-N is valid (sentinels,
//     separators, parity, LRC) and not the non-federal placeholder;
//   - KindUID: the UID in uppercase hex, e.g. "04A224B2C35E80";
//   - KindUnknown: empty, with Reason saying why, for people.
//
// The ATR never identifies a card: every card of a model shares it.
type Identity struct {
	Kind   IdentityKind `json:"kind"`
	Serial string       `json:"serial,omitempty"`
	Reason string       `json:"reason,omitempty"`
}

// Why a card that answered is unknown: the Reason of its Identity.
const (
	ReasonNoIdentifier = "no identifier: neither a PIV CHUID nor a UID"
	ReasonCHUIDNoID    = "no identifier: the PIV CHUID has neither a GUID nor a valid FASC-N"
	ReasonCHUIDPIVI    = "no identifier: the PIV CHUID has no GUID, and its FASC-N is the non-federal placeholder"
	ReasonRandomUID    = "random UID: a new one at every tap"
)

// Transmitter sends one command APDU to a card and returns its response
// APDU (data followed by SW1 SW2).
type Transmitter interface {
	Transmit(apdu []byte) ([]byte, error)
}

// StatusError is a card's refusal, by its status word.
type StatusError struct {
	SW uint16
}

func (e StatusError) Error() string { return fmt.Sprintf("card answered status %04X", e.SW) }

// The APDUs of the identity read.
var (
	// SELECT the PIV application by its AID without version (NIST SP 800-73-4 part 1, 2.2).
	selectPIV = []byte{0x00, 0xA4, 0x04, 0x00, 0x09, 0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x00}
	// GET DATA for the CHUID object, tag 5FC102.
	getCHUID = []byte{0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x02, 0x00}
	// GET DATA (UID) of the PC/SC part 3 pseudo-APDU, answered by the reader.
	getUID = []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}
)

// maxChained bounds the GET RESPONSE chain, against a card that never ends it.
const maxChained = 64

// Exchange sends apdu and follows the card's protocol-level answers: 61xx
// (more data: GET RESPONSE) and 6Cxx (wrong Le: send again with Le = xx).
// It returns the response data when the final status is 9000.
func Exchange(t Transmitter, apdu []byte) ([]byte, error) {
	resp, err := t.Transmit(apdu)
	if err != nil {
		return nil, err
	}
	var data []byte
	for i := 0; ; i++ {
		if len(resp) < 2 {
			return nil, fmt.Errorf("card answered %d bytes, too short for a status word", len(resp))
		}
		if i == maxChained {
			return nil, errors.New("card kept answering 61xx")
		}
		sw1, sw2 := resp[len(resp)-2], resp[len(resp)-1]
		data = append(data, resp[:len(resp)-2]...)
		var next []byte
		switch {
		case sw1 == 0x90 && sw2 == 0x00:
			return data, nil
		case sw1 == 0x61:
			next = []byte{apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw2}
		case sw1 == 0x6C && len(apdu) >= 5 && i == 0:
			next = append(append([]byte{}, apdu[:len(apdu)-1]...), sw2)
			data = nil
		default:
			return nil, StatusError{SW: uint16(sw1)<<8 | uint16(sw2)}
		}
		if resp, err = t.Transmit(next); err != nil {
			return nil, err
		}
	}
}

// ReadIdentity asks the card who it is: the PIV CHUID's GUID, else its
// FASC-N, else the contactless UID unless it is a random one, else
// unknown with a reason. An error means the card could not be talked to
// at all (it was pulled, or the reader failed); a card that merely
// refuses is unknown.
func ReadIdentity(t Transmitter) (Identity, error) {
	var why string
	c, err := readPIV(t)
	switch {
	case err == nil:
		id := c.Identity()
		if id.Kind != KindUnknown {
			return id, nil
		}
		why = id.Reason
	case !isRefusal(err):
		return Identity{}, err
	}
	uid, err := Exchange(t, getUID)
	switch {
	case err == nil && IsRandomUID(uid):
		return Identity{Kind: KindUnknown, Reason: ReasonRandomUID}, nil
	case err == nil && len(uid) > 0 && len(uid) <= 16:
		return Identity{Kind: KindUID, Serial: strings.ToUpper(hex.EncodeToString(uid))}, nil
	case err != nil && !isRefusal(err):
		return Identity{}, err
	}
	if why == "" {
		why = ReasonNoIdentifier
	}
	return Identity{Kind: KindUnknown, Reason: why}, nil
}

// IsRandomUID tells whether uid is a random ID: a single-size (4-byte) UID
// whose first byte is 08 (ISO/IEC 14443-3: a random ID), which the card draws
// anew at every activation, as DESFire cards with random ID and most bank
// cards do. It names no card.
func IsRandomUID(uid []byte) bool {
	return len(uid) == 4 && uid[0] == 0x08
}

// isRefusal tells a card's answer that it cannot do something (a status
// word, or data that makes no sense) from a failure to talk to it.
func isRefusal(err error) bool {
	var se StatusError
	return errors.As(err, &se) || errors.Is(err, ErrTLV)
}

func readPIV(t Transmitter) (CHUID, error) {
	if _, err := Exchange(t, selectPIV); err != nil {
		return CHUID{}, err
	}
	data, err := Exchange(t, getCHUID)
	if err != nil {
		return CHUID{}, err
	}
	return ParseCHUID(data)
}

// CHUID is what the station reads of a PIV Card Holder Unique Identifier
// (SP 800-73-4 part 1, 3.1.2): its two identifiers.
type CHUID struct {
	// FASCN is the FASC-N (tag 30) as the card holds it, nil when absent;
	// it may be invalid (ParseFASCN says).
	FASCN []byte
	// GUID is tag 34; guid.Nil when absent, not 16 bytes, or all zero
	// (the issuer set none).
	GUID guid.GUID
}

// ParseCHUID reads a CHUID data object (tag 53 holding tags 30, 34, ...).
// It fails with ErrTLV only when the bytes are no CHUID at all; missing or
// malformed identifiers are left for Identity to judge.
func ParseCHUID(data []byte) (CHUID, error) {
	outer, err := ParseTLV(data)
	if err != nil {
		return CHUID{}, err
	}
	inner, ok := Find(outer, 0x53)
	if !ok {
		return CHUID{}, fmt.Errorf("%w: no CHUID object (tag 53)", ErrTLV)
	}
	fields, err := ParseTLV(inner)
	if err != nil {
		return CHUID{}, err
	}
	var c CHUID
	if f, ok := Find(fields, 0x30); ok {
		c.FASCN = f
	}
	if raw, ok := Find(fields, 0x34); ok && len(raw) == 16 {
		c.GUID = guid.GUID(raw)
	}
	return c, nil
}

// Identity applies the CHUID's rules: a non-zero GUID names the card
// (KindPIV); else a valid FASC-N that is not the non-federal placeholder
// (agency 9999, system 9999, credential 999999: shared by every PIV-I
// card, whose GUID must identify it) names it (KindFASCN); else the CHUID
// names nothing (KindUnknown with a reason).
func (c CHUID) Identity() Identity {
	if !c.GUID.IsNil() {
		return Identity{Kind: KindPIV, Serial: "{" + c.GUID.String() + "}"}
	}
	f, err := ParseFASCN(c.FASCN)
	switch {
	case err != nil:
		return Identity{Kind: KindUnknown, Reason: ReasonCHUIDNoID}
	case f.NonFederal():
		return Identity{Kind: KindUnknown, Reason: ReasonCHUIDPIVI}
	}
	return Identity{Kind: KindFASCN, Serial: "fascn:" + f.Digits()}
}
