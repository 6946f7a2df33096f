package station

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The cards of the tests, by serial.
const (
	serialActive    = "{11111111-1111-4111-8111-111111111111}"
	serialDisabled  = "{22222222-2222-4222-8222-222222222222}"
	serialRetired   = "{33333333-3333-4333-8333-333333333333}"
	serialSuspended = "{44444444-4444-4444-8444-444444444444}"
	serialAssigned  = "{55555555-5555-4555-8555-555555555555}"
)

// rd is the reader of the tests.
const rd = "r"

// rig is a station on a real bbolt file with a simulated panel, driven by
// hand through its channels.
type rig struct {
	t       *testing.T
	st      *Station
	store   *storage.Store
	fault   atomic.Pointer[error] // while set, every commit fails with it, inside its transaction
	panel   *panel.Simulated
	events  chan reader.Event
	presses chan time.Time
	stop    context.CancelFunc
	done    chan error
	cards   readers // what is really in the readers, whatever the events said
}

// readers is what the readers hold: the station's Reread asks it.
type readers struct {
	mu sync.Mutex
	in map[string]reader.Identity
}

func (rs *readers) put(name string, id *reader.Identity) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.in == nil {
		rs.in = map[string]reader.Identity{}
	}
	if id == nil {
		delete(rs.in, name)
		return
	}
	rs.in[name] = *id
}

func (rs *readers) reread(_ context.Context, name string) reader.Event {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	id, ok := rs.in[name]
	if !ok {
		return reader.Event{Kind: reader.Inserted, Reader: name, Err: "no card"}
	}
	return reader.Event{Kind: reader.Inserted, Reader: name, ATR: []byte{0x3b, 0x80}, Identity: id, Time: time.Now()}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, panel: panel.NewSimulated(),
		events: make(chan reader.Event), presses: make(chan time.Time), done: make(chan error, 1)}
	st, err := storage.Open(t.TempDir(), storage.Options{InjectFault: func() error {
		if err := r.fault.Load(); err != nil {
			return *err
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r.store = st
	var cards []storage.Smartcard
	for i, c := range []struct {
		serial string
		status domain.CardStatus
	}{{serialActive, domain.CardActive}, {serialDisabled, domain.CardDisabled}, {serialRetired, domain.CardRetired},
		{serialSuspended, domain.CardSuspended}, {serialAssigned, domain.CardAssigned}} {
		cards = append(cards, storage.Smartcard{Uuid: guid.GUID{0: byte(i + 1), 6: 0x40, 8: 0x80}, SerialNumber: c.serial, Status: c.status})
	}
	if err := st.ImportCards(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, cards); err != nil {
		t.Fatal(err)
	}
	r.st = New(Config{Name: "lobby", Logger: quiet, Reread: r.cards.reread}, r.store, r.panel)
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.st.Run(ctx, r.events, r.presses) }()
	return r
}

// close stops the station and checks the database.
func (r *rig) close() {
	r.stop()
	<-r.done
	if err := r.store.Check(); err != nil {
		r.t.Error(err)
	}
	events, err := r.store.Events(0, 0)
	if err == nil {
		err = storage.VerifyChain(events)
	}
	if err != nil {
		r.t.Error(err)
	}
}

// send gives the station an event, of the tests' reader unless it names
// another, and keeps what the readers hold up to date.
func (r *rig) send(e reader.Event) {
	if e.Reader == "" && e.Kind != reader.ServiceLost {
		e.Reader = rd
	}
	switch e.Kind {
	case reader.Inserted:
		r.cards.put(e.Reader, &e.Identity)
	case reader.Removed, reader.Pulled, reader.ReaderLost:
		r.cards.put(e.Reader, nil)
	}
	e.Time = time.Now()
	r.events <- e
	synctest.Wait()
}

func (r *rig) press() {
	r.presses <- time.Now()
	synctest.Wait() // the commit's syscalls are not blocking: Wait waits for them
}

func (r *rig) insert(serial string) { r.insertInto(rd, serial) }

func (r *rig) insertInto(name, serial string) {
	r.send(reader.Event{Kind: reader.Inserted, Reader: name, ATR: []byte{0x3b, 0x80}, Identity: identity(serial)})
}

// identity is a PIV card's identity, or an unknown card's for "".
func identity(serial string) reader.Identity {
	if serial == "" {
		return reader.Identity{Kind: reader.KindUnknown}
	}
	return reader.Identity{Kind: reader.KindPIV, Serial: serial}
}

// want checks the state, and that the LEDs show its signal.
func (r *rig) want(state State) {
	r.t.Helper()
	st := r.st.Status()
	if st.State != state {
		r.t.Fatalf("state %s (%s), want %s", st.State, st.Message, state)
	}
	if got := r.panel.Signal(); got != Signal(state) || st.LEDs != got {
		r.t.Fatalf("state %s: LEDs %+v, status says %+v; want %+v", state, got, st.LEDs, Signal(state))
	}
}

// changes counts the audit events: the station's only writes.
func (r *rig) changes() int {
	events, err := r.store.Events(0, 0)
	if err != nil {
		r.t.Fatal(err)
	}
	return len(events)
}

func (r *rig) status(serial string) domain.CardStatus {
	c, err := r.store.CardBySerial(serial)
	if err != nil {
		r.t.Fatal(err)
	}
	return c.Status
}

func TestFlows(t *testing.T) {
	appeared := reader.Event{Kind: reader.ReaderAppeared, Reader: rd}
	tests := []struct {
		name   string
		serial string
		want   State
	}{
		{"active card", serialActive, Confirm},
		{"assigned card", serialAssigned, Confirm},
		{"disabled card", serialDisabled, NothingToDo},
		{"retired card", serialRetired, NothingToDo},
		{"suspended card", serialSuspended, Confirm},
		{"unknown serial", "{66666666-6666-4666-8666-666666666666}", UnknownCard},
		{"no identity", "", UnknownCard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newRig(t)
				defer r.close()
				r.want(NoReader)
				r.send(appeared)
				r.want(Ready)
				before := r.changes()
				r.insert(tt.serial)
				r.want(tt.want)
				r.send(reader.Event{Kind: reader.Removed})
				r.want(Ready)
				if r.changes() != before {
					t.Fatal("inserting and removing a card changed the database")
				}
			})
		})
	}
}

