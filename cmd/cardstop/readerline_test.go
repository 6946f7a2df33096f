package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader"
)

// TestWatchLine pins the bytes of `cardstop reader watch --json`, one
// line per event, without a reader: which keys each kind of event has,
// the time in UTC, and <, > and & escaped as encoding/json does.
func TestWatchLine(t *testing.T) {
	at := time.Date(2026, 11, 29, 11, 0, 0, 123456789, time.FixedZone("CET", 3600))
	tests := []struct {
		e    reader.Event
		want string
	}{
		{reader.Event{Kind: reader.Inserted, Reader: "Virtual PCD 00 00", ATR: []byte{0x3b, 0x8d, 0x01}, ReadTime: 12345 * time.Microsecond, Time: at,
			Identity: reader.Identity{Kind: reader.KindPIV, Serial: "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}"}},
			`{"event":"inserted","reader":"Virtual PCD 00 00","atr":"3b8d01","identity":{"kind":"piv","serial":"{d1ef6869-5517-42a0-8f05-16ca1a0b834d}"},"read_ms":12.345,"time":"2026-11-29T10:00:00.123456789Z"}`},
		{reader.Event{Kind: reader.Inserted, Reader: "R", Time: at, Identity: reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonRandomUID}},
			`{"event":"inserted","reader":"R","identity":{"kind":"unknown","reason":"random UID: a new one at every tap"},"read_ms":0,"time":"2026-11-29T10:00:00.123456789Z"}`},
		{reader.Event{Kind: reader.Pulled, Reader: "R <1> & 2", Time: at, Err: "the card was removed"},
			`{"event":"pulled","reader":"R \u003c1\u003e \u0026 2","time":"2026-11-29T10:00:00.123456789Z","error":"the card was removed"}`},
		{reader.Event{Kind: reader.ServiceLost, Time: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC), Err: "pcscd went away"},
			`{"event":"service-lost","time":"2026-11-29T10:00:00Z","error":"pcscd went away"}`},
		{reader.Event{Kind: reader.Removed, Reader: "R", ATR: []byte{0x3b}, Time: at, Identity: reader.Identity{Kind: reader.KindPIV, Serial: "x"}},
			`{"event":"removed","reader":"R","atr":"3b","time":"2026-11-29T10:00:00.123456789Z"}`},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(lineOf(tt.e)); err != nil {
			t.Fatal(err)
		}
		if got := b.String(); got != tt.want+"\n" {
			t.Errorf("%s event:\n%s\nwant\n%s", tt.e.Kind, got, tt.want)
		}
	}
}

// TestNoMatch: reader watch says once when its filter matches no reader.
func TestNoMatch(t *testing.T) {
	known := []string{"Virtual PCD 00 00", "Virtual PCD 00 01"}
	tests := []struct {
		name           string
		filters, known []string
		want           string
	}{
		{"no filter", nil, known, ""},
		{"a match", []string{"nope", "00 01"}, known, ""},
		{"no match", []string{"Yubico", "ACS"}, known, `no reader matches "Yubico" or "ACS"; readers: "Virtual PCD 00 00", "Virtual PCD 00 01" (watching for one that does)`},
		{"no reader at all", []string{"Yubico"}, nil, `no reader matches "Yubico"; readers: none (watching for one that does)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := noMatch(tt.filters, tt.known); got != tt.want {
				t.Errorf("noMatch = %q, want %q", got, tt.want)
			}
		})
	}
}
