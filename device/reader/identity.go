// Package reader turns a smartcard in a reader into an identity, and
// defines the events a reader reports. It holds no PC/SC code: the adapter
// in reader/pcsc feeds it, so everything here builds and tests without cgo.
package reader

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cardstop/cardstop/storage/guid"
)

// IdentityKind says how a card was identified.
type IdentityKind string

// The ways a card can be identified, best first.
const (
	KindPIV     IdentityKind = "piv"     // the GUID of the PIV CHUID
	KindUID     IdentityKind = "uid"     // a contactless card's UID, via the reader
	KindUnknown IdentityKind = "unknown" // answered, but gave no identifier
)

// Identity is what a card says it is. Serial is the form the card records
// use: "{lowercase-guid}" for PIV (as MIM CM stores Base CSP card ids),
// uppercase hex for a UID, empty for unknown. The ATR never identifies a
// card: every card of a model shares it.
type Identity struct {
	Kind   IdentityKind `json:"kind"`
	Serial string       `json:"serial,omitempty"`
}

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

// ReadIdentity asks the card who it is: the PIV CHUID's GUID, else the
// contactless UID, else unknown. An error means the card could not be
// talked to at all (it was pulled, or the reader failed); a card that
// merely refuses is unknown.
func ReadIdentity(t Transmitter) (Identity, error) {
	if g, err := readPIV(t); err == nil {
		return Identity{Kind: KindPIV, Serial: "{" + g.String() + "}"}, nil
	} else if !isRefusal(err) {
		return Identity{}, err
	}
	uid, err := Exchange(t, getUID)
	switch {
	case err == nil && len(uid) > 0 && len(uid) <= 16:
		return Identity{Kind: KindUID, Serial: strings.ToUpper(hex.EncodeToString(uid))}, nil
	case err != nil && !isRefusal(err):
		return Identity{}, err
	}
	return Identity{Kind: KindUnknown}, nil
}

// isRefusal tells a card's answer that it cannot do something (a status
// word, or data that makes no sense) from a failure to talk to it.
func isRefusal(err error) bool {
	var se StatusError
	return errors.As(err, &se) || errors.Is(err, ErrTLV) || errors.Is(err, errNoGUID)
}

var errNoGUID = errors.New("the CHUID has no GUID")

func readPIV(t Transmitter) (guid.GUID, error) {
	if _, err := Exchange(t, selectPIV); err != nil {
		return guid.Nil, err
	}
	data, err := Exchange(t, getCHUID)
	if err != nil {
		return guid.Nil, err
	}
	return ParseCHUID(data)
}

// ParseCHUID returns the GUID of a CHUID data object (tag 53 holding tag
// 34, 16 bytes). An all-zero GUID means the issuer set none (SP 800-73-4
// part 1, 3.1.2): that is no identity.
func ParseCHUID(data []byte) (guid.GUID, error) {
	outer, err := ParseTLV(data)
	if err != nil {
		return guid.Nil, err
	}
	inner, ok := Find(outer, 0x53)
	if !ok {
		return guid.Nil, fmt.Errorf("%w: no CHUID object (tag 53)", ErrTLV)
	}
	fields, err := ParseTLV(inner)
	if err != nil {
		return guid.Nil, err
	}
	raw, ok := Find(fields, 0x34)
	if !ok || len(raw) != 16 {
		return guid.Nil, errNoGUID
	}
	g := guid.GUID(raw)
	if g.IsNil() {
		return guid.Nil, errNoGUID
	}
	return g, nil
}
