package storage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Token is an API credential for a machine. Only the hash of its secret
// (auth.Hash) is stored.
type Token struct {
	Uuid    guid.GUID
	Name    string
	Role    domain.Role
	Created time.Time
	Hash    []byte
}

// CreateToken makes a token and returns its secret, which is shown once
// and never stored.
func (s *Store) CreateToken(ctx context.Context, o domain.Origin, name string, role domain.Role) (string, Token, error) {
	if err := auth.CheckName("token", name); err != nil {
		return "", Token{}, err
	}
	if err := auth.CheckRole("token", role); err != nil {
		return "", Token{}, err
	}
	secret := auth.NewTokenSecret()
	t := Token{Uuid: guid.New(), Name: name, Role: role, Created: s.now(), Hash: auth.Hash(secret)}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		tokens := tx.Bucket(bucketTokens)
		if tokens.Get([]byte(name)) != nil {
			return domain.Refuse(domain.ErrConflict, "a token named %q exists already", name)
		}
		if err := putJSON(tokens, []byte(name), t); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokensByHash).Put(t.Hash, []byte(name)); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionTokenCreate, Role: role.String(), Name: name})
	})
	if err != nil {
		return "", Token{}, fmt.Errorf("create token: %w", err)
	}
	return secret, t, nil
}

// Tokens lists the tokens by name, without their hashes.
func (s *Store) Tokens() ([]Token, error) {
	return listJSON(s, bucketTokens, func(t *Token) bool { t.Hash = nil; return true })
}

// RevokeToken deletes a token; requests made with it fail from then on.
func (s *Store) RevokeToken(ctx context.Context, o domain.Origin, name string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		var t Token
		ok, err := getJSON(tx.Bucket(bucketTokens), []byte(name), &t)
		if err != nil {
			return err
		}
		if !ok {
			return domain.Refuse(domain.ErrNotFound, "no token is named %q", domain.Clip(name))
		}
		if err := tx.Bucket(bucketTokens).Delete([]byte(name)); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokensByHash).Delete(t.Hash); err != nil {
			return err
		}
		return s.appendEvent(tx, o, Event{Action: ActionTokenRevoke, Role: t.Role.String(), Name: name})
	})
}

// Authenticate returns the token whose secret this is, without its hash.
// The look-up is by the secret's hash, so no comparison of secrets takes
// place at all.
func (s *Store) Authenticate(secret string) (Token, error) {
	if !auth.IsTokenSecret(secret) {
		return Token{}, domain.Refuse(domain.ErrNotFound, "unknown token")
	}
	return cachedView(s, &s.tokens, auth.Digest(secret), func(tx *bolt.Tx, hash [sha256.Size]byte) (Token, error) {
		var t Token
		name := tx.Bucket(bucketTokensByHash).Get(hash[:])
		if name == nil {
			return t, domain.Refuse(domain.ErrNotFound, "unknown token")
		}
		ok, err := getJSON(tx.Bucket(bucketTokens), name, &t)
		if err == nil && !ok {
			err = domain.Refuse(domain.ErrNotFound, "unknown token")
		}
		t.Hash = nil
		return t, err
	})
}