func TestDisable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
		before := r.changes()
		r.insert(serialActive)
		r.want(Confirm)
		if d := r.st.Status().Deadline; d == nil || d.Sub(time.Now()) != 10*time.Second {
			t.Fatalf("confirm deadline %v", d)
		}
		time.Sleep(3 * time.Second)
		r.press()
		r.want(Disabled)
		if r.status(serialActive) != domain.CardDisabled || r.changes() != before+1 {
			t.Fatalf("after the press: card %s, %d new events", r.status(serialActive), r.changes()-before)
		}
		events, _ := r.store.Events(uint64(before), 0)
		e := events[0]
		if e.Actor != "station:lobby" || e.Evidence == nil || e.Evidence.Identifier != serialActive ||
			e.Evidence.Atr != "3b80" || e.Evidence.PressedAt.Sub(e.Evidence.InsertedAt) != 3*time.Second {
			t.Fatalf("audit event %+v, evidence %+v", e, e.Evidence)
		}
		req, err := r.store.Request(e.RequestUuid)
		if err != nil || req.RequestType != domain.TypeDisable || req.Status != domain.RequestCompleted {
			t.Fatalf("request %+v %v", req, err)
		}
		// A second press does nothing more.
		r.press()
		r.want(Disabled)
		if r.changes() != before+1 {
			t.Fatal("a double press wrote twice")
		}
		r.send(reader.Event{Kind: reader.Removed})
		r.want(Ready)
	})
}

func TestConfirmTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
		before := r.changes()
		r.insert(serialActive)
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		r.want(Confirm)
		time.Sleep(time.Millisecond)
		synctest.Wait()
		r.want(TimedOut)
		r.press() // too late
		r.want(TimedOut)
		if r.changes() != before || r.status(serialActive) != domain.CardActive {
			t.Fatal("a press after the window changed the card")
		}
		r.send(reader.Event{Kind: reader.Removed})
		r.want(Ready)
	})
}

// TestPressOutsideConfirm: presses in every other state change nothing.
func TestPressOutsideConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.press()
		r.want(NoReader)
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
		before := r.changes()
		r.press()
		r.want(Ready)
		for _, serial := range []string{serialDisabled, "", "{99999999-9999-4999-8999-999999999999}"} {
			r.insert(serial)
			r.press()
			r.send(reader.Event{Kind: reader.Removed})
		}
		if r.changes() != before {
			t.Fatal("a press outside the confirm state wrote")
		}
	})
}

