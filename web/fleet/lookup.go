package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// LocalCards is what the read-through lookup needs of the store.
type LocalCards interface {
	CardBySerial(serial string) (storage.Smartcard, error)
	Apply(ctx context.Context, o domain.Origin, cmd domain.Command) (storage.Smartcard, error)
	AdoptUpstreamCard(ctx context.Context, o domain.Origin, c storage.Smartcard) (storage.Smartcard, error)
}

// CardLookup finds a card upstream (Upstream.Lookup): ok is false when
// the upstream knows no such card.
type CardLookup interface {
	Lookup(ctx context.Context, cardID string) (card storage.Smartcard, ok bool, err error)
}

// DefaultLookupTimeout bounds a look-up upstream, and then the storing of
// its answer, when NewReadThrough is given none: a person holds the card
// in the reader meanwhile.
const DefaultLookupTimeout = 2 * time.Second

// ReadThrough is the station's cards (station.Cards) with the upstream in
// front (FLEET.md §3). CardBySerial asks the upstream first, bounded by
// its timeout: a card the upstream holds is stored here, or has its
// status refreshed, through the store's AdoptUpstreamCard (which keeps a
// change made here and not yet delivered), and is answered as stored. When
// the upstream knows no such card, fails or does not answer in time, the
// local record decides: an upstream that is away never stops the station,
// and a card unknown to both is domain.ErrNotFound. So each insert may
// wait up to twice the timeout (look-up, then store). Apply goes to the
// store alone; the outbox carries its change upstream.
//
// The upstream's failures are logged at Warn when their kind changes (the
// first timeout, the first refused connection, the first answer of a new
// HTTP status, the first answer that is no card) and at Debug while it stays the same, so an upstream that
// is away costs one line, not one per card. A ReadThrough is safe for
// concurrent use.
type ReadThrough struct {
	local   LocalCards
	up      CardLookup
	origin  domain.Origin
	timeout time.Duration
	log     *slog.Logger

	upstream, adopt outcome
}

// NewReadThrough puts up in front of local. o is who the changes taken
// from upstream are recorded as (their audit events' actor, the card's
// StatusChangedBy). A zero timeout is DefaultLookupTimeout; a nil log
// logs nothing.
func NewReadThrough(local LocalCards, up CardLookup, o domain.Origin, timeout time.Duration, log *slog.Logger) *ReadThrough {
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ReadThrough{local: local, up: up, origin: o, timeout: timeout, log: log}
}

// CardBySerial finds a card by its serial number upstream, then here.
func (r *ReadThrough) CardBySerial(serial string) (storage.Smartcard, error) {
	// The station's look-up has no context: the timeout is the bound.
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	card, ok, err := r.up.Lookup(ctx, serial)
	cancel()
	kind := failureKind(err)
	switch was := r.upstream.swap(kind); {
	case err != nil && was != kind:
		r.log.Warn("the upstream does not answer card look-ups; cards are decided on the records here", "problem", kind, "err", err)
	case err != nil:
		r.log.Debug("card look-up upstream failed", "serial", serial, "err", err)
	case was != "":
		r.log.Info("the upstream answers card look-ups again", "was", was)
	}
	if err != nil || !ok {
		return r.local.CardBySerial(serial)
	}
	// A fresh bound: the look-up may have used most of its own.
	ctx, cancel = context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	stored, err := r.local.AdoptUpstreamCard(ctx, r.origin, card)
	kind = ""
	if err != nil {
		kind = "storing"
		var refused *domain.Error
		if errors.As(err, &refused) {
			kind = refused.Kind.Error()
		}
	}
	switch was := r.adopt.swap(kind); {
	case err != nil && was != kind:
		r.log.Warn("a card the upstream holds could not be stored here; the record here decides", "serial", serial, "err", err)
	case err != nil:
		r.log.Debug("a card the upstream holds could not be stored here", "serial", serial, "err", err)
	}
	if err != nil {
		return r.local.CardBySerial(serial)
	}
	return stored, nil
}

// Apply makes the change here.
func (r *ReadThrough) Apply(ctx context.Context, o domain.Origin, cmd domain.Command) (storage.Smartcard, error) {
	return r.local.Apply(ctx, o, cmd)
}

// failureKind names the kind of a look-up's failure, "" for none.
func failureKind(err error) string {
	var fail *Failure
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &fail):
		return fmt.Sprintf("HTTP %d", fail.Code)
	case errors.As(err, new(*url.Error)):
		return "unreachable"
	default:
		return "bad answer"
	}
}

// outcome is the kind of the last failure in a row ("" after a success),
// so that only a new kind is logged loudly.
type outcome struct {
	mu   sync.Mutex
	last string
}

// swap records kind and returns the one before.
func (o *outcome) swap(kind string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	was := o.last
	o.last = kind
	return was
}
