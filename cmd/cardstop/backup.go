package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
)

// backup writes a consistent copy of the database to FILE (- for stdout),
// through a temporary file and a rename, so a half-written backup never
// takes a good one's name.
func backup(args []string, stdout, stderr io.Writer) error {
	c := newCommand("backup", "FILE", stderr, "cardstop backup --data-dir ./var /media/usb/cardstop-backup.db")
	return c.withStore(args, 1, func(st *storage.Store) error {
		dest := c.fs.Arg(0)
		if dest == "-" {
			_, err := st.Backup(stdout)
			return err
		}
		n, err := writeAtomically(dest, 0o600, func(w io.Writer) error { _, err := st.Backup(w); return err })
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", dest, n)
		return nil
	})
}

// writeAtomically writes a file through a temporary one, fsync'd, renamed.
func writeAtomically(path string, mode os.FileMode, write func(io.Writer) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cardstop-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, err
	}
	info, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, err
	}
	return info.Size(), syncDir(filepath.Dir(path))
}

// syncDir makes a directory's entries (a rename, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// restore puts a backup in place of the database: it checks the backup
// first, refuses while a server holds the database, and keeps the old file
// beside it.
func restore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("restore", "FILE", stderr, "cardstop restore --data-dir ./var /media/usb/cardstop-backup.db")
	if err := c.parse(args, 1); err != nil {
		return err
	}
	src := c.fs.Arg(0)
	// The backup is copied, the copy checked, and that copy put in place:
	// what was checked is what is restored. Until the check passes,
	// nothing in the data directory is touched.
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	checked, err := writeTemp("cardstop-restore-*.db", func(w io.Writer) error { _, err := io.Copy(w, in); return err })
	if err != nil {
		return fmt.Errorf("copy the backup %s: %w", src, err)
	}
	defer os.Remove(checked)
	if err := checkIsolated(ctx, checked, true); err != nil {
		// Exit status 1: it is the backup that is damaged, not the database.
		return fmt.Errorf("the backup %s cannot be used; nothing was changed: %s", src, strings.ReplaceAll(err.Error(), checked, src))
	}
	// Holding the database open proves no server uses it while it is replaced.
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	db := filepath.Join(*c.dataDir, storage.FileName)
	staged := db + ".restore"
	defer os.Remove(staged) // left only when a step below fails
	if _, err := writeAtomically(staged, 0o600, func(w io.Writer) error {
		f, err := os.Open(checked)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	}); err != nil {
		return err
	}
	old := db + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Link(db, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(staged, db); err != nil {
		return err
	}
	if err := syncDir(*c.dataDir); err != nil { // the rename itself must survive a power cut
		return err
	}
	fmt.Fprintf(stdout, "restored %s; the database before is kept as %s\n", src, old)
	return nil
}

func auditCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: audit needs export or verify", errUsage)
	}
	switch args[0] {
	case "export":
		c := newCommand("audit export", "", stderr, "cardstop audit export --data-dir ./var > audit.jsonl")
		return c.withStore(args[1:], 0, func(st *storage.Store) error {
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
		st, err := c.open()
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

// check runs the consistency check on the database file, read-only, or
// on a database image read from stdin (FILE -: a backup piped in). Exit
// status 3 and the problem on stderr when it is damaged; 1 when the check
// could not run.
func check(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("check", "[-]", stderr, "cardstop check --data-dir ./var")
	if err := c.parse(args, -1); err != nil {
		return err
	}
	path := filepath.Join(*c.dataDir, storage.FileName)
	switch {
	case c.fs.NArg() == 1 && c.fs.Arg(0) == "-":
		tmp, err := writeTemp("cardstop-check-*.db", func(w io.Writer) error { _, err := io.Copy(w, stdin); return err })
		if err != nil {
			return fmt.Errorf("read the database image: %w", err)
		}
		defer os.Remove(tmp)
		path = tmp
	case c.fs.NArg() > 0:
		return fmt.Errorf("%w: check takes no file but - (an image on stdin)", errUsage)
	}
	if _, err := os.Stat(path); err != nil {
		return err
	}
	if err := checkIsolated(ctx, path, false); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %s passed the consistency check\n", path)
	return nil
}

// checkIsolated checks the file at path (and its audit chain, with audit)
// in a child process, `cardstop internal-check`: bbolt's check panics on
// some damaged pages in a goroutine of its own, which ends the process
// that runs it. A crash of the child is the file's damage; it is reported
// as errDamaged, in one line, without the child's stack trace.
func checkIsolated(ctx context.Context, path string, audit bool) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("the check cannot run: %w", err)
	}
	args := []string{"internal-check", path}
	if audit {
		args = append(args, "--audit")
	}
	var problem, crash bytes.Buffer
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = &problem, &crash
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case crashed(crash.Bytes()): // whatever the exit status says
		return fmt.Errorf("%w: the check stopped on a damaged page: %s", errDamaged, firstLine(crash.String()))
	case err == nil:
		return nil
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		return fmt.Errorf("%w: %s", errDamaged, strings.TrimSpace(problem.String()))
	default:
		return fmt.Errorf("the check could not run: %v: %s", err, strings.TrimPrefix(firstLine(crash.String()), "cardstop: "))
	}
}

// crashed says whether a check's stderr shows the Go runtime stopping on
// what it read: a panic, or a fault on the mapped file. Running out of
// memory, or being killed, is not a verdict on the file.
func crashed(stderr []byte) bool {
	return bytes.Contains(stderr, []byte("panic: ")) || bytes.Contains(stderr, []byte("unexpected fault address"))
}

// internalCheck is checkIsolated's child: `cardstop internal-check PATH
// [--audit]`. It says a problem on stdout and exits 3; it may crash.
func internalCheck(args []string, stdout, stderr io.Writer) error {
	c := newToolCommand("internal-check", "PATH [--audit]", "The child process of check, restore and serve's start-up check: not for people.",
		stderr, "cardstop internal-check /tmp/cardstop-check-1.db --audit")
	withAudit := c.fs.Bool("audit", false, "check the audit chain too")
	if err := c.parseArgs(args, 1); err != nil {
		return err
	}
	verify := storage.CheckFile
	if *withAudit {
		verify = storage.Verify
	}
	err := verify(c.fs.Arg(0))
	switch {
	case errors.Is(err, storage.ErrInUse):
		return err
	case err != nil:
		fmt.Fprintln(stdout, err)
		return fmt.Errorf("%w: %v", errDamaged, err)
	}
	return nil
}

// writeTemp writes a new temporary file with write and returns its name;
// the caller removes it. Nothing is left behind when writing fails.
func writeTemp(pattern string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp("", pattern)
	if err != nil {
		return "", err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
