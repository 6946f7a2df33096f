package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
)

// backup writes a consistent copy of the database to FILE (- for stdout),
// through a temporary file and a rename, so a half-written backup never
// takes a good one's name.
func backup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("backup", "FILE", stderr, "cardstop backup --data-dir ./var /media/usb/cardstop-backup.db")
	return c.withReadStore(args, 1, func(st *storage.Store) error {
		dest := c.fs.Arg(0)
		if dest == "-" {
			_, err := st.Backup(ctx, stdout)
			return err
		}
		n, err := writeAtomically(dest, 0o600, func(w io.Writer) error { _, err := st.Backup(ctx, w); return err })
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
	// Holding the database open proves no server uses it while it is
	// replaced. A damaged file, the very one a restore is for, cannot be
	// opened: its lock alone is held.
	st, err := c.open()
	switch {
	case errors.Is(err, storage.ErrDamaged):
		release, err := storage.HoldFile(*c.dataDir, time.Second)
		if err != nil {
			return err
		}
		defer release()
	case err != nil:
		return err
	default:
		defer st.Close()
	}
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
