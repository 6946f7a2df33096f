// Package storage keeps Cardstop's records in one bbolt file: smartcards,
// requests, the hash-chained audit log and API tokens. It also owns the
// rules of state change, so that every path that changes a card (REST API,
// page, walk-up station) goes through the same checks, and every change
// commits together with its audit event before anyone is told.
package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// SchemaVersion is the layout of the file this code reads and writes.
// A later version that changes the layout migrates from the stored one.
const SchemaVersion = 2

// FileName is the database's name inside the data directory.
const FileName = "cardstop.db"

var (
	bucketMeta         = []byte("meta")
	bucketCards        = []byte("cards")
	bucketCardsSerial  = []byte("cards.serial")
	bucketCardsUser    = []byte("cards.user")
	bucketCardsStatus  = []byte("cards.status")
	bucketRequests     = []byte("requests")
	bucketAudit        = []byte("audit")
	bucketTokens       = []byte("tokens")
	bucketTokensByHash = []byte("tokens.hash")

	bucketAuditByCard = []byte("audit.card")

	allBuckets = [][]byte{bucketMeta, bucketCards, bucketCardsSerial, bucketCardsUser, bucketCardsStatus,
		bucketRequests, bucketAudit, bucketAuditByCard, bucketTokens, bucketTokensByHash, bucketUsers, bucketSessions,
		bucketRequestKeys, bucketOutbox}

	keySchema = []byte("schema")
)

// Options tune Open. The zero value is what the service uses.
type Options struct {
	// LockTimeout is how long Open waits for another process to let go of
	// the file before it gives up with ErrInUse. Zero means one second.
	LockTimeout time.Duration
	// Now is the clock for record and audit times. Nil means time.Now.
	Now func() time.Time
	// ClockSynced says whether the system clock has been synchronised
	// since boot; events made before are marked. Nil: always.
	ClockSynced func() bool
	// Changed, when set, is told of each committed change of a card's
	// status (not of a change that changed nothing), after the commit:
	// the service counts them for its metrics. It must not block.
	Changed func(o domain.Origin, to domain.CardStatus)
	// Sinks name where each committed change of a card's status goes
	// beyond this file (SinkUpstream, SinkWebhook): an outbox item for
	// each is written in the change's transaction. None: no outbox.
	Sinks []string
	// Existing opens an existing file for changing: a missing one is
	// ErrNoDatabase, and nothing is created (a command that changes what
	// must already be there: revoke a token, retry an outbox item).
	Existing bool
	// ReadOnly opens an existing file for reading only, writing nothing
	// to it: no file is created (ErrNoDatabase), and every change fails.
	ReadOnly bool
	// InjectFault, when set, is called after each write transaction's work
	// and before its commit; an error it returns aborts the transaction as
	// a failed commit would. FOR TESTS ONLY: NEVER SET IT IN THE SERVICE.
	InjectFault func() error
	// ObservePasswordWork, when set, is called as each argon2id hash or
	// check of a password begins, and the function it returns as it ends
	// (auth.Hasher's Observe). FOR TESTS ONLY.
	ObservePasswordWork func() (done func())
}

// Store is an open database. Its methods are safe for concurrent use.
type Store struct {
	db          database
	commits     groupCommit
	now         func() time.Time
	fault       func() error
	clockSynced func() bool
	damaged     atomic.Pointer[string]        // why changes are refused, once the file failed its check
	held        atomic.Pointer[chan struct{}] // closed when held changes may go on
	changed     func(o domain.Origin, to domain.CardStatus)
	signins     *auth.Limiter                       // sign-in attempts, by account name and by address
	passwords   *auth.Hasher                        // every argon2id hash and check, a few at once
	mapped      mappedPages                         // the file's pages listings read, dropped now and then
	sinks       []string                            // the outbox's sinks (Options.Sinks)
	tokens      readCache[[sha256.Size]byte, Token] // by the secret's hash
	cards       readCache[guid.GUID, Smartcard]     // by uuid
	serials     atomic.Pointer[serialList]          // the serial index, for searches (serials.go)
}

