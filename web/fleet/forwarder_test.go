package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/fleet"
)

// patience bounds every wait for the forwarder: generous, since a slow
// machine must not fail a test; a working forwarder takes far less.
const patience = 60 * time.Second

var admin = domain.Origin{Actor: "alice", Role: domain.RoleAdmin, Source: "local"}

// testSecret is the webhooks' shared secret in these tests.
var testSecret = []byte("0123456789abcdef0123456789abcdef")

// openOutbox opens a store in a temporary directory whose outbox feeds
// sinks, holding n active cards, and checks the file when the test ends.
func openOutbox(t *testing.T, n int, sinks ...string) (*storage.Store, []guid.GUID) {
	t.Helper()
	st, err := storage.Open(t.TempDir(), storage.Options{Sinks: sinks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil {
			t.Errorf("the file fails its check: %v", err)
		}
		st.Close()
	})
	var cards []storage.Smartcard
	var ids []guid.GUID
	for i := range n {
		c := card(byte(i+1), fmt.Sprintf("{cc%02x}", i+1), domain.CardActive)
		cards = append(cards, c)
		ids = append(ids, c.Uuid)
	}
	if n > 0 {
		if err := st.ImportCards(context.Background(), admin, cards); err != nil {
			t.Fatal(err)
		}
	}
	return st, ids
}

// change disables an active card, or re-enables a disabled one, as an
// admin on the page.
func change(t *testing.T, st *storage.Store, id guid.GUID) {
	t.Helper()
	c, err := st.Card(id)
	if err != nil {
		t.Fatal(err)
	}
	cmd := domain.Command{Card: id, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}
	if c.Status == domain.CardDisabled {
		cmd = domain.Command{Card: id, Action: domain.Enable, Reason: "found", Via: domain.ViaPage}
	}
	if _, err := st.Apply(context.Background(), admin, cmd); err != nil {
		t.Fatal(err)
	}
}

// committed returns the pending changes of sink per card, in commit order.
func committed(t *testing.T, st *storage.Store, sink string) map[string][]string {
	t.Helper()
	items, err := st.OutboxPending(sink, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, it := range items {
		out[it.Card.String()] = append(out[it.Card.String()], it.Change.String())
	}
	return out
}

// counts returns sink's pending and parked items.
func counts(t *testing.T, st *storage.Store, sink string) (pending, parked int) {
	t.Helper()
	c, err := st.OutboxCounts(sink)
	if err != nil {
		t.Fatal(err)
	}
	return c[0].Pending, c[0].Parked
}

// eventually waits, up to patience, for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after %v", what, patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// start runs f until the test ends or stop is called, which checks that
// Run returns: every delivery it started has ended and been recorded.
func start(t *testing.T, f *fleet.Forwarder) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		f.Run(ctx)
		close(ended)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case <-ended:
		case <-time.After(patience):
			t.Errorf("Run did not return %v after its context ended", patience)
		}
	})
	t.Cleanup(stop)
	return stop
}

func status(f *fleet.Forwarder) fleet.SinkStatus { return f.Status()[0] }

// fast are forwarder options that retry soon.
var fast = fleet.Options{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond}

// received is a webhook receiver's record of one event.
type received struct {
	id, card, to string
}

// receiver is a webhook receiver that records the events in the order
// they arrive, and complains of two of one card at once.
type receiver struct {
	t      *testing.T
	answer func(e fleet.Event) (code int, header http.Header) // nil: 204
	delay  time.Duration                                      // up to this long before answering, at random

	mu       sync.Mutex
	events   []received
	inflight map[string]bool
}

func newReceiver(t *testing.T, r *receiver) *httptest.Server {
	r.t, r.inflight = t, map[string]bool{}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("reading an event: %v", err)
		return
	}
	var e fleet.Event
	if err := json.Unmarshal(body, &e); err != nil {
		rc.t.Errorf("an event that is not JSON: %v: %s", err, body)
		http.Error(w, "not json", http.StatusBadRequest)
		return
	}
	if got := r.Header.Get("webhook-id"); got != e.ID {
		rc.t.Errorf("webhook-id %q, event id %q", got, e.ID)
	}
	rc.mu.Lock()
	if rc.inflight[e.Subject] {
		rc.t.Errorf("two changes of card %s at once", e.Subject)
	}
	rc.inflight[e.Subject] = true
	rc.events = append(rc.events, received{e.ID, e.Subject, e.Data.To})
	rc.mu.Unlock()
	if rc.delay > 0 {
		time.Sleep(rand.N(rc.delay))
	}
	code, header := http.StatusNoContent, http.Header(nil)
	if rc.answer != nil {
		code, header = rc.answer(e)
	}
	rc.mu.Lock()
	delete(rc.inflight, e.Subject)
	rc.mu.Unlock()
	for k, v := range header {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	if code >= 300 {
		_, _ = fmt.Fprintf(w, `{"Message":"answer %d"}`, code)
	}
}

