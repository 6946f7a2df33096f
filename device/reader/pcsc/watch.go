//go:build cgo

package pcsc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ebfe/scard"

	"github.com/cardstop/cardstop/device/reader"
)

// pnp is pcsc-lite's pseudo reader whose state changes when a reader is
// added or removed.
const pnp = `\\?PnP?\Notification`

// serviceErrors mean pcscd went away or the context died with it: the
// only cure is a new context (old ones stay dead after pcscd comes back).
var serviceErrors = []error{scard.ErrCommError, scard.ErrNoService, scard.ErrServiceStopped, scard.ErrInvalidHandle}

// pullCheck is how long a card that could not be read is watched for its
// removal before it counts as present but unreadable: two of pcscd's polls.
const pullCheck = 900 * time.Millisecond

func isAny(err error, list []error) bool {
	for _, e := range list {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// List returns the names of the readers pcscd knows.
func List() ([]string, error) {
	ctx, err := scard.EstablishContext()
	if err != nil {
		return nil, fmt.Errorf("reach pcscd: %w", err)
	}
	defer ctx.Release()
	names, err := ctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return []string{}, nil
	}
	return names, err
}

// Watch reports the chosen reader's events until ctx ends, then closes the
// channel. It survives pcscd stopping and starting again (ServiceLost,
// then ServiceBack once a new context works) and readers coming and going.
// One goroutine does all the waiting, on a PC/SC context of its own; each
// identity read uses a context of its own too, so no two calls ever
// contend for one.
func Watch(ctx context.Context, opt Options) (<-chan reader.Event, error) {
	opt.defaults()
	w := &watcher{opt: opt, out: make(chan reader.Event, 16)}
	go w.run(ctx)
	return w.out, nil
}

type watcher struct {
	opt         Options
	out         chan reader.Event
	serviceLost bool
	reader      string // the watched reader, "" when none
}

func (w *watcher) emit(ctx context.Context, e reader.Event) bool {
	e.Time = time.Now()
	select {
	case w.out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	for ctx.Err() == nil {
		err := w.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if !w.serviceLost {
			w.serviceLost = true
			if w.reader != "" {
				w.emit(ctx, reader.Event{Kind: reader.ReaderLost, Reader: w.reader})
				w.reader = ""
			}
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			w.emit(ctx, reader.Event{Kind: reader.ServiceLost, Err: msg})
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.opt.Backoff):
		}
	}
}

// session runs one PC/SC context until it fails or ctx ends.
func (w *watcher) session(ctx context.Context) error {
	pc, err := scard.EstablishContext()
	if err != nil {
		return err
	}
	stop := make(chan struct{})
	defer func() {
		close(stop)
		_ = pc.Release() // best effort: a context of a dead pcscd cannot be released
	}()
	go func() {
		select {
		case <-ctx.Done():
		case <-stop:
			return
		}
		// Cancel wakes a blocked GetStatusChange and is safe from any
		// goroutine, but a cancel that lands between two waits is lost:
		// repeat it until the session has ended.
		for {
			_ = pc.Cancel()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	if w.serviceLost {
		w.serviceLost = false
		w.emit(ctx, reader.Event{Kind: reader.ServiceBack})
	}
	for ctx.Err() == nil {
		name, err := w.pick(pc)
		if err != nil {
			return err
		}
		if name == "" {
			if err := waitPnP(pc); err != nil && !errors.Is(err, scard.ErrTimeout) {
				return cancelled(err)
			}
			continue
		}
		w.reader = name
		w.emit(ctx, reader.Event{Kind: reader.ReaderAppeared, Reader: name})
		err = w.watchReader(ctx, pc, name)
		if ctx.Err() != nil {
			return nil
		}
		if isAny(err, serviceErrors) {
			return err
		}
		w.emit(ctx, reader.Event{Kind: reader.ReaderLost, Reader: name})
		w.reader = ""
	}
	return nil
}

// cancelled turns the error of a cancelled wait into nil.
func cancelled(err error) error {
	if errors.Is(err, scard.ErrCancelled) {
		return nil
	}
	return err
}

// pick returns the reader to watch, or "" when none matches.
func (w *watcher) pick(pc *scard.Context) (string, error) {
	names, err := pc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if strings.Contains(n, w.opt.Reader) {
			return n, nil
		}
	}
	return "", nil
}

// waitPnP waits until the set of readers may have changed.
func waitPnP(pc *scard.Context) error {
	rs := []scard.ReaderState{{Reader: pnp, CurrentState: scard.StateUnaware}}
	if err := pc.GetStatusChange(rs, 0); err != nil {
		return err
	}
	rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
	return pc.GetStatusChange(rs, -1)
}

// watchReader follows one reader until it goes away (nil or a reader
// error), pcscd fails (a service error) or ctx ends.
func (w *watcher) watchReader(ctx context.Context, pc *scard.Context, name string) error {
	rs := []scard.ReaderState{{Reader: name, CurrentState: scard.StateUnaware}}
	present := false
	for {
		err := pc.GetStatusChange(rs, -1)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.Is(err, scard.ErrCancelled) {
				continue
			}
			if present {
				w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: name})
			}
			return err
		}
		seen := time.Now()
		state := rs[0].EventState
		rs[0].CurrentState = state &^ scard.StateChanged
		switch {
		case state&(scard.StateUnknown|scard.StateUnavailable) != 0:
			if present {
				w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: name})
			}
			return nil
		case state&scard.StatePresent != 0 && !present:
			present = true
			e := w.read(name, rs[0].Atr, seen)
			if e.Err != "" {
				// The card could not be talked to. Pulled out, or mute? pcscd
				// tells at its next poll (400 ms); wait a little longer.
				err := pc.GetStatusChange(rs, pullCheck)
				gone := err == nil && rs[0].EventState&scard.StatePresent == 0
				if gone || (err != nil && !errors.Is(err, scard.ErrTimeout)) {
					w.emit(ctx, reader.Event{Kind: reader.Pulled, Reader: name, ATR: e.ATR, Err: "card removed before it could be read"})
					w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: name})
					present = false
					if err != nil {
						return cancelled(err)
					}
					rs[0].CurrentState = rs[0].EventState &^ scard.StateChanged
					continue
				}
			}
			w.emit(ctx, e)
		case state&scard.StatePresent == 0 && present:
			present = false
			w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: name})
		}
	}
}

