package wire

import (
	"errors"
	"fmt"
)

// ErrInvalid is what every refusal of the parser wraps: the bytes a
// client sent are malformed, whatever the records hold. Package web
// answers it with 400 and the error's message, which is written for the
// client.
var ErrInvalid = errors.New("invalid")

// invalidError is a refusal of what a client sent.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }
func (e *invalidError) Unwrap() error { return ErrInvalid }

func invalid(format string, a ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, a...)}
}
