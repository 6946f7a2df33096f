//go:build cgo

package pcsc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
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

// listAgain are the answers of a wait after which the readers are listed
// again: nothing changed within Poll, or a reader went away between the
// list and the wait.
var listAgain = []error{scard.ErrTimeout, scard.ErrCancelled, scard.ErrUnknownReader, scard.ErrReaderUnavailable}

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

// counter is pcsc-lite's event counter of a reader: the high 16 bits of
// its state, one more at every insertion and removal.
func counter(s scard.StateFlag) uint16 { return uint16(s >> 16) }

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

// Watch reports the events of every reader the options ask for until ctx
// ends, then closes the channel. Readers may come and go while it runs;
// it survives pcscd stopping and starting again (ReaderLost for each
// reader, ServiceLost, then ServiceBack once a new context works).
//
// One goroutine waits on all readers and the PnP notification at once,
// with a PC/SC context of its own, and reads each inserted card's
// identity (bounded by ReadTimeout) before it looks again: events of the
// other readers wait for that read. Each read uses a context of its own,
// so no two calls ever contend for one.
func Watch(ctx context.Context, opt Options) (<-chan reader.Event, error) {
	opt.defaults()
	w := &watcher{opt: opt, out: make(chan reader.Event, 16), slots: map[string]*slot{}}
	go w.run(ctx)
	return w.out, nil
}

// slot is what the watcher knows of one reader.
type slot struct {
	state   scard.StateFlag // pcscd's last answer, CHANGED cleared: what the next wait compares with
	present bool            // a card is in and was reported
}

type watcher struct {
	opt         Options
	out         chan reader.Event
	serviceLost bool
	slots       map[string]*slot // the watched readers, by name
}

func (w *watcher) emit(ctx context.Context, e reader.Event) bool {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
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
			w.reconcile(ctx, nil)
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
	// The PnP pseudo reader's state is passed back like a reader's: newer
	// pcsc-lite keeps the reader count in it and answers at once when it
	// differs, so a first wait with UNAWARE returns without waiting.
	pnpState := scard.StateUnaware
	for ctx.Err() == nil {
		names, err := w.list(pc)
		if err != nil {
			return err
		}
		w.reconcile(ctx, names)
		rs := make([]scard.ReaderState, len(names)+1)
		for i, n := range names {
			rs[i] = scard.ReaderState{Reader: n, CurrentState: w.slots[n].state}
		}
		rs[len(names)] = scard.ReaderState{Reader: pnp, CurrentState: pnpState}
		err = pc.GetStatusChange(rs, w.opt.Poll)
		switch {
		case ctx.Err() != nil:
			return nil
		case isAny(err, listAgain):
			continue
		case err != nil:
			return err
		}
		pnpState = rs[len(names)].EventState &^ scard.StateChanged
		for i := range names {
			if rs[i].EventState&scard.StateChanged != 0 {
				w.update(ctx, pc, &rs[i])
			}
		}
	}
	return nil
}

// list returns the readers pcscd knows that the options ask for.
func (w *watcher) list(pc *scard.Context) ([]string, error) {
	names, err := pc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(names, func(n string) bool { return !w.opt.wanted(n) }), nil
}

// reconcile makes the watched readers those named: ReaderLost for each
// one that went (its card, if any, with it), ReaderAppeared for each new
// one, in name order.
func (w *watcher) reconcile(ctx context.Context, names []string) {
	known := make([]string, 0, len(w.slots))
	for n := range w.slots {
		known = append(known, n)
	}
	slices.Sort(known)
	for _, n := range known {
		if !slices.Contains(names, n) {
			delete(w.slots, n)
			w.emit(ctx, reader.Event{Kind: reader.ReaderLost, Reader: n})
		}
	}
	for _, n := range names {
		if w.slots[n] == nil {
			w.slots[n] = &slot{state: scard.StateUnaware}
			w.emit(ctx, reader.Event{Kind: reader.ReaderAppeared, Reader: n})
		}
	}
}

// update handles a changed reader state.
func (w *watcher) update(ctx context.Context, pc *scard.Context, rs *scard.ReaderState) {
	s := w.slots[rs.Reader]
	before := s.state
	s.state = rs.EventState &^ scard.StateChanged
	switch state := rs.EventState; {
	case state&(scard.StateUnknown|scard.StateUnavailable) != 0 || state&scard.StatePresent == 0:
		if s.present {
			s.present = false
			w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: rs.Reader})
		}
	case !s.present || counter(state) != counter(before):
		// A card is in that was not reported, or the event counter moved
		// on while one was in: it was taken out and another put in
		// between two looks (a stalled process, or a swap faster than a
		// wait), and the card there now is another one.
		if s.present {
			w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: rs.Reader})
		}
		s.present = true
		w.insert(ctx, pc, s, before, rs)
	}
}

