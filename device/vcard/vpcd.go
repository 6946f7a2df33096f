package vcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
)

// DefaultAddr is vpcd's first slot as Debian's vsmartcard-vpcd configures
// it (reader "Virtual PCD 00 00"); the second slot is port 35964.
const DefaultAddr = "127.0.0.1:35963"

// vpcd's control messages: one byte, no reply except for GetATR.
const (
	ctlPowerOff = 0x00
	ctlPowerOn  = 0x01
	ctlReset    = 0x02
	ctlGetATR   = 0x04
)

// Inserted is a card in a vpcd slot. Remove takes it out.
type Inserted struct {
	conn *net.TCPConn
	done chan struct{}
	err  error
	once sync.Once
}

// Insert puts card into the vpcd slot at addr (a TCP connection to vpcd
// is an inserted card) and answers vpcd until Remove, ctx's end, or vpcd
// closing the connection.
func Insert(ctx context.Context, addr string, card Card) (*Inserted, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("insert card: connect to vpcd at %s: %w", addr, err)
	}
	in := &Inserted{conn: c.(*net.TCPConn), done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			in.Remove()
		case <-in.done:
		}
	}()
	go func() {
		defer close(in.done)
		in.err = serve(in.conn, card)
		in.once.Do(func() { in.conn.Close() })
	}()
	return in, nil
}

// Remove takes the card out: vpcd sees the connection close and pcscd
// reports the card removed at its next poll. It waits until the card has
// stopped answering.
func (in *Inserted) Remove() {
	in.once.Do(func() { in.conn.Close() })
	<-in.done
}

// Done is closed when the card is out, for whatever reason.
func (in *Inserted) Done() <-chan struct{} { return in.done }

// Err says why the card stopped answering, once Done is closed; nil after
// Remove or when vpcd closed the connection.
func (in *Inserted) Err() error { return in.err }

// serve answers vpcd: 2-byte big-endian length, then the message, both
// ways. A message of one byte is a control byte; longer ones are APDUs.
func serve(c *net.TCPConn, card Card) error {
	var hdr [2]byte
	buf := make([]byte, 65536)
	card.Reset() // a card just inserted is in its power-on state
	for {
		quickAck(c)
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return closedIsFine(err)
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		quickAck(c)
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			return closedIsFine(err)
		}
		var reply []byte
		switch {
		case n == 1 && buf[0] == ctlGetATR:
			reply = card.ATR()
		case n == 1 && (buf[0] == ctlPowerOff || buf[0] == ctlReset || buf[0] == ctlPowerOn):
			if buf[0] != ctlPowerOn {
				card.Reset()
			}
			continue
		case n == 0:
			continue
		case isMute(card):
			continue // vpcd waits for an answer that never comes
		default:
			if reply = card.Process(append([]byte{}, buf[:n]...)); reply == nil {
				return nil // pulled
			}
		}
		// One write: vpcd reads the length and the data together.
		out := binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reply)), uint16(len(reply)))
		if _, err := c.Write(append(out, reply...)); err != nil {
			return closedIsFine(err)
		}
	}
}

func isMute(c Card) bool {
	_, ok := c.(interface{ mute() })
	return ok
}

func closedIsFine(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return err
}

// quickAck works around Debian 12's vpcd, which sends the length and the
// APDU in two writes without TCP_NODELAY: without an immediate ACK from the
// card's side, Nagle holds the second write for the delayed-ACK timer,
// about 44 ms per APDU. Linux clears TCP_QUICKACK after use, so it is set
// before every read.
func quickAck(c *net.TCPConn) {
	raw, err := c.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpQuickAck, 1)
	})
}
