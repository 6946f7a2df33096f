package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
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
		{"no card", nil, 2, "give exactly one of --piv-guid, --uid, --atr-only, --mute"},
		{"two cards", []string{"--atr-only", "--mute"}, 2, "give exactly one"},
		{"bad GUID", []string{"--piv-guid", "nope"}, 2, "--piv-guid"},
		{"bad UID", []string{"--uid", "xyz"}, 2, "1 to 10 bytes in hex"},
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
				if len(a) < 2 || a[0] != 0x3b {
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
