package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// outboxCard is the documentation's example card 438d1b30-f3b4-4bed-85fa-285e08605ba7.
var outboxCard = guid.GUID{0x43, 0x8d, 0x1b, 0x30, 0xf3, 0xb4, 0x4b, 0xed, 0x85, 0xfa, 0x28, 0x5e, 0x08, 0x60, 0x5b, 0xa7}

// parkedOutbox makes a database in a new directory whose upstream refused
// one disable for good, and returns the directory and the parked item's
// number.
func parkedOutbox(t *testing.T) (string, uint64) {
	t.Helper()
	dir := t.TempDir()
	st, err := storage.Open(dir, storage.Options{Sinks: []string{storage.SinkUpstream}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, admin := context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}
	card := storage.Smartcard{Uuid: outboxCard, SerialNumber: "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}", Status: domain.CardActive}
	if err := st.ImportCards(ctx, admin, []storage.Smartcard{card}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Apply(ctx, admin, domain.Command{Card: outboxCard, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); err != nil {
		t.Fatal(err)
	}
	pending, err := st.OutboxPending(storage.SinkUpstream, 0, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending after a disable: %v %v", pending, err)
	}
	if err := st.OutboxPark(ctx, admin, pending[0], "409: the smartcard is Retired upstream"); err != nil {
		t.Fatal(err)
	}
	return dir, pending[0].Seq
}

// lastEvent is the newest audit event of the database in dir.
func lastEvent(t *testing.T, dir string) storage.Event {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events, err := st.Events(0, 0)
	if err != nil || len(events) == 0 {
		t.Fatalf("events: %v %v", events, err)
	}
	return events[len(events)-1]
}

func TestOutboxList(t *testing.T) {
	dir, seq := parkedOutbox(t)
	code, out, stderr := cardstop(t, "", "outbox", "list", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"SINK      PENDING  PARKED  OLDEST PENDING\nupstream  0        1       -\n",
		"PARKED\nSINK      SEQ  CARD", outboxCard.String(), "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}", "Active→Disabled",
		"409: the smartcard is Retired upstream"} {
		if !strings.Contains(out, want) {
			t.Errorf("outbox list lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "upstream  "+itoa(seq)+" ") {
		t.Errorf("outbox list does not number the parked item %d:\n%s", seq, out)
	}
}

func TestOutboxRetryAndDrop(t *testing.T) {
	tests := []struct {
		verb   string
		out    string
		action storage.Action
		after  string // what outbox list then says of upstream
	}{
		{"retry", "retried change 1 to upstream (card " + outboxCard.String() + ", Active→Disabled): it is pending again", storage.ActionOutboxRetry, "upstream  1        0"},
		{"drop", "dropped change 1 to upstream (card " + outboxCard.String() + ", Active→Disabled): the change stays made here", storage.ActionOutboxDrop, "upstream  0        0"},
	}
	for _, tt := range tests {
		t.Run(tt.verb, func(t *testing.T) {
			dir, seq := parkedOutbox(t)
			code, out, stderr := cardstop(t, "", "outbox", tt.verb, "--data-dir", dir, itoa(seq))
			if code != 0 || !strings.HasPrefix(out, tt.out) || strings.Count(out, "\n") != 1 {
				t.Fatalf("exit %d, %q %q; want one line %q", code, out, stderr, tt.out)
			}
			if ev := lastEvent(t, dir); ev.Action != tt.action || ev.Actor != "cli" || ev.CardUuid != outboxCard || ev.Name != storage.SinkUpstream {
				t.Errorf("the audit event: %+v", ev)
			}
			if _, out, _ := cardstop(t, "", "outbox", "list", "--data-dir", dir); !strings.Contains(out, tt.after) {
				t.Errorf("after %s, outbox list says:\n%s", tt.verb, out)
			}
			// Done once, the item is no longer parked.
			if code, _, stderr := cardstop(t, "", "outbox", tt.verb, "--data-dir", dir, itoa(seq)); code != 1 || strings.Count(stderr, "\n") != 1 {
				t.Errorf("%s again: exit %d, %q", tt.verb, code, stderr)
			}
		})
	}
}

func TestOutboxErrors(t *testing.T) {
	dir, _ := parkedOutbox(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no verb", []string{"outbox"}, 2, "outbox needs list, retry or drop"},
		{"unknown verb", []string{"outbox", "flush"}, 2, `unknown outbox command "flush"`},
		{"retry without a number", []string{"outbox", "retry", "--data-dir", dir}, 2, "takes 1 argument"},
		{"retry of no number", []string{"outbox", "retry", "--data-dir", dir, "twelve"}, 2, `SEQ must be a parked item's number (outbox list shows them), not "twelve"`},
		{"drop of item 0", []string{"outbox", "drop", "--data-dir", dir, "0"}, 2, "SEQ must be"},
		{"retry of an unknown item", []string{"outbox", "retry", "--data-dir", dir, "99"}, 1, "cardstop: there is no outbox item 99 for upstream\n"},
		{"drop for an unknown sink", []string{"outbox", "drop", "--data-dir", dir, "--sink", "webhook https://siem.example/hook", "1"}, 1,
			"cardstop: there is no outbox item 1 for webhook https://siem.example/hook\n"},
		{"list without a database", []string{"outbox", "list", "--data-dir", filepath.Join(dir, "none")}, 1, "no database at " + filepath.Join(dir, "none") + " (is --data-dir right?)"},
		{"help", []string{"outbox", "retry", "--help"}, 0, "with cardstop serve stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cardstop(t, "", tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
	if ev := lastEvent(t, dir); ev.Action != storage.ActionOutboxPark {
		t.Errorf("a refused command wrote %+v", ev)
	}
}

// TestOutboxPending: a change on its way is not the admin's to retry or drop.
func TestOutboxPending(t *testing.T) {
	dir, seq := parkedOutbox(t)
	if code, _, stderr := cardstop(t, "", "outbox", "retry", "--data-dir", dir, itoa(seq)); code != 0 {
		t.Fatal(stderr)
	}
	code, _, stderr := cardstop(t, "", "outbox", "drop", "--data-dir", dir, itoa(seq))
	if code != 1 || !strings.Contains(stderr, "change 1 to upstream is pending, not parked") {
		t.Fatalf("drop of a pending change: exit %d, %q", code, stderr)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// TestOutboxHelp: the outbox's commands answer --help with their usage and
// an example, and exit 0.
func TestOutboxHelp(t *testing.T) {
	for _, args := range [][]string{{"outbox", "--help"}, {"outbox", "list", "--help"}, {"outbox", "retry", "--help"}, {"outbox", "drop", "--help"}} {
		code, out, stderr := cardstop(t, "", args...)
		if code != 0 || !strings.Contains(out+stderr, "usage") || !strings.Contains(out+stderr, "example") {
			t.Errorf("cardstop %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
	}
}

// TestOutboxDamagedFile: on a file that is no database, the outbox's
// commands exit 3 and change nothing.
func TestOutboxDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, storage.FileName)
	junk := []byte("this is no database, only a text file that happens to sit where one should be")
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"outbox", "list"}, {"outbox", "retry", "1"}, {"outbox", "drop", "1"}} {
		code, _, stderr := cardstop(t, "", append(args, "--data-dir", dir)...)
		if code != 3 || strings.Contains(stderr, "goroutine ") {
			t.Errorf("cardstop %s: exit %d, %q; want 3", strings.Join(args, " "), code, stderr)
		}
		if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, junk) {
			t.Fatalf("cardstop %s changed the file: %v", strings.Join(args, " "), err)
		}
	}
}