// How many records the read caches keep (cache.go): every token a site
// has, and the cards asked for most (a Smartcard is under 1 KB).
const (
	cachedTokens = 256
	cachedCards  = 4096
)

// Open opens (or creates) the database in dir. It fails with ErrInUse when
// another process holds the file, refuses a file written by a newer
// version of Cardstop, and returns a *DamageError (an ErrDamaged) for a
// file it cannot read as a database, having written nothing to it. With
// opt.ReadOnly a missing file is ErrNoDatabase, and nothing is created.
func Open(dir string, opt Options) (*Store, error) {
	if opt.LockTimeout == 0 {
		opt.LockTimeout = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	path := filepath.Join(dir, FileName)
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, os.ErrNotExist)
	var db *bolt.DB
	var err error
	switch {
	case created && (opt.ReadOnly || opt.Existing):
		return nil, fmt.Errorf("%w at %s", ErrNoDatabase, dir)
	case created:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: opt.LockTimeout})
		if errors.Is(err, berrors.ErrTimeout) {
			err = fmt.Errorf("open %s: %w", path, ErrInUse)
		} else if err != nil {
			err = fmt.Errorf("open %s: %w", path, err)
		}
	default:
		db, err = openBolt(path, opt.ReadOnly, opt.LockTimeout)
	}
	if err != nil {
		return nil, err
	}
	if opt.ClockSynced == nil {
		opt.ClockSynced = func() bool { return true }
	}
	s := &Store{db: database{DB: db}, commits: groupCommit{db: db}, now: func() time.Time { return opt.Now().UTC() }, fault: opt.InjectFault, clockSynced: opt.ClockSynced, changed: opt.Changed,
		sinks: slices.Clone(opt.Sinks), tokens: readCache[[sha256.Size]byte, Token]{max: cachedTokens}, cards: readCache[guid.GUID, Smartcard]{max: cachedCards}}
	s.commits.onBroken = s.RefuseChanges
	s.signins = auth.NewLimiter(auth.MaxSignInFailures, s.now)
	s.passwords = auth.NewHasher(auth.MaxPasswordWork, auth.PasswordWait)
	s.passwords.Observe = opt.ObservePasswordWork
	check := s.init
	if opt.ReadOnly {
		check = s.schema
	}
	if err := check(); err != nil {
		db.Close()
		var damaged *domain.Error
		if errors.As(err, &damaged) && damaged.Kind == ErrDamaged {
			return nil, &DamageError{path, strings.TrimPrefix(damaged.Msg, "the database is damaged: ")}
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// From now on a page found damaged while reading refuses every change.
	s.db.onDamage = s.RefuseChanges
	if created {
		// A new file's directory entry must survive a power cut too.
		if err := syncDir(dir); err != nil {
			db.Close()
			return nil, err
		}
	}
	return s, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync data directory: %w", err)
	}
	return nil
}

// init creates the buckets of a new file and checks the schema of an old one.
func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keySchema)
		if v == nil {
			return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("unreadable schema version %q", v)
		}
		if n > SchemaVersion {
			return fmt.Errorf("the database has schema version %d; this cardstop reads up to %d: upgrade cardstop", n, SchemaVersion)
		}
		if n < 2 {
			if err := migrateTo2(tx); err != nil {
				return fmt.Errorf("migrate the database to schema version 2: %w", err)
			}
		}
		if n == SchemaVersion {
			return nil
		}
		return meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// migrateTo2 takes the Active cards out of the status index (see
// statusIndexed), in the transaction that opens the file.
func migrateTo2(tx *bolt.Tx) error {
	c := tx.Bucket(bucketCardsStatus).Cursor()
	active := []byte{byte(domain.CardActive)}
	for k, _ := c.Seek(active); k != nil && k[0] == active[0]; k, _ = c.Seek(active) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// schema checks, reading only, that the file is a Cardstop database this
// code reads.
func (s *Store) schema() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("it has no Cardstop schema")
		}
		n, err := strconv.Atoi(string(meta.Get(keySchema)))
		if err != nil || n < 1 || n > SchemaVersion {
			return fmt.Errorf("its schema version %q is not one this cardstop reads (1-%d)", meta.Get(keySchema), SchemaVersion)
		}
		return nil
	})
}

