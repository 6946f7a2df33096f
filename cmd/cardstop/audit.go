package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/cardstop/cardstop/storage"
)

func auditCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: audit needs export or verify", errUsage)
	}
	switch args[0] {
	case "export":
		c := newCommand("audit export", "", stderr, "cardstop audit export --data-dir ./var > audit.jsonl")
		return c.withReadStore(args[1:], 0, func(st *storage.Store) error {
			events, err := st.Events(0, 0)
			if err != nil {
				return err
			}
			w := bufio.NewWriter(stdout)
			enc := json.NewEncoder(w)
			for _, e := range events {
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			// The chain proves every event but the newest: an export cut short
			// verifies too. Its last hash, kept apart, proves the end.
			if n := len(events); n > 0 {
				fmt.Fprintf(stderr, "exported %d events; the last, #%d, has the hash %s: keep it apart, and "+
					"`cardstop audit verify --last %s FILE` proves that no event was cut off the end\n", n, events[n-1].Seq, events[n-1].Hash, events[n-1].Hash)
			}
			return nil
		})
	case "verify":
		return auditVerify(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown audit command %q; use export or verify", errUsage, args[0])
}

// auditVerify checks an exported log (JSON Lines), or the database's own
// when no file is given: numbering without gaps and an unbroken hash
// chain, and with --last, that the log ends where the export said.
func auditVerify(args []string, stdout, stderr io.Writer) error {
	c := newCommand("audit verify", "[--last HASH] [FILE]", stderr, "cardstop audit verify --last 3f5a...e9 audit.jsonl")
	last := c.fs.String("last", "", "the hash of the newest event, as audit export printed it: proves nothing was cut off the end")
	if err := c.parseArgs(args, -1); err != nil {
		return err
	}
	if c.fs.NArg() > 1 {
		return fmt.Errorf("%w: audit verify takes at most one file", errUsage)
	}
	var events []storage.Event
	if c.fs.NArg() == 1 {
		f, err := os.Open(c.fs.Arg(0))
		if err != nil {
			return err
		}
		defer f.Close()
		if events, err = storage.ReadEventLines(f); err != nil {
			return fmt.Errorf("%s: %w", c.fs.Arg(0), err)
		}
	} else {
		if err := c.configure(); err != nil { // the database's own log: where is it?
			return err
		}
		st, err := c.openWith(storage.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer st.Close()
		if events, err = st.Events(0, 0); err != nil {
			return err
		}
	}
	if err := storage.VerifyChain(events); err != nil {
		return fmt.Errorf("the audit log is NOT intact: %w", err)
	}
	if len(events) == 0 {
		if *last != "" {
			return errors.New("the audit log is NOT intact: it has no events, and --last names one")
		}
		fmt.Fprintln(stdout, "ok: no events")
		return nil
	}
	newest := events[len(events)-1]
	if *last != "" && newest.Hash != *last {
		return fmt.Errorf("the audit log is NOT intact: it ends with #%d (hash %s), not with the event --last names: events were cut off the end, or it is another log", newest.Seq, newest.Hash)
	}
	fmt.Fprintf(stdout, "ok: %d events, numbered without gaps, hash chain intact; the last, #%d, has the hash %s\n", len(events), newest.Seq, newest.Hash)
	return nil
}