// read identifies the card just inserted into name; Err is set when the
// card could not be talked to, or did not answer within ReadTimeout. A
// mute card would block its reader's driver for as long as it stays in
// (vpcd never times out; a CCID reader does, after its own while), so the
// read runs in a goroutine with a PC/SC context of its own, and is given
// up on: it ends once the card is pulled.
func (w *watcher) read(name string, atr []byte, seen time.Time) reader.Event {
	e := reader.Event{Kind: reader.Inserted, Reader: name, ATR: append([]byte{}, atr...), Identity: reader.Identity{Kind: reader.KindUnknown}}
	type result struct {
		id  reader.Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := identify(name)
		done <- result{id, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(w.opt.ReadTimeout):
		r.err = fmt.Errorf("the card did not answer within %s", w.opt.ReadTimeout)
	}
	e.ReadTime = time.Since(seen)
	if r.err != nil {
		e.Err = r.err.Error()
		w.opt.Logger.Warn("card could not be read", "reader", name, "err", r.err)
		return e
	}
	e.Identity = r.id
	return e
}

func identify(name string) (reader.Identity, error) {
	pc, err := scard.EstablishContext()
	if err != nil {
		return reader.Identity{}, err
	}
	defer pc.Release()
	card, err := pc.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return reader.Identity{}, err
	}
	defer card.Disconnect(scard.LeaveCard)
	return reader.ReadIdentity(card)
}
