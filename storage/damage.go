package storage

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/cardstop/cardstop/storage/domain"
)

// DamageError is a database file that cannot be opened as one: it is
// empty, cut short, not a bbolt file, or bbolt stopped on a page it could
// not read. Nothing was written to it. errors.Is(err, ErrDamaged) holds.
type DamageError struct {
	Path    string
	Problem string // what is wrong, e.g. "it is cut short (...)"
}

func (e *DamageError) Error() string { return "the database is damaged: " + e.Path + ": " + e.Problem }

// Is makes a DamageError an ErrDamaged.
func (e *DamageError) Is(target error) bool { return target == ErrDamaged }

// ErrNoDatabase: a read-only open found no database file; nothing was
// created.
var ErrNoDatabase = errors.New("no database")

// database is bbolt's DB with its reads guarded: bbolt trusts the file,
// and on a damaged one it panics (an assertion, an index out of range) or
// faults (a page past the end of a file cut short) in the goroutine that
// reads. View turns exactly those into an ErrDamaged error, and tells
// onDamage; a panic in Cardstop's own code goes on as a panic.
type database struct {
	*bolt.DB
	onDamage func(problem string) // nil: nobody to tell
}

// View is bbolt's View, with a damaged page an ErrDamaged error. bbolt's
// View rolls its transaction back while the panic passes through, so the
// DB stays usable for the pages that can be read.
func (d database) View(fn func(*bolt.Tx) error) error {
	return d.guard(func() error { return d.DB.View(fn) })
}

// Update is bbolt's Update, guarded as View is (used by Open; changes go
// through groupCommit, which has its own guard).
func (d database) Update(fn func(*bolt.Tx) error) error {
	return d.guard(func() error { return d.DB.Update(fn) })
}

func (d database) guard(fn func() error) error {
	problem, err := guarded(fn)
	if problem == "" {
		return err
	}
	if d.onDamage != nil {
		d.onDamage(problem)
	}
	return &domain.Error{Kind: ErrDamaged, Msg: "the database is damaged: " + problem}
}

// guarded runs fn in this goroutine with faults on the mapped file turned
// into panics (debug.SetPanicOnFault), and returns, when fn panicked
// inside bbolt or faulted, what went wrong as problem. Any other panic is
// not the file's doing and goes on.
func guarded(fn func() error) (problem string, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if !libraryPanic(p) {
			panic(p)
		}
		problem = fmt.Sprintf("bbolt stopped on a page it cannot read (%v)", p)
		if f, fault := p.(interface{ Addr() uintptr }); fault {
			problem = fmt.Sprintf("a read of the file faulted at %#x (the file was cut short, or the disk failed)", f.Addr())
		}
	}()
	return "", fn()
}

// libraryPanic says whether the panic under way, p, comes from reading the
// file: a fault at a real address (the mapped file: Cardstop does no
// unsafe memory access of its own), or a panic raised in bbolt's code. It
// must be called from the deferred function that recovered p.
func libraryPanic(p any) bool {
	if _, fault := p.(interface{ Addr() uintptr }); fault {
		return true
	}
	pc := make([]uintptr, 64)
	frames := runtime.CallersFrames(pc[:runtime.Callers(3, pc)])
	seenRuntime := false
	for {
		f, more := frames.Next()
		switch {
		case strings.HasPrefix(f.Function, "runtime."):
			seenRuntime = true // gopanic, then panicIndex, sigpanic, ...
		case seenRuntime: // the first frame below the runtime's raised it
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt.") || strings.HasPrefix(f.Function, "go.etcd.io/bbolt/")
		}
		if !more {
			return false
		}
	}
}

// openBolt opens the file with bbolt. A file that is empty, cut short
// (shorter than the pages its header counts), not a bbolt file, or whose
// pages bbolt cannot read while opening is a *DamageError, and nothing is
// written to it: it is first opened read-only, and only a file that
// passes is opened for writing (when readOnly is false).
func openBolt(path string, readOnly bool, timeout time.Duration) (*bolt.DB, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Size() == 0 {
		// bbolt would make a new database of it; an empty file is not
		// one Cardstop made (bbolt writes its first pages at once).
		return nil, &DamageError{path, "it is empty"}
	}
	db, err := openGuarded(path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	var size int64
	_ = db.View(func(tx *bolt.Tx) error { size = tx.Size(); return nil }) // the header's count: no page is read
	if now, err := os.Stat(path); err == nil && now.Size() < size {
		db.Close()
		return nil, &DamageError{path, fmt.Sprintf("it is cut short (%d bytes; its header says %d)", now.Size(), size)}
	}
	if readOnly {
		return db, nil
	}
	db.Close()
	return openGuarded(path, &bolt.Options{Timeout: timeout})
}

// openGuarded is bbolt.Open, which reads the free-page list of a writable
// file while opening and panics (or faults) on a damaged one. The panic
// leaves bbolt's file open and locked, and its mapping in place; the file
// is closed here (which drops the lock), the mapping, which bbolt offers
// no way to reach, stays until the process ends.
func openGuarded(path string, opt *bolt.Options) (*bolt.DB, error) {
	var file *os.File
	opt.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	var db *bolt.DB
	var err error
	problem, _ := guarded(func() error { db, err = bolt.Open(path, 0o600, opt); return nil })
	switch {
	case problem != "":
		if file != nil {
			file.Close()
		}
		return nil, &DamageError{path, problem}
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: %w", path, ErrInUse)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		err != nil && strings.Contains(err.Error(), "file size too small"):
		return nil, &DamageError{path, "bbolt cannot open it (" + err.Error() + ")"}
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}
