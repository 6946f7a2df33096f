package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// User is a person's account for the page. The password is stored only as
// its argon2id hash (auth.HashPassword).
type User struct {
	Uuid     guid.GUID
	Name     string
	Role     domain.Role
	Created  time.Time
	Password string `json:",omitempty"` // the hash, in PHC form; never shown
}

// Session is a signed-in browser, stored under the hash of its cookie's
// secret (auth.Hash); it lives as long as auth.SessionExpired allows.
type Session struct {
	User     string
	Created  time.Time
	LastSeen time.Time
}

var bucketUsers, bucketSessions = []byte("users"), []byte("sessions")

// Actions on users and sessions.
const (
	ActionUserAdd      Action = "user.add"
	ActionUserPassword Action = "user.password"
	ActionUserRemove   Action = "user.remove"
	ActionSignIn       Action = "user.signin"
	ActionSignInFail   Action = "user.signin.fail" // Name: the name tried; never the password
	ActionSignOut      Action = "user.signout"
)

// AddUser creates a person's account.
func (s *Store) AddUser(ctx context.Context, o domain.Origin, name string, role domain.Role, password string) error {
	if err := auth.CheckName("user", name); err != nil {
		return err
	}
	if err := auth.CheckRole("user", role); err != nil {
		return err
	}
	if err := auth.CheckPasswordRules(password); err != nil {
		return err
	}
	hash, err := s.passwords.Hash(ctx, password)
	if err != nil {
		return passwordErr(err)
	}
	u := User{Uuid: guid.New(), Name: name, Role: role, Created: s.now(), Password: hash}
	return s.update(ctx, func(tx *bolt.Tx) error {
		users := tx.Bucket(bucketUsers)
		if users.Get([]byte(name)) != nil {
			return domain.Refuse(domain.ErrConflict, "a user named %q exists already", name)
		}
		if err := putJSON(users, []byte(name), u); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionUserAdd, Role: role.String(), Name: name})
	})
}

// SetPassword replaces a user's password and ends the user's sessions.
func (s *Store) SetPassword(ctx context.Context, o domain.Origin, name, password string) error {
	if err := auth.CheckPasswordRules(password); err != nil {
		return err
	}
	hash, err := s.passwords.Hash(ctx, password)
	if err != nil {
		return passwordErr(err)
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		u.Password = hash
		if err := putJSON(tx.Bucket(bucketUsers), []byte(name), u); err != nil {
			return err
		}
		if err := endSessions(tx, name); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionUserPassword, Name: name})
	})
}

// RemoveUser deletes an account; its sessions end at once.
func (s *Store) RemoveUser(ctx context.Context, o domain.Origin, name string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		u, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketUsers).Delete([]byte(name)); err != nil {
			return err
		}
		if err := endSessions(tx, name); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionUserRemove, Role: u.Role.String(), Name: name})
	})
}

// Users lists the accounts by name, without their password hashes.
func (s *Store) Users() ([]User, error) {
	return listJSON(s, bucketUsers, func(u *User) bool { u.Password = ""; return true })
}

// HasUsers reports whether any account exists, without reading one: the
// sign-in page asks it on every visit, to say how to make the first.
func (s *Store) HasUsers() (bool, error) {
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ := tx.Bucket(bucketUsers).Cursor().First()
		found = k != nil
		return nil
	})
	return found, err
}

func getUser(tx *bolt.Tx, name string) (User, error) {
	return getFound[User](tx.Bucket(bucketUsers), []byte(name), "no user is named %q", domain.Clip(name))
}

func endSessions(tx *bolt.Tx, name string) error {
	return deleteSessions(tx, func(sess Session) bool { return sess.User == name })
}

