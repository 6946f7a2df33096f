package storage

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// TestEncodeEvent: the one-encoding shortcut stores exactly what
// json.Marshal would, with the hash ComputeHash gives, and storedHash
// reads it back.
func TestEncodeEvent(t *testing.T) {
	at := time.Date(2026, 11, 29, 3, 4, 5, 600, time.UTC)
	for _, e := range []Event{
		{Seq: 1, Time: at, Actor: "cli", Source: "local", Action: ActionCardImport, PrevHash: genesisHash},
		{Seq: 2, Time: at, Actor: "token:sec-team", Source: "127.0.0.1", Action: ActionCardStatus, CardUuid: guid.New(), RequestUuid: guid.New(),
			OldStatus: "Active", NewStatus: "Disabled", Reason: "Disable", Comment: `lost "badge" <at> the gate & \ åäö`, CorrelationId: guid.New(), PrevHash: genesisHash},
		{Seq: 3, Time: at, Actor: "station:lobby", Action: ActionCardStatus, ClockUnsynced: true, PrevHash: genesisHash,
			Evidence: &domain.Evidence{Reader: "Virtual PCD 00 00", Atr: "3b8d", IdentityKind: "piv", Identifier: "{abc}", InsertedAt: at, PressedAt: at}},
		{Seq: 4, Time: at, Actor: "user:anna", Action: ActionTokenCreate, Hash: "stale, replaced", PrevHash: genesisHash},
	} {
		got, err := encodeEvent(&e)
		if err != nil {
			t.Fatal(err)
		}
		if e.Hash != e.ComputeHash() {
			t.Errorf("event %d: hash %s, ComputeHash %s", e.Seq, e.Hash, e.ComputeHash())
		}
		want, _ := json.Marshal(e)
		if !bytes.Equal(got, want) {
			t.Errorf("event %d:\n got %s\nwant %s", e.Seq, got, want)
		}
		if h, err := storedHash(got); err != nil || h != e.Hash {
			t.Errorf("event %d: storedHash %q, %v; want %s", e.Seq, h, err, e.Hash)
		}
		// Another layout (spaces, a field after Hash) is decoded instead.
		var spaced bytes.Buffer
		json.Indent(&spaced, got, "", " ")
		if h, err := storedHash(spaced.Bytes()); err != nil || h != e.Hash {
			t.Errorf("event %d, indented: storedHash %q, %v", e.Seq, h, err)
		}
	}
}

// FuzzStoredHash: a stored event comes back from a file that may be
// damaged or restored from anywhere; reading its hash never panics, and a
// hash read the short way is the one decoding gives.
func FuzzStoredHash(f *testing.F) {
	e := Event{Seq: 9, Actor: "cli", Action: ActionCardImport, PrevHash: genesisHash}
	good, _ := encodeEvent(&e)
	f.Add(good)
	f.Add([]byte(`{"Hash":"x"}`))
	f.Add([]byte(`,"Hash":"` + genesisHash + `"}`))
	f.Add([]byte(`{"Hash":"\u0030` + genesisHash[6:] + `"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		h, err := storedHash(v)
		var d Event
		if err == nil && json.Unmarshal(v, &d) == nil && d.Hash != h {
			t.Fatalf("storedHash %q, decoded %q", h, d.Hash)
		}
	})
}