// stateSetups bring a fresh rig, its reader there, into each state.
var stateSetups = map[State]func(r *rig){
	Ready:       func(r *rig) {},
	Confirm:     func(r *rig) { r.insert(serialActive) },
	NothingToDo: func(r *rig) { r.insert(serialRetired) },
	UnknownCard: func(r *rig) { r.insert("") },
	TimedOut: func(r *rig) {
		r.insert(serialActive)
		time.Sleep(11 * time.Second)
		synctest.Wait()
	},
	Disabled: func(r *rig) { r.insert(serialAssigned); r.press() },
	Error: func(r *rig) {
		fault := errors.New("disk full")
		r.fault.Store(&fault)
		r.insert(serialActive)
		r.press()
		r.fault.Store(nil)
	},
}

// TestCardPulledInEachState: taking the card out, or having it pulled
// mid-read, in any state changes nothing more and returns to ready; a
// press afterwards does nothing.
func TestCardPulledInEachState(t *testing.T) {
	for state, setup := range stateSetups {
		for _, pull := range []reader.EventKind{reader.Removed, reader.Pulled} {
			t.Run(string(state)+" "+string(pull), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					r := newRig(t)
					defer r.close()
					r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
					setup(r)
					r.want(state)
					before, active := r.changes(), r.status(serialActive)
					r.send(reader.Event{Kind: pull})
					r.want(Ready)
					r.press()
					time.Sleep(time.Minute) // no confirm window left running
					synctest.Wait()
					r.want(Ready)
					if r.changes() != before || r.status(serialActive) != active {
						t.Fatal("a pulled card changed something")
					}
				})
			})
		}
	}
}

// TestReaderLostInEachState: losing pcscd or the reader in any state goes
// to no-reader and changes nothing; its return makes the station ready.
func TestReaderLostInEachState(t *testing.T) {
	for state, setup := range stateSetups {
		for _, lost := range []reader.EventKind{reader.ServiceLost, reader.ReaderLost} {
			t.Run(string(state)+" "+string(lost), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					r := newRig(t)
					defer r.close()
					r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
					setup(r)
					r.want(state)
					before, active := r.changes(), r.status(serialActive)
					r.send(reader.Event{Kind: lost})
					r.want(NoReader)
					r.press()
					r.insert(serialActive) // a stale event from the lost reader
					r.want(NoReader)
					if r.changes() != before || r.status(serialActive) != active {
						t.Fatal("losing the reader changed something")
					}
					r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
					r.want(Ready)
				})
			})
		}
	}
}

// TestCommitFailure: when the write fails the LEDs show red, nothing is
// half-written, and the next card works.
func TestCommitFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
		before := r.changes()
		fault := errors.New("disk full")
		r.fault.Store(&fault)
		r.insert(serialActive)
		r.press()
		r.want(Error)
		if r.changes() != before || r.status(serialActive) != domain.CardActive {
			t.Fatal("a failed commit left a change behind")
		}
		r.send(reader.Event{Kind: reader.Removed})
		r.fault.Store(nil)
		r.insert(serialActive)
		r.press()
		r.want(Disabled)
	})
}

// TestLookupFailure: a database that cannot be read gives the error signal.
func TestLookupFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
		r.store.Close()
		r.insert(serialActive)
		r.want(Error)
		r.stop()
		<-r.done
	})
}

// TestPressOutsideItsWindow: a press made before the LEDs asked for one
// (say, while the card was being looked up) or after the window closed
// does not disable, even when it is handled during the confirm state.
func TestPressOutsideItsWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: rd})
		before := r.changes()
		r.insert(serialActive)
		r.want(Confirm)
		for _, at := range []time.Time{time.Now().Add(-time.Millisecond), time.Now().Add(10*time.Second + time.Millisecond)} {
			r.presses <- at
			synctest.Wait()
			time.Sleep(2 * time.Millisecond)
			synctest.Wait()
			r.want(Confirm)
		}
		if r.changes() != before {
			t.Fatal("a press outside its window disabled the card")
		}
		r.press()
		r.want(Disabled)
	})
}

// pressingPanel is a simulated panel whose button is pressed the moment
// the LEDs ask for it.
type pressingPanel struct{ *panel.Simulated }

func (p pressingPanel) Show(s panel.Signal) {
	p.Simulated.Show(s)
	if s == Signal(Confirm) {
		p.Press()
	}
}