// arrived returns the ids of the events that arrived, per card.
func (rc *receiver) arrived() map[string][]string {
	out := map[string][]string{}
	for _, e := range rc.all() {
		out[e.card] = append(out[e.card], e.id)
	}
	return out
}

// statuses returns the statuses the events that arrived set, per card.
func (rc *receiver) statuses() map[string][]string {
	out := map[string][]string{}
	for _, e := range rc.all() {
		out[e.card] = append(out[e.card], e.to)
	}
	return out
}

func (rc *receiver) all() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.events...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.events)
}

// newWebhookSink returns a webhook sender to srv and its sink's name.
func newWebhookSink(t *testing.T, srv *httptest.Server) (fleet.Sender, string) {
	t.Helper()
	w, err := fleet.NewWebhook(srv.URL, testSecret, "s1")
	if err != nil {
		t.Fatal(err)
	}
	return w, storage.SinkWebhook(srv.URL)
}

// TestForwarderOrder: under concurrency, each card's changes arrive one
// at a time in commit order, every change exactly once.
func TestForwarderOrder(t *testing.T) {
	tests := []struct {
		name                  string
		cards, changes, works int
		delay                 time.Duration
		whileRunning          bool // the changes are made as the forwarder runs
	}{
		{name: "one worker", cards: 3, changes: 5, works: 1},
		{name: "few cards, many workers", cards: 3, changes: 12, works: 8, delay: 3 * time.Millisecond},
		{name: "more cards than workers", cards: 20, changes: 4, works: 4, delay: 2 * time.Millisecond},
		{name: "made while running", cards: 5, changes: 8, works: 8, delay: 2 * time.Millisecond, whileRunning: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &receiver{delay: tt.delay}
			srv := newReceiver(t, rc)
			send, sink := newWebhookSink(t, srv)
			st, cards := openOutbox(t, tt.cards, sink)
			opt := fast
			opt.Workers = tt.works
			f := fleet.New(st, map[string]fleet.Sender{sink: send}, opt)
			total := tt.cards * tt.changes
			var want map[string][]string // in commit order
			stop := func() {}
			if tt.whileRunning {
				stop = start(t, f)
			}
			for range tt.changes {
				for _, c := range cards {
					change(t, st, c)
					f.Wake()
				}
			}
			if !tt.whileRunning {
				want = committed(t, st, sink)
				stop = start(t, f)
			}
			eventually(t, "delivered", func() bool { p, _ := counts(t, st, sink); return p == 0 })
			stop()
			if rc.count() != total {
				t.Errorf("%d events arrived, want %d (each change once)", rc.count(), total)
			}
			seen := map[string]int{}
			for _, e := range rc.all() {
				if seen[e.id]++; seen[e.id] == 2 {
					t.Errorf("change %s arrived more than once", e.id)
				}
			}
			// A card's changes alternate: disabled, active, disabled...
			// so the statuses show the order even where the ids are not
			// known beforehand.
			statuses := rc.statuses()
			for _, c := range cards {
				var order []string
				for i := range tt.changes {
					order = append(order, []string{"Disabled", "Active"}[i%2])
				}
				if fmt.Sprint(statuses[c.String()]) != fmt.Sprint(order) {
					t.Errorf("card %s: the statuses arrived as %v, want %v", c, statuses[c.String()], order)
				}
				if got := rc.arrived()[c.String()]; !tt.whileRunning && fmt.Sprint(got) != fmt.Sprint(want[c.String()]) {
					t.Errorf("card %s: arrived\n%v\nwant, in commit order,\n%v", c, got, want[c.String()])
				}
			}
			if p, parked := counts(t, st, sink); p != 0 || parked != 0 {
				t.Errorf("%d pending and %d parked after, want none", p, parked)
			}
			if s := status(f); s.State != fleet.StateOK || s.Delivered != uint64(total) {
				t.Errorf("status %+v, want ok with %d delivered", s, total)
			}
		})
	}
}

