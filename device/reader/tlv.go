package reader

import (
	"errors"
	"fmt"
)

// TLV is one BER-TLV data object as smartcards encode them (ISO/IEC 7816-4
// annex D): a tag of one to three bytes, a length, a value.
type TLV struct {
	Tag   uint32
	Value []byte
}

// ErrTLV is returned for bytes that are not a well-formed BER-TLV list.
var ErrTLV = errors.New("malformed BER-TLV")

// ParseTLV splits b into its top-level data objects. Values are slices of
// b, not copies. Lengths of one to four bytes (0x81..0x84) are accepted;
// the indefinite form (0x80) is not used by smartcards and is refused.
func ParseTLV(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		// 0x00 and 0xFF are padding between objects (ISO 7816-4 5.2.2.1).
		if b[0] == 0x00 || b[0] == 0xFF {
			b = b[1:]
			continue
		}
		tag, n, err := parseTag(b)
		if err != nil {
			return nil, err
		}
		b = b[n:]
		length, n, err := parseLength(b)
		if err != nil {
			return nil, fmt.Errorf("tag %X: %w", tag, err)
		}
		b = b[n:]
		if length > len(b) {
			return nil, fmt.Errorf("%w: tag %X says %d bytes, %d follow", ErrTLV, tag, length, len(b))
		}
		out = append(out, TLV{Tag: tag, Value: b[:length:length]})
		b = b[length:]
	}
	return out, nil
}

func parseTag(b []byte) (uint32, int, error) {
	tag := uint32(b[0])
	if b[0]&0x1F != 0x1F {
		return tag, 1, nil
	}
	for i := 1; i < 3; i++ {
		if i >= len(b) {
			return 0, 0, fmt.Errorf("%w: tag cut short", ErrTLV)
		}
		tag = tag<<8 | uint32(b[i])
		if b[i]&0x80 == 0 {
			return tag, i + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: tag longer than three bytes", ErrTLV)
}

func parseLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, fmt.Errorf("%w: length missing", ErrTLV)
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	n := int(b[0] & 0x7F)
	if n == 0 || n > 4 {
		return 0, 0, fmt.Errorf("%w: length form %02X", ErrTLV, b[0])
	}
	if len(b) < 1+n {
		return 0, 0, fmt.Errorf("%w: length cut short", ErrTLV)
	}
	length := 0
	for _, c := range b[1 : 1+n] {
		length = length<<8 | int(c)
	}
	if length < 0 || length > 1<<20 {
		return 0, 0, fmt.Errorf("%w: length %d is out of range", ErrTLV, length)
	}
	return length, 1 + n, nil
}

// Find returns the value of the first object with the given tag.
func Find(objs []TLV, tag uint32) ([]byte, bool) {
	for _, o := range objs {
		if o.Tag == tag {
			return o.Value, true
		}
	}
	return nil, false
}

// AppendTLV encodes one data object, for the virtual card and for tests.
func AppendTLV(b []byte, tag uint32, value []byte) []byte {
	switch {
	case tag > 0xFFFF:
		b = append(b, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		b = append(b, byte(tag>>8), byte(tag))
	default:
		b = append(b, byte(tag))
	}
	switch n := len(value); {
	case n < 0x80:
		b = append(b, byte(n))
	case n <= 0xFF:
		b = append(b, 0x81, byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x82, byte(n>>8), byte(n))
	default:
		b = append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, value...)
}
