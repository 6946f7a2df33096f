//go:build cgo

package pcscdtest

import (
	"testing"

	"github.com/ebfe/scard"
)

// CardPresent says whether pcscd's own state of the reader is "a card is
// present": unlike a read, which fails as soon as vpcd has dropped the
// card, this changes only once pcscd's poll has seen it.
func CardPresent(t testing.TB, name string) bool {
	t.Helper()
	ctx, err := scard.EstablishContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Release()
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	if err := ctx.GetStatusChange(rs, 0); err != nil {
		t.Fatal(err)
	}
	return rs[0].EventState&scard.StatePresent != 0
}
