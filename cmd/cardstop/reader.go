package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/reader/pcsc"
)

func readerCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: reader needs list or watch", errUsage)
	}
	switch args[0] {
	case "list":
		return readerList(args[1:], stdout, stderr)
	case "watch":
		return readerWatch(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown reader command %q; use list or watch", errUsage, args[0])
}

func readerList(args []string, stdout, stderr io.Writer) error {
	c := newToolCommand("reader list", "", "Lists the readers pcscd knows, one a line.", stderr, "cardstop reader list")
	if err := c.parseArgs(args, 0); err != nil {
		return err
	}
	names, err := pcsc.List()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Fprintln(stderr, "pcscd knows no reader: is one plugged in?")
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

func readerWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newToolCommand("reader watch", "[--reader SUBSTR[,SUBSTR...]] [--json]", "Prints what happens at the readers until Ctrl-C.",
		stderr, "cardstop reader watch --reader 'Virtual PCD 00 01' --json")
	names := c.fs.String("reader", "", "watch the readers whose names contain one of these comma-separated texts (default: every reader)")
	asJSON := c.fs.Bool("json", false, "print one JSON object per event")
	if err := c.parseArgs(args, 0); err != nil {
		return err
	}
	events, err := pcsc.Watch(ctx, pcsc.Options{Readers: splitList(*names), Logger: slog.New(slog.NewTextHandler(stderr, nil))})
	if err != nil {
		return err
	}
	// A filter that matches no reader would print nothing, as if no card
	// came: say so once, and watch on for such a reader to be plugged in.
	if known, err := pcsc.List(); err == nil {
		if msg := noMatch(splitList(*names), known); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
	}
	enc := json.NewEncoder(stdout)
	for e := range events {
		if *asJSON {
			if err := enc.Encode(lineOf(e)); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(stdout, describe(e))
	}
	return nil
}

// watchLine is an event as `cardstop reader watch --json` prints it, one
// JSON object a line; scripts read it, so its keys stay as they are.
type watchLine struct {
	Event    reader.EventKind `json:"event"`
	Reader   string           `json:"reader,omitempty"`
	ATR      string           `json:"atr,omitempty"` // hex
	Identity *reader.Identity `json:"identity,omitempty"`
	ReadMs   *float64         `json:"read_ms,omitempty"` // from the insert event to the identity
	Time     string           `json:"time"`              // RFC 3339 in UTC, to the nanosecond
	Error    string           `json:"error,omitempty"`
}

// lineOf is the JSON line of an event; identity and read time only for
// an inserted card.
func lineOf(e reader.Event) watchLine {
	l := watchLine{Event: e.Kind, Reader: e.Reader, ATR: hex.EncodeToString(e.ATR), Time: e.Time.UTC().Format(time.RFC3339Nano), Error: e.Err}
	if e.Kind == reader.Inserted {
		id := e.Identity
		ms := float64(e.ReadTime.Microseconds()) / 1000
		l.Identity, l.ReadMs = &id, &ms
	}
	return l
}

// describe is the human form of an event.
func describe(e reader.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-15s", e.Time.Format("15:04:05.000"), e.Kind)
	if e.Reader != "" {
		fmt.Fprintf(&b, " %q", e.Reader)
	}
	if e.Kind == reader.Inserted {
		fmt.Fprintf(&b, " atr=%X identity=%s", e.ATR, e.Identity.Kind)
		if e.Identity.Serial != "" {
			fmt.Fprintf(&b, " serial=%s", e.Identity.Serial)
		}
		fmt.Fprintf(&b, " read=%.1fms", float64(e.ReadTime.Microseconds())/1000)
	}
	if e.Err != "" {
		fmt.Fprintf(&b, " (%s)", e.Err)
	}
	return b.String()
}

// noMatch says that no reader pcscd knows matches the --reader filters,
// and which it knows; "" when one matches, or when there is no filter.
func noMatch(filters, known []string) string {
	if len(filters) == 0 {
		return ""
	}
	for _, n := range known {
		for _, f := range filters {
			if strings.Contains(n, f) {
				return ""
			}
		}
	}
	readers := "none"
	if len(known) > 0 {
		readers = strings.Join(quote(known), ", ")
	}
	return fmt.Sprintf("no reader matches %s; readers: %s (watching for one that does)", strings.Join(quote(filters), " or "), readers)
}

func quote(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}