// TestForwarderParks: a change the sink refuses for good is parked, with
// its answer, and audited; the other cards' changes, and the later
// changes of its card, are delivered.
func TestForwarderParks(t *testing.T) {
	for _, code := range []int{400, 403, 404, 409, 410, 422} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var refuse atomic.Value // the change id refused
			refuse.Store("")
			rc := &receiver{delay: time.Millisecond, answer: func(e fleet.Event) (int, http.Header) {
				if e.ID == refuse.Load().(string) {
					return code, nil
				}
				return http.StatusNoContent, nil
			}}
			srv := newReceiver(t, rc)
			send, sink := newWebhookSink(t, srv)
			st, cards := openOutbox(t, 3, sink)
			for range 2 {
				for _, c := range cards {
					change(t, st, c)
				}
			}
			first := committed(t, st, sink)[cards[0].String()][0]
			refuse.Store(first)
			f := fleet.New(st, map[string]fleet.Sender{sink: send}, fast)
			stop := start(t, f)
			eventually(t, "delivered", func() bool { p, _ := counts(t, st, sink); return p == 0 })
			stop()

			parked, err := st.OutboxParked(sink, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(parked) != 1 || parked[0].Change.String() != first || !strings.Contains(parked[0].Problem, fmt.Sprint(code)) ||
				parked[0].Parked.IsZero() {
				t.Errorf("parked %+v, want change %s with the answer %d", parked, first, code)
			}
			if got := rc.statuses()[cards[0].String()]; fmt.Sprint(got) != "[Disabled Active]" {
				t.Errorf("the refused card's changes arrived as %v: the later one must go on", got)
			}
			if rc.count() != 6 {
				t.Errorf("%d events arrived, want 6", rc.count())
			}
			if s := status(f); s.State != fleet.StateOK || s.Delivered != 5 {
				t.Errorf("status %+v, want ok with 5 delivered", s)
			}
			events, err := st.AuditPage(storage.AuditFilter{Action: storage.ActionOutboxPark})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].CardUuid != cards[0] || events[0].Name != sink ||
				!strings.Contains(events[0].Comment, first) || !strings.Contains(events[0].Reason, fmt.Sprint(code)) {
				t.Errorf("audit events %+v, want one outbox.park of change %s", events, first)
			}
		})
	}
}

// TestForwarderPauses: an answer that is not the change's own (a wrong
// credential, a sink that is away) pauses the sink, delivering and
// parking nothing and keeping every change, until the sink takes them.
func TestForwarderPauses(t *testing.T) {
	hangUp := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	tests := []struct {
		name    string
		code    int // 0: no answer at all
		state   fleet.State
		problem string
	}{
		{name: "401", code: 401, state: fleet.StateUnauthorized, problem: "401"},
		{name: "408", code: 408, state: fleet.StateUnreachable, problem: "408"},
		{name: "429", code: 429, state: fleet.StateUnreachable, problem: "429"},
		{name: "500", code: 500, state: fleet.StateUnreachable, problem: "500"},
		{name: "503", code: 503, state: fleet.StateUnreachable, problem: "503"},
		{name: "no answer", state: fleet.StateUnreachable, problem: "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var accept atomic.Bool
			var refused atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				switch {
				case accept.Load():
					w.WriteHeader(http.StatusNoContent)
				case tt.code == 0:
					refused.Add(1)
					hangUp(w)
				default:
					refused.Add(1)
					http.Error(w, "not now", tt.code)
				}
			}))
			t.Cleanup(srv.Close)
			send, sink := newWebhookSink(t, srv)
			st, cards := openOutbox(t, 4, sink)
			for _, c := range cards {
				change(t, st, c)
			}
			f := fleet.New(st, map[string]fleet.Sender{sink: send}, fast)
			start(t, f)
			// Several rounds of retries, all refused.
			eventually(t, "refused thrice", func() bool { return refused.Load() >= 3*int64(len(cards)) })
			s := status(f)
			if s.State != tt.state || !strings.Contains(s.Problem, tt.problem) || s.Delivered != 0 {
				t.Errorf("status %+v, want %s with %q, nothing delivered", s, tt.state, tt.problem)
			}
			if p, parked := counts(t, st, sink); p != len(cards) || parked != 0 {
				t.Errorf("%d pending and %d parked, want %d pending", p, parked, len(cards))
			}
			items, err := st.OutboxPending(sink, 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				if it.Attempts == 0 || !strings.Contains(it.Problem, tt.problem) {
					t.Errorf("pending %+v: want its attempts and problem recorded", it)
				}
			}

			accept.Store(true)
			eventually(t, "delivered", func() bool { p, _ := counts(t, st, sink); return p == 0 })
			eventually(t, "ok", func() bool { s := status(f); return s.State == fleet.StateOK && s.Delivered == uint64(len(cards)) })
			if s := status(f); s.Problem != "" {
				t.Errorf("status %+v after delivering, want no problem", s)
			}
		})
	}
}

