// Package auth is the mechanics of Cardstop's credentials, without the
// records that hold them, storage or HTTP: API token secrets and their
// SHA-256 hashes, the credential name and role rules, argon2id password
// hashing and checking, the password rules, session secrets and their
// lifetimes, and the limiter of failed authentications by client address.
//
// It imports neither bbolt nor net/http. The storage package keeps the
// Token, User and Session records and calls this package for every hash,
// check and rule; the web package reads credentials from requests,
// answers 401, 403 and 429, and counts failures with a Limiter.
//
// Secrets are never kept: only their hashes, which is why every look-up
// here is by hash and no two secrets are ever compared.
package auth
