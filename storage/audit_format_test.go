package storage_test

import (
	"os"
	"testing"

	"github.com/cardstop/cardstop/storage"
)

// TestFormat1EventsVerify: a log exported before events named their facts
// in fields of their own (format 1: a card.status event over the API has
// the request type in Reason, a token event the role in NewStatus) still
// reads and verifies, and a changed byte is still found.
func TestFormat1EventsVerify(t *testing.T) {
	f, err := os.Open("testdata/audit-format1.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	events, err := storage.ReadEventLines(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 6 || events[4].Action != storage.ActionCardStatus || events[4].Reason != "Disable" || events[4].Format != 0 {
		t.Fatalf("read %d events: %+v", len(events), events)
	}
	if err := storage.VerifyChain(events); err != nil {
		t.Fatalf("a format 1 log does not verify: %v", err)
	}
	events[4].Comment = "found again"
	if err := storage.VerifyChain(events); err == nil {
		t.Fatal("an edited format 1 event verifies")
	}
}
