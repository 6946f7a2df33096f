package storage

import (
	"context"
	"encoding/json"
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
	u := User{Uuid: guid.New(), Name: name, Role: role, Created: s.now(), Password: auth.HashPassword(password)}
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
	hash := auth.HashPassword(password)
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
// the same error, ErrBadCredentials, and take the same time.
func (s *Store) SignIn(ctx context.Context, o domain.Origin, name, password string) (string, User, error) {
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, name)
		return err
	})
	if err != nil {
		auth.CheckNoPassword(password) // as long as a wrong password takes
	}
	if err != nil || !auth.CheckPassword(u.Password, password) {
		return "", User{}, &domain.Error{Kind: ErrBadCredentials, Msg: "wrong user name or password"}
	}
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
