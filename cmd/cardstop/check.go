package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/cardstop/cardstop/storage"
)

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
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && c.fs.NArg() == 0 {
		return noDatabase(*c.dataDir)
	} else if err != nil {
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

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