// insert reads and reports the card just found in rs.Reader.
func (w *watcher) insert(ctx context.Context, pc *scard.Context, s *slot, before scard.StateFlag, rs *scard.ReaderState) {
	e := Identify(ctx, rs.Reader, w.opt.ReadTimeout)
	if e.ATR == nil {
		e.ATR = append([]byte{}, rs.Atr...)
	}
	if e.Err != "" {
		w.opt.Logger.Warn("card could not be read", "reader", rs.Reader, "err", e.Err)
		// The card could not be talked to. Pulled out, or mute? pcscd
		// tells at its next poll (400 ms); wait a little longer.
		one := []scard.ReaderState{{Reader: rs.Reader, CurrentState: s.state}}
		err := pc.GetStatusChange(one, pullCheck)
		gone := err == nil && (one[0].EventState&scard.StatePresent == 0 || counter(one[0].EventState) != counter(s.state))
		if gone || (err != nil && !errors.Is(err, scard.ErrTimeout)) {
			w.emit(ctx, reader.Event{Kind: reader.Pulled, Reader: rs.Reader, ATR: e.ATR, Err: "card removed before it could be read"})
			w.emit(ctx, reader.Event{Kind: reader.Removed, Reader: rs.Reader})
			// The next wait compares with the state before this card, so
			// whatever is in the reader now (nothing, or a new card) is
			// reported at once.
			s.present, s.state = false, before
			return
		}
	}
	w.emit(ctx, e)
}

// Identify reads the identity of the card in the named reader now, as
// an Inserted event; Err is set when the card could not be talked to, or
// did not answer within timeout. The station calls it again at the
// moment of a press, so that the card it disables is the card in the
// reader.
//
// A mute card would block its reader's driver for as long as it stays in
// (vpcd never times out; a CCID reader does, after its own while), so the
// read runs in a goroutine with a PC/SC context of its own, and is given
// up on: it ends once the card is pulled.
func Identify(ctx context.Context, name string, timeout time.Duration) reader.Event {
	start := time.Now()
	e := reader.Event{Kind: reader.Inserted, Reader: name, Identity: reader.Identity{Kind: reader.KindUnknown}}
	type result struct {
		atr []byte
		id  reader.Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		atr, id, err := identify(name)
		done <- result{atr, id, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var r result
	select {
	case r = <-done:
	case <-t.C:
		r.err = fmt.Errorf("the card did not answer within %s", timeout)
	case <-ctx.Done():
		r.err = ctx.Err()
	}
	e.Time = time.Now()
	e.ReadTime = e.Time.Sub(start)
	e.ATR = r.atr
	if r.err != nil {
		e.Err = r.err.Error()
		return e
	}
	e.Identity = r.id
	return e
}

// testHookConnected, when a test sets it, runs after each connection to
// the card and before its transaction begins.
var testHookConnected atomic.Pointer[func(reader string)]

func identify(name string) ([]byte, reader.Identity, error) {
	pc, err := scard.EstablishContext()
	if err != nil {
		return nil, reader.Identity{}, err
	}
	defer pc.Release()
	card, err := pc.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return nil, reader.Identity{}, err
	}
	defer card.Disconnect(scard.LeaveCard)
	atr, id, err := identifyConnected(card, name)
	if errors.Is(err, scard.ErrResetCard) {
		// Another program reset the card after we connected, and with it
		// the application it had selected: connect again and read once more.
		if err := card.Reconnect(scard.ShareShared, scard.ProtocolAny, scard.LeaveCard); err != nil {
			return nil, reader.Identity{}, fmt.Errorf("reconnect to a reset card: %w", err)
		}
		atr, id, err = identifyConnected(card, name)
	}
	return atr, id, err
}

// identifyConnected reads the identity in one PC/SC transaction: no other
// program's command can come between our SELECT and GET DATA (and
// deselect the application, or leave a response pending).
func identifyConnected(card *scard.Card, name string) ([]byte, reader.Identity, error) {
	if hook := testHookConnected.Load(); hook != nil {
		(*hook)(name)
	}
	if err := card.BeginTransaction(); err != nil {
		return nil, reader.Identity{}, err
	}
	defer card.EndTransaction(scard.LeaveCard)
	st, err := card.Status()
	if err != nil {
		return nil, reader.Identity{}, err
	}
	id, err := reader.ReadIdentity(card)
	return st.Atr, id, err
}
