package vcard

// T0 makes Card a card that speaks T=0 only (ISO/IEC 7816-3, 10.3): its
// ATR offers T=0 alone, and it answers as a T=0 card must, so a reader
// takes both of its answers that carry no data:
//   - a command with command data whose answer has data (case 4, like
//     SELECT and the PIV GET DATA) gets 61 xx, and the data come only
//     through GET RESPONSE (00 C0 00 00 xx);
//   - a command without command data (case 2, like GET RESPONSE itself
//     and GET DATA (UID)) whose Le is not the length of its answer gets
//     6C xx, the right Le, and must be sent again.
//
// Answers of more than 256 bytes come 256 at a time, each followed by
// 61 xx. Around a Contactless card, T0 stands for a reader that answers
// GET DATA (UID) by the case 2 rule, which PC/SC part 3 does not ask of
// it: a way to make a reader meet 6C xx.
type T0 struct {
	Card Card

	pending []byte // answer data not yet fetched
	final   []byte // the status word that ends the answer
}

// ATR implements Card: T=0, no historical bytes.
func (c *T0) ATR() []byte { return t0ATR }

// Reset implements Card.
func (c *T0) Reset() {
	c.pending, c.final = nil, nil
	c.Card.Reset()
}

// Process implements Card.
func (c *T0) Process(apdu []byte) []byte {
	if len(apdu) == 5 && apdu[0]&0xF0 != 0xF0 && apdu[1] == 0xC0 {
		return c.getResponse(apdu)
	}
	c.pending, c.final = nil, nil
	resp := c.Card.Process(apdu)
	if len(resp) < 2 {
		return resp // pulled, or broken: as the card answered
	}
	data, sw := resp[:len(resp)-2], resp[len(resp)-2:]
	// The card chains long answers itself: fetch them whole.
	for i := 0; sw[0] == 0x61 && i < 256; i++ {
		more := c.Card.Process([]byte{apdu[0] & 0x03, 0xC0, 0x00, 0x00, sw[1]})
		if len(more) < 2 {
			return more
		}
		data, sw = append(data, more[:len(more)-2]...), more[len(more)-2:]
	}
	if len(data) == 0 {
		return append([]byte{}, sw...)
	}
	c.pending, c.final = data, append([]byte{}, sw...)
	if len(apdu) == 5 { // case 2: the data come at once, if Le is right
		resp := c.getResponse(apdu)
		if resp[0] == 0x6C && len(resp) == 2 {
			c.pending, c.final = nil, nil // the command is to be sent again
		}
		return resp
	}
	return []byte{0x61, byte(min(len(data), maxShort))}
}

// getResponse answers a case 2 command from the pending data: 6C xx
// unless Le (00: 256) is what there is, up to 256 bytes.
func (c *T0) getResponse(apdu []byte) []byte {
	if len(c.pending) == 0 {
		return swNotAllowed
	}
	n := min(len(c.pending), maxShort)
	le := int(apdu[4])
	if le == 0 {
		le = maxShort
	}
	if le != n {
		return []byte{0x6C, byte(n)}
	}
	out := append([]byte{}, c.pending[:n]...)
	if c.pending = c.pending[n:]; len(c.pending) > 0 {
		return append(out, 0x61, byte(min(len(c.pending), maxShort)))
	}
	out = append(out, c.final...)
	c.pending, c.final = nil, nil
	return out
}
