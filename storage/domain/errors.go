package domain

import (
	"errors"
	"fmt"
	"time"
)

// The kinds of refusal the rules give. Each maps to one HTTP status in
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
)

// Error is a refusal whose message is written for the person or script
// that asked: it names the record and the rule, and holds no internals.
type Error struct {
	Kind error // ErrNotFound, ErrConflict, ErrForbidden, ErrInvalid, or a kind of the store's
	Msg  string
	// Wait, when not zero, is how long to wait before trying again
	// (Retry-After): a refusal for now, not for good.
	Wait time.Duration
}

func (e *Error) Error() string { return e.Msg }

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

// Refuse returns an Error of the given kind with a formatted message.
func Refuse(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}
