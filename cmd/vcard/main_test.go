package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// fakeVPCD stands in for vpcd's reader slot: it asks the card that
// connects for its ATR and reports it, then waits until the card leaves.
func fakeVPCD(t *testing.T) (addr string, atr <-chan []byte, gone <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	atrc, gonec := make(chan []byte, 1), make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte{0, 1, 0x04}) // GetATR
		var hdr [2]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		io.ReadFull(c, b)
		atrc <- b
		io.Copy(io.Discard, c) // until the card is removed
		close(gonec)
	}()
	return ln.Addr().String(), atrc, gonec
}

func TestRun(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no card", nil, 2, "give exactly one of --piv-guid, --zero-guid, --uid, --random-uid, --atr-only, --mute"},
		{"two cards", []string{"--atr-only", "--mute"}, 2, "give exactly one"},
		{"two PIV cards", []string{"--zero-guid", "--piv-guid", "bc88f13f-83ba-4037-8262-46eba1291c6e"}, 2, "give exactly one"},
		{"random and fixed UID", []string{"--random-uid", "--uid", "04A224B2"}, 2, "give exactly one"},
		{"bad GUID", []string{"--piv-guid", "nope"}, 2, "--piv-guid"},
		{"bad UID", []string{"--uid", "xyz"}, 2, "1 to 10 bytes in hex"},
		{"FASC-N too short", []string{"--zero-guid", "--fascn", "7099"}, 2, "--fascn: invalid FASC-N"},
		{"FASC-N not digits", []string{"--zero-guid", "--fascn", "7099-1234-123456-1-1-0123456789-1-0042-X"}, 2, "--fascn: invalid FASC-N"},
		{"FASC-N without a PIV card", []string{"--uid", "04A224B2", "--fascn", "70991234123456110123456789100421"}, 2, "--fascn is for PIV cards"},
		{"CHUID size without a PIV card", []string{"--atr-only", "--chuid-size", "2500"}, 2, "--chuid-size is for PIV cards"},
		{"CHUID size negative", []string{"--zero-guid", "--chuid-size", "-1"}, 2, "--chuid-size must be 0 to 65000 bytes"},
		{"CHUID size too large", []string{"--zero-guid", "--chuid-size", "70000"}, 2, "--chuid-size must be 0 to 65000 bytes"},
		{"CHUID size not a number", []string{"--zero-guid", "--chuid-size", "big"}, 2, "invalid value"},
		{"T=0 and mute", []string{"--mute", "--t0"}, 2, "--t0 makes no sense with --mute"},
		{"extra argument", []string{"--atr-only", "extra"}, 2, `unexpected argument "extra"`},
		{"unknown flag", []string{"--bogus"}, 2, "flag provided but not defined"},
		{"help", []string{"--help"}, 0, "usage: vcard"},
		{"no vpcd", []string{"--atr-only", "--addr", "127.0.0.1:1"}, 1, "is pcscd running with vsmartcard-vpcd installed?"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, %q; want %d and %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

// TestRunHoldAndSignal: the card is inserted, answers, and is removed
// after --hold, or when the context ends (SIGINT, SIGTERM); both exit 0.
func TestRunHoldAndSignal(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		stop time.Duration // when the context ends; 0: never
	}{
		{"hold", []string{"--uid", "04A224B2C35E80", "--hold", "200ms"}, 0},
		{"signal", []string{"--mute"}, 200 * time.Millisecond},
		{"T=0", []string{"--zero-guid", "--t0", "--hold", "200ms"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, atr, gone := fakeVPCD(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.stop > 0 {
				time.AfterFunc(tt.stop, cancel)
			}
			var stderr bytes.Buffer
			code := run(ctx, append(tt.args, "--addr", addr), &stderr)
			if code != 0 || !strings.Contains(stderr.String(), "card removed after") {
				t.Fatalf("exit %d, %q", code, stderr.String())
			}
			select {
			case a := <-atr:
				if len(a) < 2 || a[0] != 0x3b || slices.Contains(tt.args, "--t0") != bytes.Equal(a, []byte{0x3b, 0x80, 0x00}) {
					t.Fatalf("the card answered the ATR request with % x", a)
				}
			default:
				t.Fatal("the card never answered the ATR request")
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("the card was not removed from the slot")
			}
		})
	}
}

// vpcdConn is the reader side of a vpcd slot: it sends APDUs to the card
// at the other end of the connection.
type vpcdConn struct{ c net.Conn }

func (v vpcdConn) Transmit(apdu []byte) ([]byte, error) {
	if _, err := v.c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(apdu))), apdu...)); err != nil {
		return nil, err
	}
	var hdr [2]byte
	if _, err := io.ReadFull(v.c, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(v.c, b)
	return b, err
}