// deleteSessions deletes the sessions that match, and any it cannot read.
func deleteSessions(tx *bolt.Tx, match func(Session) bool) error {
	b := tx.Bucket(bucketSessions)
	var gone [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var sess Session
		if json.Unmarshal(v, &sess) != nil || match(sess) {
			gone = append(gone, k)
		}
		return nil
	})
	for _, k := range gone {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// purgeSessions deletes the sessions past their limits: browsers drop the
// cookie when the session ends, so most are never shown again.
func purgeSessions(tx *bolt.Tx, now time.Time) error {
	return deleteSessions(tx, func(sess Session) bool {
		return auth.SessionExpired(sess.Created, sess.LastSeen, now)
	})
}

// SignIn checks a name and password and starts a session; it returns the
// session's secret for the cookie. A wrong name and a wrong password give
// the same error, ErrBadCredentials, and take the same time (but for a
// name that breaks the naming rule, which no account can have); each is
// recorded in the audit log (ActionSignInFail: the name tried, and
// o.Source; never the password).
//
// Attempts are limited per name and per address (o.Source), each to
// auth.MaxSignInFailures within auth.FailureWindow. An attempt counts
// before its password is checked, so parallel guesses cannot all pass the
// limit, and is given back when the password is right or was never
// checked. Beyond the limit SignIn refuses at once (ErrLimited, with the
// wait). The password is checked in its turn (auth.Hasher): ErrBusy when
// no turn came within auth.PasswordWait, ctx's error when the caller left
// first.
func (s *Store) SignIn(ctx context.Context, o domain.Origin, name, password string) (string, User, error) {
	// A name no account can have is limited by address alone, and its
	// password is not checked: it costs no argon2id time or memory, and
	// the limiter keeps no such name.
	named := auth.CheckName("user", name) == nil
	keys := []string{"address " + o.Source}
	if named {
		keys = append(keys, "user "+name)
	}
	attempt, wait := s.signins.Take(keys...)
	if attempt == nil {
		return "", User{}, &domain.Error{Kind: ErrLimited, Wait: wait, Msg: fmt.Sprintf(
			"too many failed sign-ins for this name or from this address; try again in %d s", int((wait+time.Second-1)/time.Second))}
	}
	var u User
	found := named && s.db.View(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, name)
		return err
	}) == nil
	var ok bool
	var err error
	switch {
	case found:
		ok, err = s.passwords.Check(ctx, u.Password, password)
	case named:
		err = s.passwords.CheckNone(ctx, password) // as long as a wrong password takes
	}
	if err != nil { // not checked: no failure
		attempt.GiveBack()
		return "", User{}, passwordErr(err)
	}
	if !ok {
		return "", User{}, s.signInFailed(ctx, o, name)
	}
	attempt.GiveBack()
	secret := auth.NewSessionSecret()
	now := s.now()
	o.Actor, o.ActorUuid, o.Role = "user:"+name, u.Uuid, u.Role
	err = s.update(ctx, func(tx *bolt.Tx) error {
		if err := purgeSessions(tx, now); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketSessions), auth.Hash(secret), Session{User: name, Created: now, LastSeen: now}); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionSignIn, Name: name})
	})
	if err != nil {
		return "", User{}, fmt.Errorf("sign in: %w", err)
	}
	u.Password = ""
	return secret, u, nil
}

// signInFailed records a failed sign-in and returns ErrBadCredentials, or
// the error that kept it from being recorded. Once a password was checked
// its failure is recorded, even when the caller has left meanwhile.
func (s *Store) signInFailed(ctx context.Context, o domain.Origin, name string) error {
	err := s.update(context.WithoutCancel(ctx), func(tx *bolt.Tx) error {
		return s.appendEvent(tx, o, Event{Action: ActionSignInFail, Name: domain.Clip(name)})
	})
	if err != nil {
		return fmt.Errorf("record a failed sign-in: %w", err)
	}
	return &domain.Error{Kind: ErrBadCredentials, Msg: "wrong user name or password"}
}

// passwordErr is the store's refusal for a password not hashed or checked
// (auth.Hasher): ErrBusy, or the context's error as it is.
func passwordErr(err error) error {
	if errors.Is(err, auth.ErrBusy) {
		return &domain.Error{Kind: ErrBusy, Wait: time.Second,
			Msg: "too many passwords are being checked at once; try again in 1 s"}
	}
	return err
}

// SessionUser returns the user of a live session. A session past its idle
// or absolute limit, or whose user is gone, is ended and not found.
func (s *Store) SessionUser(ctx context.Context, secret string) (User, error) {
	key := auth.Hash(secret)
	now := s.now()
	var u User
	var sess Session
	var expired, touch bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketSessions), key, &sess)
		if err != nil || !ok {
			return domain.Refuse(domain.ErrNotFound, "no such session")
		}
		if auth.SessionExpired(sess.Created, sess.LastSeen, now) {
			expired = true
			return nil
		}
		touch = auth.SessionStale(sess.LastSeen, now)
		u, err = getUser(tx, sess.User)
		return err
	})
	if err != nil {
		return User{}, err
	}
	if (expired || touch) && s.Damaged() == "" { // a damaged file is read, never written
		err = s.update(ctx, func(tx *bolt.Tx) error {
			if expired {
				return tx.Bucket(bucketSessions).Delete(key)
			}
			sess.LastSeen = now
			return putJSON(tx.Bucket(bucketSessions), key, sess)
		})
		if err != nil {
			return User{}, fmt.Errorf("session: %w", err)
		}
	}
	if expired {
		return User{}, domain.Refuse(domain.ErrNotFound, "the session has expired")
	}
	u.Password = ""
	return u, nil
}

// SignOut ends a session.
func (s *Store) SignOut(ctx context.Context, o domain.Origin, secret string) error {
	key := auth.Hash(secret)
	return s.update(ctx, func(tx *bolt.Tx) error {
		var sess Session
		ok, err := getJSON(tx.Bucket(bucketSessions), key, &sess)
		if err != nil || !ok {
			return err
		}
		if err := tx.Bucket(bucketSessions).Delete(key); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionSignOut, Name: sess.User})
	})
}