// TestForwarderRetryAfter: a sink that asks for a pause with Retry-After
// gets it, at least (the slack is for clocks, never for a slow machine),
// and is unreachable meanwhile.
func TestForwarderRetryAfter(t *testing.T) {
	const retryAfter = time.Second
	var mu sync.Mutex
	var answered, again time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		if answered.IsZero() {
			w.Header().Set("Retry-After", fmt.Sprint(int(retryAfter.Seconds())))
			http.Error(w, "busy", http.StatusServiceUnavailable)
			answered = time.Now()
			return
		}
		if again.IsZero() {
			again = time.Now()
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	send, sink := newWebhookSink(t, srv)
	st, cards := openOutbox(t, 1, sink)
	change(t, st, cards[0])
	// The backoff alone would retry within 100 ms; Retry-After is capped
	// at ten times MaxBackoff, above it.
	f := fleet.New(st, map[string]fleet.Sender{sink: send}, fleet.Options{MinBackoff: time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	start(t, f)
	eventually(t, "unreachable", func() bool { return status(f).State == fleet.StateUnreachable })
	if p, _ := counts(t, st, sink); p != 1 {
		t.Errorf("%d pending while paused, want 1", p)
	}
	eventually(t, "delivered", func() bool { return status(f).Delivered == 1 })
	if s := status(f); s.State != fleet.StateOK {
		t.Errorf("status %+v after delivering, want ok", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if gap := again.Sub(answered); gap < retryAfter-50*time.Millisecond {
		t.Errorf("retried %v after a Retry-After of %v", gap, retryAfter)
	}
}

// senderFunc is a Sender made of a function.
type senderFunc func(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error

func (f senderFunc) Deliver(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error {
	return f(ctx, it, save)
}

// TestForwarderStops: Run returns once the deliveries in flight have
// ended, and records what they achieved: a change delivered as the
// forwarder stops is not delivered again at the next start, and the
// upstream's request made as it stops is kept.
func TestForwarderStops(t *testing.T) {
	request := guid.New()
	tests := []struct {
		name    string
		deliver func(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error
		pending int
		request guid.GUID // the pending item's upstream request
	}{
		{name: "delivered as it stops", deliver: func(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error {
			<-ctx.Done()
			return nil // the answer came
		}},
		{name: "the request made as it stops", pending: 1, request: request,
			deliver: func(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error {
				<-ctx.Done()
				saved := *it
				saved.UpstreamRequest = request
				if err := save(saved); err != nil {
					return err
				}
				return ctx.Err()
			}},
		{name: "cut off as it stops", pending: 1, deliver: func(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error {
			<-ctx.Done()
			return ctx.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, cards := openOutbox(t, 3, "fake")
			for _, c := range cards {
				change(t, st, c)
			}
			var started atomic.Int64
			send := senderFunc(func(ctx context.Context, it *storage.OutboxItem, save func(storage.OutboxItem) error) error {
				started.Add(1)
				return tt.deliver(ctx, it, save)
			})
			f := fleet.New(st, map[string]fleet.Sender{"fake": send}, fast)
			stop := start(t, f)
			eventually(t, "in flight", func() bool { return started.Load() == int64(len(cards)) })
			stop()
			items, err := st.OutboxPending("fake", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tt.pending*len(cards) {
				t.Fatalf("%d pending after the stop, want %d", len(items), tt.pending*len(cards))
			}
			for _, it := range items {
				if it.UpstreamRequest != tt.request || it.Attempts != 0 {
					t.Errorf("pending %+v: want upstream request %s and no failed attempt counted", it, tt.request)
				}
			}
		})
	}
}

// failingOutbox is a store whose OutboxPending fails a number of times.
type failingOutbox struct {
	*storage.Store
	failures atomic.Int64
}

func (o *failingOutbox) OutboxPending(sink string, after uint64, limit int) ([]storage.OutboxItem, error) {
	if o.failures.Add(-1) >= 0 {
		return nil, errors.New("the disk is on fire")
	}
	return o.Store.OutboxPending(sink, after, limit)
}

// TestForwarderReadFails: when the outbox cannot be read, the forwarder
// waits and reads again.
func TestForwarderReadFails(t *testing.T) {
	rc := &receiver{}
	srv := newReceiver(t, rc)
	send, sink := newWebhookSink(t, srv)
	st, cards := openOutbox(t, 2, sink)
	for _, c := range cards {
		change(t, st, c)
	}
	o := &failingOutbox{Store: st}
	o.failures.Store(3)
	f := fleet.New(o, map[string]fleet.Sender{sink: send}, fast)
	stop := start(t, f)
	eventually(t, "delivered", func() bool { p, _ := counts(t, st, sink); return p == 0 })
	stop()
	if o.failures.Load() >= 0 || rc.count() != len(cards) {
		t.Errorf("%d reads left to fail, %d events arrived; want every change once after the failures", o.failures.Load(), rc.count())
	}
}