// identityRead is what identityVPCD saw of one card.
type identityRead struct {
	id              reader.Identity
	apdus, s61, s6C int
	err             error
}

// identityVPCD is a vpcd slot that reads the identity of each card that
// connects, as the station would through pcscd, and reports it with the
// number of APDUs and of 61xx and 6Cxx answers it took.
func identityVPCD(t *testing.T) (string, <-chan identityRead) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	reads := make(chan identityRead, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var r identityRead
			counting := transmitFunc(func(apdu []byte) ([]byte, error) {
				resp, err := vpcdConn{c}.Transmit(apdu)
				r.apdus++
				if len(resp) >= 2 {
					switch resp[len(resp)-2] {
					case 0x61:
						r.s61++
					case 0x6C:
						r.s6C++
					}
				}
				return resp, err
			})
			r.id, r.err = reader.ReadIdentity(counting)
			c.Close() // the card is pulled: vcard ends
			reads <- r
		}
	}()
	return ln.Addr().String(), reads
}

type transmitFunc func([]byte) ([]byte, error)

func (f transmitFunc) Transmit(apdu []byte) ([]byte, error) { return f(apdu) }

// TestRunCards: each card the flags make is identified as it should be,
// over the vpcd protocol, and T=0 and chaining take their 61xx and 6Cxx.
func TestRunCards(t *testing.T) {
	const fed = "70991234123456110123456789100421"
	g := "bc88f13f-83ba-4037-8262-46eba1291c6e"
	piv := reader.Identity{Kind: reader.KindPIV, Serial: "{" + g + "}"}
	for _, tt := range []struct {
		name     string
		args     []string
		want     reader.Identity
		s61, s6C int
	}{
		{"piv", []string{"--piv-guid", g}, piv, 0, 0},
		{"piv with its FASC-N", []string{"--piv-guid", g, "--fascn", fed}, piv, 0, 0},
		{"zero GUID", []string{"--zero-guid", "--fascn", "7099-1234-123456-1-1-0123456789-1-0042-1"}, reader.Identity{Kind: reader.KindFASCN, Serial: "fascn:" + fed}, 0, 0},
		{"zero GUID, derived FASC-N", []string{"--zero-guid"}, reader.Identity{Kind: reader.KindFASCN, Serial: "fascn:" + vcard.DerivedFASCN(guid.Nil).Digits()}, 0, 0},
		{"zero GUID, non-federal FASC-N", []string{"--zero-guid", "--fascn", "99999999999999010000000000300001"}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonCHUIDPIVI}, 0, 0},
		{"large CHUID", []string{"--piv-guid", g, "--chuid-size", "2500"}, piv, 9, 0}, // 2500 = 9 x 256 + 196
		{"T=0", []string{"--piv-guid", g, "--t0"}, piv, 2, 0},                                       // SELECT, GET DATA
		{"T=0, large CHUID", []string{"--piv-guid", g, "--t0", "--chuid-size", "2500"}, piv, 11, 0}, // SELECT, GET DATA, 9 of its 10 parts
		{"T=0 UID", []string{"--uid", "04A224B2", "--t0"}, reader.Identity{Kind: reader.KindUID, Serial: "04A224B2"}, 0, 1},
		{"random UID", []string{"--random-uid"}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonRandomUID}, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, reads := identityVPCD(t)
			var stderr bytes.Buffer
			if code := run(context.Background(), append(tt.args, "--addr", addr), &stderr); code != 0 {
				t.Fatalf("exit %d, %q", code, stderr.String())
			}
			r := <-reads
			if r.err != nil || r.id != tt.want || r.s61 != tt.s61 || r.s6C != tt.s6C {
				t.Fatalf("read %+v; want %+v with %d 61xx and %d 6Cxx", r, tt.want, tt.s61, tt.s6C)
			}
		})
	}
}
