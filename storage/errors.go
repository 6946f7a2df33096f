package storage

import (
	"errors"
	"fmt"
)

// The kinds of refusal the store gives. Each maps to one HTTP status in
// the web package; wrap them with context, never replace them.
var (
	// ErrNotFound: the card, request or token does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the change does not fit the record's current state.
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the caller's role may not make this change.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: the input itself is wrong, whatever the state.
	ErrInvalid = errors.New("invalid")
	// ErrDamaged: the file failed its consistency check; nothing is written.
	ErrDamaged = errors.New("database damaged")
	// ErrUnavailable: changes wait for the start-up check, and waited too long.
	ErrUnavailable = errors.New("database unavailable")
	// ErrInUse: another process holds the database file.
	ErrInUse = errors.New("database is in use by another process (is cardstop serve running?)")
)

// Error is a refusal whose message is written for the person or script
// that asked: it names the record and the rule, and holds no internals.
type Error struct {
	Kind error // one of the sentinel errors above
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}
