// Package auth is the mechanics of Cardstop's credentials, without the
// records that hold them, storage or HTTP: API token secrets and their
// SHA-256 hashes, the credential name and role rules, argon2id password
// hashing and checking (a Hasher runs a few at once), the password rules,
// session secrets and their lifetimes, and the Limiter of failed
// authentications by client address or account name.
//
// It imports neither bbolt nor net/http. The storage package keeps the
// Token, User and Session records and calls this package for every hash,
// check and rule, and limits sign-ins with a Limiter; the web package
// reads credentials from requests, answers 401, 403, 429 and 503, and
// counts bad tokens with a Limiter of its own.
//
// Secrets are never kept: only their hashes, which is why every look-up
// here is by hash and no two secrets are ever compared.
package auth
