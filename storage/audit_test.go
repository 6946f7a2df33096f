package storage_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// chainOf makes a store write six events of different kinds and returns them.
func chainOf(t *testing.T) []storage.Event {
	t.Helper()
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card, newCard(2, "def", domain.CardNew))
	req := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRequestStatus(context.Background(), operator, req.Uuid, domain.RequestCompleted, "Completed"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateToken(context.Background(), admin, "t1", domain.RoleViewer); err != nil {
		t.Fatal(err)
	}
	checkStore(t, s)
	evs := allEvents(t, s)
	if len(evs) != 6 {
		t.Fatalf("%d events, want 6", len(evs))
	}
	return evs
}

func TestVerifyChain(t *testing.T) {
	base := chainOf(t)
	tests := []struct {
		name    string
		tamper  func([]storage.Event) []storage.Event
		wantErr string // "" means the chain verifies
	}{
		{"untouched", func(e []storage.Event) []storage.Event { return e }, ""},
		{"empty", func(e []storage.Event) []storage.Event { return nil }, ""},
		{"prefix", func(e []storage.Event) []storage.Event { return e[:3] }, ""},
		{"edited comment", func(e []storage.Event) []storage.Event {
			e[2].Comment = "nothing to see"
			return e
		}, "event 3: content does not match its hash"},
		{"edited comment, hash recomputed", func(e []storage.Event) []storage.Event {
			e[2].Comment = "nothing to see"
			e[2].Hash = e[2].ComputeHash()
			return e
		}, "event 4: does not follow event 3"},
		{"edited actor", func(e []storage.Event) []storage.Event {
			e[3].Actor = "user:someone-else"
			return e
		}, "event 4: content does not match its hash"},
		{"edited new status", func(e []storage.Event) []storage.Event {
			e[2].NewStatus = "Active"
			return e
		}, "event 3: content does not match its hash"},
		{"edited time", func(e []storage.Event) []storage.Event {
			e[1].Time = e[1].Time.Add(1)
			return e
		}, "event 2: content does not match its hash"},
		{"edited last hash", func(e []storage.Event) []storage.Event {
			e[5].Hash = strings.Repeat("f", 64)
			return e
		}, "event 6: content does not match its hash"},
		{"removed event", func(e []storage.Event) []storage.Event {
			return slices.Delete(e, 2, 3)
		}, "event 3: sequence number 4, want 3"},
		{"removed first event", func(e []storage.Event) []storage.Event {
			return e[1:]
		}, "event 1: sequence number 2, want 1"},
		{"removed and renumbered", func(e []storage.Event) []storage.Event {
			e = slices.Delete(e, 2, 3)
			for i := range e {
				e[i].Seq = uint64(i + 1)
			}
			return e
		}, "event 3: does not follow event 2"},
		{"swapped events", func(e []storage.Event) []storage.Event {
			e[2], e[3] = e[3], e[2]
			return e
		}, "event 3: sequence number 4, want 3"},
		{"swapped and renumbered", func(e []storage.Event) []storage.Event {
			e[2], e[3] = e[3], e[2]
			e[2].Seq, e[3].Seq = 3, 4
			return e
		}, "event 3: does not follow event 2"},
		{"duplicated event", func(e []storage.Event) []storage.Event {
			return slices.Insert(e, 3, e[2])
		}, "event 4: sequence number 3, want 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := tt.tamper(slices.Clone(base))
			err := storage.VerifyChain(evs)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("VerifyChain: %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyChain accepted a tampered log")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("VerifyChain: %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestVerifyChainAfterExport checks that a log written out as JSON and read
// back, as the CLI does offline, still verifies.
func TestVerifyChainAfterExport(t *testing.T) {
	evs := chainOf(t)
	data, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	var back []storage.Event
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyChain(back); err != nil {
		t.Errorf("VerifyChain after a JSON round trip: %v", err)
	}
	// An edit in the exported text is caught too.
	edited := strings.Replace(string(data), `"Comment":"Disable it"`, `"Comment":"Disable it later"`, 1)
	if edited == string(data) {
		t.Fatal("exported log has no Disable comment to edit")
	}
	back = nil
	if err := json.Unmarshal([]byte(edited), &back); err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyChain(back); err == nil {
		t.Error("VerifyChain accepted an edited export")
	}
}

func TestComputeHashIgnoresHash(t *testing.T) {
	evs := chainOf(t)
	e := evs[0]
	h := e.ComputeHash()
	e.Hash = "anything"
	if e.ComputeHash() != h || h != evs[0].Hash || len(h) != 64 {
		t.Errorf("ComputeHash = %q, want %q independent of Hash", e.ComputeHash(), h)
	}
}

// FuzzReadEventLines: an exported log comes from anywhere; reading it
// never panics, and what it reads verifies only if it is a chain.
func FuzzReadEventLines(f *testing.F) {
	e := storage.Event{Seq: 1, Actor: "cli", Action: storage.ActionCardImport, PrevHash: strings.Repeat("0", 64)}
	e.Hash = e.ComputeHash()
	line, _ := json.Marshal(e)
	f.Add(string(line) + "\n")
	f.Add(string(line) + "\n\n" + string(line))
	f.Add("{\"Seq\":1}\nnot json\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, log string) {
		events, err := storage.ReadEventLines(strings.NewReader(log))
		if err != nil {
			return
		}
		if storage.VerifyChain(events) == nil {
			for i, e := range events {
				if e.Seq != uint64(i+1) || e.ComputeHash() != e.Hash {
					t.Fatalf("a broken chain verified: %+v", events)
				}
			}
		}
	})
}
