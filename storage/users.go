package storage

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/argon2"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// User is a person's account for the page. The password is stored only as
// an argon2id hash.
type User struct {
	Uuid     guid.GUID
	Name     string
	Role     domain.Role
	Created  time.Time
	Password string `json:",omitempty"` // the hash, in PHC form; never shown
}

// Session is a signed-in browser. Only the SHA-256 of its cookie is stored.
type Session struct {
	User     string
	Created  time.Time
	LastSeen time.Time
}

// Password rules: long enough to resist guessing, short enough to hash cheaply.
const (
	minPassword = 10
	maxPassword = 256
)

// argon2id parameters (OWASP's first choice: 19 MiB, 2 passes, 1 lane):
// about 50 ms on a Raspberry Pi 4.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// Session lifetimes: a session ends after Idle without use, or Absolute
// after sign-in, whichever comes first.
const (
	SessionIdle     = 30 * time.Minute
	SessionAbsolute = 12 * time.Hour
	// touchEvery limits the writes of LastSeen to one per minute a session.
	touchEvery = time.Minute
)

var bucketUsers, bucketSessions = []byte("users"), []byte("sessions")

// Actions on users and sessions.
const (
	ActionUserAdd      Action = "user.add"
	ActionUserPassword Action = "user.password"
	ActionUserRemove   Action = "user.remove"
	ActionSignIn       Action = "user.signin"
	ActionSignOut      Action = "user.signout"
)

func hashPassword(password string) string {
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// checkPassword compares in constant time; a hash it cannot read never matches.
func checkPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || m > 1<<20 || t > 16 || p == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// dummyHash is compared against when the user does not exist, so that an
// unknown name takes as long as a wrong password. It is the hash of 32
// random bytes that were thrown away: nothing matches it. A constant, not
// computed at start, which would cost 19 MiB of memory for nothing.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$DnNjKWpWrotAi5koNKymhA$gxs5NkcrXALtb6ehj7/G1kXXJnmVAOPMMYOyjK2UCdk"

func checkPasswordRules(password string) error {
	switch n := len([]rune(password)); {
	case n < minPassword:
		return domain.Refuse(domain.ErrInvalid, "the password needs at least %d characters", minPassword)
	case len(password) > maxPassword:
		return domain.Refuse(domain.ErrInvalid, "the password is longer than %d bytes", maxPassword)
	}
	return nil
}

// AddUser creates a person's account.
func (s *Store) AddUser(o domain.Origin, name string, role domain.Role, password string) error {
	if !tokenName.MatchString(name) {
		return domain.Refuse(domain.ErrInvalid, "user name %q: use 1-64 letters, digits, '.', '_' or '-'", domain.Clip(name))
	}
	if role < domain.RoleViewer || role > domain.RoleAdmin {
		return domain.Refuse(domain.ErrInvalid, "a user needs a role: viewer, operator or admin")
	}
	if err := checkPasswordRules(password); err != nil {
		return err
	}
	u := User{Uuid: guid.New(), Name: name, Role: role, Created: s.now(), Password: hashPassword(password)}
	return s.update(func(tx *bolt.Tx) error {
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
func (s *Store) SetPassword(o domain.Origin, name, password string) error {
	if err := checkPasswordRules(password); err != nil {
		return err
	}
	hash := hashPassword(password)
	return s.update(func(tx *bolt.Tx) error {
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
func (s *Store) RemoveUser(o domain.Origin, name string) error {
	return s.update(func(tx *bolt.Tx) error {
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
	out := []User{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUsers).ForEach(func(k, v []byte) error {
			var u User
			if err := json.Unmarshal(v, &u); err != nil {
				return fmt.Errorf("decode user %q: %w", k, err)
			}
			u.Password = ""
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

func getUser(tx *bolt.Tx, name string) (User, error) {
	var u User
	ok, err := getJSON(tx.Bucket(bucketUsers), []byte(name), &u)
	if err == nil && !ok {
		err = domain.Refuse(domain.ErrNotFound, "no user is named %q", domain.Clip(name))
	}
	return u, err
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
		return now.Sub(sess.LastSeen) > SessionIdle || now.Sub(sess.Created) > SessionAbsolute
	})
}

// SignIn checks a name and password and starts a session; it returns the
// session's secret for the cookie. A wrong name and a wrong password give
// the same error, ErrBadCredentials, and take the same time.
func (s *Store) SignIn(o domain.Origin, name, password string) (string, User, error) {
	var u User
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		u, err = getUser(tx, name)
		return err
	})
	hash := u.Password
	if err != nil {
		hash = dummyHash
	}
	if !checkPassword(hash, password) || err != nil {
		return "", User{}, &domain.Error{Kind: ErrBadCredentials, Msg: "wrong user name or password"}
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now()
	o.Actor, o.ActorUuid, o.Role = "user:"+name, u.Uuid, u.Role
	err = s.update(func(tx *bolt.Tx) error {
		if err := purgeSessions(tx, now); err != nil {
			return err
		}
		if err := putJSON(tx.Bucket(bucketSessions), hashSecret(secret), Session{User: name, Created: now, LastSeen: now}); err != nil {
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
func (s *Store) SessionUser(secret string) (User, error) {
	key := hashSecret(secret)
	now := s.now()
	var u User
	var sess Session
	var expired, touch bool
	err := s.db.View(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketSessions), key, &sess)
		if err != nil || !ok {
			return domain.Refuse(domain.ErrNotFound, "no such session")
		}
		if now.Sub(sess.LastSeen) > SessionIdle || now.Sub(sess.Created) > SessionAbsolute {
			expired = true
			return nil
		}
		touch = now.Sub(sess.LastSeen) > touchEvery
		u, err = getUser(tx, sess.User)
		return err
	})
	if err != nil {
		return User{}, err
	}
	if (expired || touch) && s.Damaged() == "" { // a damaged file is read, never written
		err = s.update(func(tx *bolt.Tx) error {
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
func (s *Store) SignOut(o domain.Origin, secret string) error {
	key := hashSecret(secret)
	return s.update(func(tx *bolt.Tx) error {
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