// TestPressAsTheLEDsLight: a press made the instant the LEDs (or the API)
// show confirm counts; on the real clock, not synctest's, where no time
// passes between the two.
func TestPressAsTheLEDsLight(t *testing.T) {
	st, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	card := storage.Smartcard{Uuid: guid.New(), SerialNumber: serialActive, Status: domain.CardActive}
	if err := st.ImportCards(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, []storage.Smartcard{card}); err != nil {
		t.Fatal(err)
	}
	p := pressingPanel{panel.NewSimulated()}
	var cards readers
	cards.put("r", &reader.Identity{Kind: reader.KindPIV, Serial: serialActive})
	s := New(Config{Name: "lobby", Logger: quiet, Reread: cards.reread}, st, p)
	events := make(chan reader.Event, 2)
	events <- reader.Event{Kind: reader.ReaderAppeared, Reader: rd}
	events <- reader.Event{Kind: reader.Inserted, Reader: "r", ATR: []byte{0x3b}, Identity: reader.Identity{Kind: reader.KindPIV, Serial: serialActive}, Time: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx, events, p.Presses()) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); s.Status().State != Disabled; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("state %s; the press made as the LEDs lit did not count", s.Status().State)
		}
	}
}

// TestSwapBeforeThePress: card A is looked up, then swapped for card B
// faster than the reader's events tell; the press reads the card again,
// disables nothing, and shows B, which the next press may disable.
func TestSwapBeforeThePress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.send(reader.Event{Kind: reader.ReaderAppeared})
		before := r.changes()
		r.insert(serialActive)
		r.want(Confirm)
		b := identity(serialAssigned)
		r.cards.put(rd, &b) // no event: the watcher has not seen the swap
		r.press()
		r.want(Confirm)
		if st := r.st.Status(); st.Card == nil || st.Card.Serial != serialAssigned {
			t.Fatalf("after the swap the station shows %+v; want card B", st.Card)
		}
		if r.changes() != before || r.status(serialActive) != domain.CardActive || r.status(serialAssigned) != domain.CardAssigned {
			t.Fatal("a press after a swap changed a card")
		}
		r.press()
		r.want(Disabled)
		if r.status(serialAssigned) != domain.CardDisabled || r.status(serialActive) != domain.CardActive {
			t.Fatal("the press after the station showed B did not disable B alone")
		}
	})
}

// TestCardGoneAtThePress: the card was pulled before the press and the
// event has not come yet: the re-read fails and nothing changes.
func TestCardGoneAtThePress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		r.send(reader.Event{Kind: reader.ReaderAppeared})
		before := r.changes()
		r.insert(serialActive)
		r.want(Confirm)
		r.cards.put(rd, nil)
		r.press()
		r.want(Error)
		if r.changes() != before || r.status(serialActive) != domain.CardActive {
			t.Fatal("a press with the card gone changed it")
		}
		r.send(reader.Event{Kind: reader.Removed})
		r.want(Ready)
	})
}

// TestSeveralReaders: a card in each of two readers is refused until one
// is taken out; the one left starts its own flow. An unidentified card
// beside an identified one does not stop it, and the same card seen in
// two slots (a dual-interface reader) is one card.
func TestSeveralReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t)
		defer r.close()
		const contactless = "r contactless"
		r.send(reader.Event{Kind: reader.ReaderAppeared})
		r.send(reader.Event{Kind: reader.ReaderAppeared, Reader: contactless})
		r.want(Ready)
		if st := r.st.Status(); len(st.Readers) != 2 || st.Readers[0].Name != rd || st.Readers[1].Name != contactless {
			t.Fatalf("readers %+v", st.Readers)
		}
		before := r.changes()
		r.insert(serialActive)
		r.want(Confirm)
		r.insertInto(contactless, serialAssigned)
		r.want(SeveralCards)
		r.press()
		r.want(SeveralCards)
		if r.changes() != before {
			t.Fatal("a press with two cards in changed something")
		}
		r.send(reader.Event{Kind: reader.Removed, Reader: rd})
		r.want(Confirm)
		if st := r.st.Status(); st.Card == nil || st.Card.Serial != serialAssigned || st.Reader != contactless ||
			st.Readers[0].Card != nil || st.Readers[1].Card == nil {
			t.Fatalf("left with card B: %+v", st)
		}
		r.insertInto(rd, "") // an unidentified card beside it
		r.want(Confirm)
		r.send(reader.Event{Kind: reader.Removed, Reader: rd})
		r.insertInto(rd, serialAssigned) // the same card, seen in the other slot too
		r.want(Confirm)
		r.press()
		r.want(Disabled)
		if r.changes() != before+1 || r.status(serialAssigned) != domain.CardDisabled || r.status(serialActive) != domain.CardActive {
			t.Fatal("want card B alone disabled, once")
		}
		r.send(reader.Event{Kind: reader.ReaderLost, Reader: contactless})
		r.want(Disabled) // the card is still in the other slot
		r.send(reader.Event{Kind: reader.Removed, Reader: rd})
		r.want(Ready)
	})
}
