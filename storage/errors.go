package storage

import "errors"

// The store's own conditions, beside the rules' refusals (domain.ErrNotFound
// and the others). Each maps to one HTTP status in the web package.
var (
	// ErrDamaged: the file failed its consistency check; nothing is written.
	ErrDamaged = errors.New("database damaged")
	// ErrUnavailable: changes wait for the start-up check, and waited too long.
	ErrUnavailable = errors.New("database unavailable")
	// ErrBadCredentials: a sign-in whose user name or password is wrong
	// (which of the two is not said).
	ErrBadCredentials = errors.New("wrong user name or password")
	// ErrLimited: too many failed sign-ins for the name tried, or from the
	// client's address, within auth.FailureWindow; the Error's Wait says
	// how long until the next may be tried. Nothing was checked.
	ErrLimited = errors.New("too many failed sign-ins")
	// ErrBusy: as many passwords as may be checked at once
	// (auth.MaxPasswordWork) were, for all of auth.PasswordWait; the
	// Error's Wait says when to try again. Nothing was checked or changed.
	ErrBusy = errors.New("too many passwords are being checked at once")
	// ErrInUse: another process holds the database file.
	ErrInUse = errors.New("database is in use by another process (is cardstop serve running?)")
)