// update runs a write transaction, unless the file is marked damaged. It
// returns once the transaction is committed and fsync'd, or rolled back.
// Concurrent writers share a commit (groupCommit): one fsync for many
// changes. fn may therefore run more than once (when another change of
// its group fails, or alone when it fails itself), so it keeps no state
// outside tx but what it sets anew on each run.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if held := s.held.Load(); held != nil {
		t := time.NewTimer(holdLimit)
		defer t.Stop()
		select {
		case <-*held:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the database check after start-up: %w", ctx.Err())
		case <-t.C:
			return &domain.Error{Kind: ErrUnavailable, Msg: "the database check after start-up is still running; changes wait for it: try again in a moment"}
		}
	}
	// A caller that left before its change reached a commit changes
	// nothing; once in a commit, the change is made (and recorded) even if
	// the caller leaves meanwhile.
	if err := ctx.Err(); err != nil {
		return err
	}
	if why := s.damaged.Load(); why != nil {
		return &domain.Error{Kind: ErrDamaged, Msg: "the database failed its check (" + *why + "); changes are refused until it is restored from a backup"}
	}
	err := s.commits.do(func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.fault != nil {
			return s.fault()
		}
		return nil
	})
	if err == nil {
		s.mapped.wrote(s.db)
	}
	return err
}

// holdLimit is how long a change waits for the start-up check.
const holdLimit = 20 * time.Second

// HoldChanges makes every change wait, at most holdLimit, until
// ReleaseChanges or RefuseChanges: serve holds them while the start-up
// check runs, so that nothing is written to a file that may be damaged.
// Reads go on.
func (s *Store) HoldChanges() {
	ch := make(chan struct{})
	s.held.Store(&ch)
}

// ReleaseChanges lets held changes, and later ones, go on.
func (s *Store) ReleaseChanges() {
	if ch := s.held.Swap(nil); ch != nil {
		close(*ch)
	}
}

// Checking says whether changes are held for the start-up check.
func (s *Store) Checking() bool { return s.held.Load() != nil }

// RefuseChanges makes the store refuse every change from then on, saying
// why: a file that failed its check is not written to on a guess.
func (s *Store) RefuseChanges(why string) {
	s.damaged.Store(&why)
	s.ReleaseChanges()
}

// Damaged says why changes are refused, or "" when they are not.
func (s *Store) Damaged() string {
	if why := s.damaged.Load(); why != nil {
		return *why
	}
	return ""
}

// Close closes the file. The Store must not be used afterwards.
func (s *Store) Close() error { return s.db.Close() }

// Ping reads the file's schema version: a cheap sign that the database
// answers, for the readiness probe.
func (s *Store) Ping() error {
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(keySchema) == nil {
			return errors.New("the database has no schema version")
		}
		return nil
	})
}

// Check runs bbolt's consistency check over the whole file and returns the
// first problem it finds.
//
// bbolt checks in a goroutine of its own, which panics on some damaged
// pages; its deferred close of the error channel runs all the same, so a
// drained channel does not mean the check finished. Check therefore also
// waits for that very goroutine to be gone (drainCheck): a panicking one
// never is, and the panic ends the process first (which is why the check
// runs in a child process of its own, see CheckFile). A panic on a damaged
// page is thus never read as a pass.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		return drainCheck(func() <-chan error { return tx.Check() }, checkerLimit)
	})
}

// checkerLimit is how long Check waits for bbolt's checker goroutine to
// end once it has closed its channel; it ends at once unless it panicked.
const checkerLimit = 10 * time.Second

// checkerLabel marks, as a profiler label, the goroutines a check starts:
// each check has a value of its own (checkerSeq), which the goroutines
// bbolt starts for it inherit, so that drainCheck can see exactly them.
const checkerLabel = "cardstop.checker"

