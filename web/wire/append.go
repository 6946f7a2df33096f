package wire

import (
	"strconv"
	"unicode/utf8"
)

// The hottest answers are written by hand rather than by encoding/json's
// reflection: a GET of a card is read again and again by scripts. The
// bytes are exactly what encoding/json writes with SetEscapeHTML(false)
// (FuzzSmartcardJSON holds them to it).

// AppendJSON appends the card as encoding/json would encode it.
func (c Smartcard) AppendJSON(b []byte) []byte {
	b = append(b, `{"Uuid":"`...)
	b = c.Uuid.Append(b)
	b = append(b, `","Status":`...)
	b = strconv.AppendInt(b, int64(c.Status), 10)
	b = append(b, `,"Flags":`...)
	b = strconv.AppendInt(b, int64(c.Flags), 10)
	b = append(b, `,"ParentSmartcardUuid":"`...)
	b = c.ParentSmartcardUuid.Append(b)
	b = append(b, `","PrimarySmartcardUuid":"`...)
	b = c.PrimarySmartcardUuid.Append(b)
	b = append(b, `","PermanentSmartcardUuid":"`...)
	b = c.PermanentSmartcardUuid.Append(b)
	b = append(b, `","AssignedUserUuid":"`...)
	b = c.AssignedUserUuid.Append(b)
	b = append(b, `","ProfileTemplateUuid":"`...)
	b = c.ProfileTemplateUuid.Append(b)
	b = append(b, `","ProfileTemplateVersion":`...)
	b = strconv.AppendInt(b, int64(c.ProfileTemplateVersion), 10)
	b = append(b, `,"Comment":`...)
	b = AppendString(b, c.Comment)
	b = append(b, `,"SerialNumber":`...)
	b = AppendString(b, c.SerialNumber)
	b = append(b, `,"Middleware":`...)
	b = AppendString(b, c.Middleware)
	b = append(b, `,"Atr":`...)
	b = AppendString(b, c.Atr)
	return append(b, '}')
}

// AppendString appends s as a JSON string the way encoding/json does
// without HTML escaping: control characters as \n, \r, \t, \b, \f or \u00XX,
// invalid UTF-8 as U+FFFD, and U+2028 and U+2029 escaped.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
