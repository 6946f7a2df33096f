// Package fleet carries the station's committed changes beyond it
// (FLEET.md): a forwarder reads each sink's outbox and delivers to the
// upstream, a MIM CM-compatible service spoken as a client, and to
// webhooks, signed CloudEvents. It also looks cards up upstream.
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Outbox is what the forwarder needs of the store.
type Outbox interface {
	OutboxPending(sink string, after uint64, limit int) ([]storage.OutboxItem, error)
	OutboxSave(ctx context.Context, it storage.OutboxItem) error
	OutboxDelivered(ctx context.Context, sink string, seq uint64) error
	OutboxPark(ctx context.Context, o domain.Origin, it storage.OutboxItem, why string) error
}

// Sender delivers one item to its sink. save stores what must survive a
// crash before the next step (the upstream's request id). Its error is a
// *Failure when the sink answered; anything else is taken as the sink
// being away.
type Sender interface {
	Deliver(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error
}

// State is how a sink's delivery goes.
type State string

// The states, as /api/outbox and /readyz name them.
const (
	StateOff          State = "off"          // no such sink configured
	StateOK           State = "ok"           // the last delivery worked, or none was needed yet
	StateUnreachable  State = "unreachable"  // no answer, or 5xx/429: retrying
	StateUnauthorized State = "unauthorized" // 401: the credential is wrong; waiting for a new one
)

// Failure is a sink's answer that is not a success: its HTTP status, the
// Retry-After it asked for, and what it said.
type Failure struct {
	Code       int
	RetryAfter time.Duration
	Msg        string
}

func (f *Failure) Error() string { return fmt.Sprintf("%d: %s", f.Code, f.Msg) }

// parks says whether the sink refused this change for good: any 4xx but
// 401 (the credential), 408 and 429 (try again).
func (f *Failure) parks() bool {
	return f.Code >= 400 && f.Code < 500 && f.Code != 401 && f.Code != 408 && f.Code != 429
}

// Options tune a Forwarder; the zero values are the service's.
type Options struct {
	Logger *slog.Logger
	// Workers is how many items of a sink are delivered at once (never two
	// of one card). Zero: 32.
	Workers int
	// MinBackoff and MaxBackoff bound the wait after a failure; it doubles
	// from MinBackoff with each failure in a row, with ±20% jitter.
	// Zero: 500 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
}

// origin is who parks an item in the audit log.
var origin = domain.Origin{Actor: "outbox", Role: domain.RoleAdmin, Source: "local"}

// Forwarder runs a delivery loop for each sink.
type Forwarder struct {
	store Outbox
	opt   Options
	sinks []*sink
}

// sink is one sink's loop and what it shows.
type sink struct {
	name      string
	send      Sender
	wake      chan struct{}
	state     atomic.Value // State
	problem   atomic.Value // string: the last failure
	delivered atomic.Uint64
}

// New returns a forwarder for the named senders; Run starts it.
func New(store Outbox, senders map[string]Sender, opt Options) *Forwarder {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Workers == 0 {
		opt.Workers = 32
	}
	if opt.MinBackoff == 0 {
		opt.MinBackoff = 500 * time.Millisecond
	}
	if opt.MaxBackoff == 0 {
		opt.MaxBackoff = 30 * time.Second
	}
	f := &Forwarder{store: store, opt: opt}
	for name, send := range senders {
		s := &sink{name: name, send: send, wake: make(chan struct{}, 1)}
		s.state.Store(StateOK)
		s.problem.Store("")
		f.sinks = append(f.sinks, s)
	}
	return f
}

// Sinks returns the sinks' names.
func (f *Forwarder) Sinks() []string {
	names := make([]string, len(f.sinks))
	for i, s := range f.sinks {
		names[i] = s.name
	}
	return names
}

// Wake tells every sink that a change was committed. It never blocks.
func (f *Forwarder) Wake() {
	for _, s := range f.sinks {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// SinkStatus is how one sink's delivery goes.
type SinkStatus struct {
	Name      string
	State     State
	Problem   string // the last failure, "" after a success
	Delivered uint64 // since the start
}

// Status returns each sink's status.
func (f *Forwarder) Status() []SinkStatus {
	out := make([]SinkStatus, len(f.sinks))
	for i, s := range f.sinks {
		out[i] = SinkStatus{Name: s.name, State: s.state.Load().(State), Problem: s.problem.Load().(string), Delivered: s.delivered.Load()}
	}
	return out
}

// Run delivers until ctx ends, then waits for the deliveries in flight.
func (f *Forwarder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range f.sinks {
		wg.Go(func() { f.run(ctx, s) })
	}
	wg.Wait()
}

// window is how many pending items one read takes from the outbox: enough
// to keep the workers busy past a few cards still in flight.
const window = 256

// result is a finished delivery.
type result struct {
	it  storage.OutboxItem
	err error
}

// run is one sink's loop. It reads pending items in commit order into a
// queue and starts those whose card has no earlier item in flight or
// queued, so a card's changes go in commit order and other cards do not
// wait for it. The queue is read on from the last item read, and from the
// head again whenever the sink is idle (an admin's retry puts an item back
// at its old place). A failure that is not the item's own (no answer, 5xx,
// 429, 401) pauses the whole sink, since the next item would meet it too,
// and the queue is read again from the head after the pause.
func (f *Forwarder) run(ctx context.Context, s *sink) {
	log := f.opt.Logger.With("sink", s.name)
	inflight := map[guid.GUID]bool{}
	var queue []storage.OutboxItem
	var last uint64 // the last item read into the queue
	done := make(chan result)
	var backoff time.Duration
	var resume time.Time // no new deliveries before
	pause := time.NewTimer(0)
	<-pause.C
	for {
		if len(inflight) < f.opt.Workers && !time.Now().Before(resume) {
			if len(inflight) == 0 && len(queue) == 0 {
				last = 0
			}
			if len(queue) < window { // a full queue may be one card's changes, waiting in turn
				items, err := f.store.OutboxPending(s.name, last, window-len(queue))
				if err != nil {
					log.Error("reading the outbox", "err", err)
					resume = time.Now().Add(f.opt.MaxBackoff)
					pause.Reset(f.opt.MaxBackoff)
				}
				if n := len(items); n > 0 {
					queue, last = append(queue, items...), items[n-1].Seq
				}
			}
			blocked := map[guid.GUID]bool{}
			kept := queue[:0]
			for _, it := range queue {
				if len(inflight) == f.opt.Workers || inflight[it.Card] || blocked[it.Card] {
					blocked[it.Card] = true // after an earlier change of its card
					kept = append(kept, it)
					continue
				}
				inflight[it.Card] = true
				go func() {
					// it is read after Deliver: it holds what was saved
					// on the way (the upstream's request), which
					// recording a failed attempt must keep.
					err := f.deliver(ctx, s, &it)
					done <- result{it, err}
				}()
			}
			clear(queue[len(kept):])
			queue = kept
		}
		select {
		case <-ctx.Done():
			for len(inflight) > 0 {
				r := <-done
				delete(inflight, r.it.Card)
				f.settle(ctx, s, log, r)
			}
			return
		case <-s.wake:
		case <-pause.C:
		case r := <-done:
			delete(inflight, r.it.Card)
			// A read from the head while it was in flight queued it again.
			queue = slices.DeleteFunc(queue, func(it storage.OutboxItem) bool { return it.Seq == r.it.Seq })
			if f.settle(ctx, s, log, r) {
				backoff = 0
				continue
			}
			queue, last = queue[:0], 0 // the failed item is read again, in its place
			if time.Now().Before(resume) {
				continue // paused already by another failure of this round
			}
			backoff = min(max(2*backoff, f.opt.MinBackoff), f.opt.MaxBackoff)
			wait := time.Duration(float64(backoff) * (0.8 + 0.4*rand.Float64()))
			var fail *Failure
			if errors.As(r.err, &fail) && fail.RetryAfter > wait {
				wait = min(fail.RetryAfter, 10*f.opt.MaxBackoff)
			}
			resume = time.Now().Add(wait)
			pause.Reset(wait)
		}
	}
}

// deliver sends one item, saving what it learns on the way, even as ctx
// ends: the sink has done what it answered.
func (f *Forwarder) deliver(ctx context.Context, s *sink, it *storage.OutboxItem) error {
	return s.send.Deliver(ctx, it, func(saved storage.OutboxItem) error {
		*it = saved
		return f.store.OutboxSave(context.WithoutCancel(ctx), saved)
	})
}

// settle records a finished delivery: deleted when delivered, parked when
// refused for good, even as ctx ends, so that a delivered change is not
// sent again at the next start. It reports whether the sink answered as
// it should (a parked item's refusal counts: the sink is there).
func (f *Forwarder) settle(ctx context.Context, s *sink, log *slog.Logger, r result) bool {
	keep := context.WithoutCancel(ctx)
	var fail *Failure
	switch {
	case r.err == nil:
		if err := f.store.OutboxDelivered(keep, s.name, r.it.Seq); err != nil && !errors.Is(err, storage.ErrOutboxItemGone) {
			log.Error("a delivered change stays in the outbox; it will be delivered again", "seq", r.it.Seq, "err", err)
			return false
		}
		s.delivered.Add(1)
		f.setState(s, log, StateOK, "")
		return true
	case errors.As(r.err, &fail) && fail.parks():
		why := r.err.Error()
		log.Warn("the sink refused a change; it is parked until an admin retries or drops it",
			"seq", r.it.Seq, "card", r.it.Card, "change", r.it.Change, "answer", why)
		if err := f.store.OutboxPark(keep, origin, r.it, why); err != nil && !errors.Is(err, storage.ErrOutboxItemGone) {
			log.Error("parking a refused change", "seq", r.it.Seq, "err", err)
			return false
		}
		f.setState(s, log, StateOK, "")
		return true
	case errors.As(r.err, &fail) && fail.Code == 401:
		f.setState(s, log, StateUnauthorized, r.err.Error())
	case ctx.Err() != nil:
		return false
	default:
		f.setState(s, log, StateUnreachable, r.err.Error())
	}
	r.it.Attempts++
	r.it.Problem = storage.ClipProblem(r.err.Error())
	if err := f.store.OutboxSave(keep, r.it); err != nil && !errors.Is(err, storage.ErrOutboxItemGone) {
		log.Warn("recording a failed attempt", "seq", r.it.Seq, "err", err)
	}
	return false
}

// setState records the sink's state, and logs each change of it: an
// unauthorized sink loudly, since only a person can mend it.
func (f *Forwarder) setState(s *sink, log *slog.Logger, to State, problem string) {
	s.problem.Store(problem)
	from := s.state.Swap(to).(State)
	switch {
	case from == to:
	case to == StateUnauthorized:
		log.Error("THE SINK REFUSES THIS STATION'S CREDENTIAL (401): changes are kept and delivered once the credential is mended", "answer", problem)
	case to == StateUnreachable:
		log.Warn("the sink is unreachable; changes are kept and retried", "problem", problem)
	default:
		log.Info("the sink takes changes again", "was", string(from))
	}
}