var checkerSeq atomic.Uint64

// drainCheck starts a check with start, gathers the errors it sends, and
// returns the first once the channel is closed and every goroutine that
// start started has ended. If one is still there after limit, it returns
// an error: the check is never a pass unless it ran to its end.
func drainCheck(start func() <-chan error, limit time.Duration) error {
	id := strconv.FormatUint(checkerSeq.Add(1), 10)
	var ch <-chan error
	pprof.Do(context.Background(), pprof.Labels(checkerLabel, id), func(context.Context) { ch = start() })
	var first error
	for err := range ch { // drain: the checker's goroutine sends every error
		if first == nil {
			first = fmt.Errorf("database check: %w", err)
		}
	}
	// The goroutine ends at once after closing the channel, unless it is
	// panicking: look again soon, then less often.
	pause := 100 * time.Microsecond
	for deadline := time.Now().Add(limit); labelled(checkerLabel, id); pause = min(2*pause, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("database check: the checker did not finish")
		}
		time.Sleep(pause)
	}
	return first
}

// labelled says whether a goroutine with the profiler label key=value
// exists, from the goroutine profile (which prints labels as {"k":"v"}).
func labelled(key, value string) bool {
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		return true // unknown: wait, and let the deadline say so
	}
	return bytes.Contains(b.Bytes(), []byte(strconv.Quote(key)+":"+strconv.Quote(value)))
}

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	data := b.Get(key)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode record %x: %w", key, err)
	}
	return true, nil
}

// listJSON reads every record of a bucket, in key order, in a read
// transaction, and returns those keep accepts; keep may also blank what
// must not leave the store (a hash). A nil keep takes every record.
func listJSON[T any](s *Store, bucket []byte, keep func(*T) bool) ([]T, error) {
	out := []T{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			var rec T
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode %s record %x: %w", bucket, k, err)
			}
			if keep == nil || keep(&rec) {
				out = append(out, rec)
			}
			return nil
		})
	})
	return out, err
}

// getFound reads the record under key, or refuses with ErrNotFound and
// the message notFound.
func getFound[T any](b *bolt.Bucket, key []byte, notFound string, a ...any) (T, error) {
	var rec T
	ok, err := getJSON(b, key, &rec)
	if err == nil && !ok {
		err = domain.Refuse(domain.ErrNotFound, notFound, a...)
	}
	return rec, err
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

// Backup writes a consistent copy of the whole database to w, in a read
// transaction: the service goes on serving and writing meanwhile.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	return n, err
}

// ctxWriter stops a copy once its context has ended: a backup to a client
// that went away does not hold its read transaction open.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// CheckFile checks the file at path with bbolt's consistency check and
// its schema version, read-only. bbolt's check panics on some damaged
// pages, in a goroutine of its own: run it in a process that may die
// (cardstop check), never inside the service.
func CheckFile(path string) error {
	return withFile(path, func(s *Store) error { return s.Check() })
}

// Verify is CheckFile plus the audit chain: whether a backup can be used.
func Verify(path string) error {
	return withFile(path, func(s *Store) error {
		if err := s.Check(); err != nil {
			return err
		}
		events, err := s.Events(0, 0)
		if err == nil {
			err = VerifyChain(events)
		}
		return err
	})
}

// withFile opens path read-only, checks its schema, and runs fn.
func withFile(path string, fn func(s *Store) error) error {
	db, err := openBolt(path, true, time.Second)
	var damaged *DamageError
	switch {
	case errors.As(err, &damaged):
		return fmt.Errorf("%s is not a readable database: %s", path, damaged.Problem)
	case errors.Is(err, ErrInUse):
		return fmt.Errorf("%s: %w", path, ErrInUse)
	case err != nil:
		return err
	}
	defer db.Close()
	s := &Store{db: database{DB: db}, now: time.Now, clockSynced: func() bool { return true }}
	err = s.schema()
	if err == nil {
		err = fn(s)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
