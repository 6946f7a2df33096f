package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/cardstop/cardstop/storage"
)

func outboxCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: outbox needs list, retry or drop", errUsage)
	}
	switch args[0] {
	case "list":
		return outboxList(args[1:], stdout, stderr)
	case "retry":
		return outboxAct(ctx, "retry", args[1:], stdout, stderr)
	case "drop":
		return outboxAct(ctx, "drop", args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown outbox command %q; use list, retry or drop", errUsage, args[0])
}

// outboxPage is how many parked items outbox list reads at a time.
const outboxPage = 500

// outboxList prints each sink's counts, then every parked item.
func outboxList(args []string, stdout, stderr io.Writer) error {
	c := newCommand("outbox list", "", stderr, "cardstop outbox list --data-dir ./var")
	return c.withReadStore(args, 0, func(st *storage.Store) error {
		counts, err := st.OutboxCounts()
		if err != nil {
			return err
		}
		if len(counts) == 0 {
			fmt.Fprintln(stdout, "the outbox is empty: no change is waiting for an upstream or a webhook")
			return nil
		}
		now := time.Now()
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SINK\tPENDING\tPARKED\tOLDEST PENDING")
		for _, n := range counts {
			age := "-"
			if !n.OldestPending.IsZero() {
				age = now.Sub(n.OldestPending).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", n.Sink, n.Pending, n.Parked, age)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		header := false
		for _, n := range counts {
			for after := uint64(0); ; {
				items, err := st.OutboxParked(n.Sink, after, outboxPage)
				if err != nil {
					return err
				}
				if len(items) == 0 {
					break
				}
				if !header {
					fmt.Fprintln(tw, "\nPARKED\nSINK\tSEQ\tCARD\tSERIAL\tCHANGE\tCOMMITTED\tPROBLEM")
					header = true
				}
				for _, it := range items {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s→%s\t%s\t%s\n", it.Sink, it.Seq, it.Card, it.Serial,
						it.From, it.To, it.Committed.UTC().Format(time.RFC3339), it.Problem)
				}
				after = items[len(items)-1].Seq
			}
		}
		return tw.Flush()
	})
}

// outboxAct is outbox retry and outbox drop: for a parked item, as the
// command line's admin, audited.
func outboxAct(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	c := newCommand("outbox "+verb, "[--sink SINK] SEQ", stderr,
		"cardstop outbox "+verb+" --data-dir ./var --sink upstream 12   # with cardstop serve stopped")
	sink := c.fs.String("sink", storage.SinkUpstream, `the sink: "upstream" or "webhook URL", as outbox list names it`)
	if err := c.parse(args, 1); err != nil {
		return err
	}
	seq, err := strconv.ParseUint(c.fs.Arg(0), 10, 64)
	if err != nil || seq == 0 {
		return fmt.Errorf("%w: SEQ must be a parked item's number (outbox list shows them), not %q", errUsage, c.fs.Arg(0))
	}
	return c.useWith(storage.Options{Existing: true}, func(st *storage.Store) error {
		it, err := st.OutboxItemAt(*sink, seq)
		if err != nil {
			return err
		}
		if it.Parked.IsZero() {
			return fmt.Errorf("change %d to %s is pending, not parked: it is being delivered, and only a parked change can be retried or dropped", seq, *sink)
		}
		what := fmt.Sprintf("change %d to %s (card %s, %s→%s)", seq, *sink, it.Card, it.From, it.To)
		if verb == "retry" {
			if err := st.OutboxRetry(ctx, cliOrigin(), *sink, seq); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "retried %s: it is pending again and goes out when the service runs\n", what)
			return nil
		}
		if err := st.OutboxDrop(ctx, cliOrigin(), *sink, seq); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dropped %s: the change stays made here, and %s never hears of it\n", what, *sink)
		return nil
	})
}
