// Package station is the walk-up station's state machine: a card is
// inserted, its record is looked up, the LEDs say what was found, one
// press of the button within the confirm window disables it, the LEDs
// confirm, the card is taken out. Inputs are the reader's events and the
// button's presses; the clock is the time package's, so tests run it
// under testing/synctest.
package station

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// State is where the station is in its flow.
type State string

// The station's states. The LED signal of each is in signals.
const (
	NoReader     State = "no-reader"     // no reader, or pcscd is not there
	Ready        State = "ready"         // insert a card
	Reading      State = "reading"       // looking the card up
	Confirm      State = "confirm"       // a card that can be disabled: press within the window
	Disabled     State = "disabled"      // just disabled; take the card out
	NothingToDo  State = "nothing-to-do" // already disabled, suspended or retired
	UnknownCard  State = "unknown-card"  // no identity, or no record of it
	TimedOut     State = "timed-out"     // no press within the window; take the card out
	Error        State = "error"         // the lookup or the change failed; nothing was changed
	SeveralCards State = "several-cards" // more than one identified card is in: nothing can be done
)

// signals is the LED signal of every state (the README's table): green
// means go, amber wait or confirm, red stop.
var signals = map[State]panel.Signal{
	NoReader:     {Green: panel.Off, Amber: panel.Off, Red: panel.Slow},
	Ready:        {Green: panel.On, Amber: panel.Off, Red: panel.Off},
	Reading:      {Green: panel.Off, Amber: panel.On, Red: panel.Off},
	Confirm:      {Green: panel.Off, Amber: panel.Fast, Red: panel.Off},
	Disabled:     {Green: panel.Fast, Amber: panel.Off, Red: panel.Off},
	NothingToDo:  {Green: panel.Slow, Amber: panel.Off, Red: panel.Off},
	TimedOut:     {Green: panel.Off, Amber: panel.Slow, Red: panel.Off},
	UnknownCard:  {Green: panel.Off, Amber: panel.Off, Red: panel.Fast},
	Error:        {Green: panel.Off, Amber: panel.Off, Red: panel.On},
	SeveralCards: {Green: panel.Off, Amber: panel.Slow, Red: panel.Slow},
}

// Signal returns the LED signal of a state.
func Signal(s State) panel.Signal { return signals[s] }

// Cards is what the station needs of the records.
type Cards interface {
	CardBySerial(serial string) (storage.Smartcard, error)
	Apply(ctx context.Context, o domain.Origin, cmd domain.Command) (storage.Smartcard, error)
}

// Lights shows a signal on the LEDs.
type Lights interface {
	Show(panel.Signal)
}

// Config is the station's configuration.
type Config struct {
	// Name identifies the station in the audit log ("station:<Name>").
	Name string
	// Reread reads the card in the named reader again, as an Inserted
	// event (pcsc.Identify). A press disables a card only if the reader
	// still holds the card that was looked up: the reader's events can
	// lag behind a swap (a stalled process, a swap between two polls).
	// Nil: no press ever disables.
	Reread func(ctx context.Context, reader string) reader.Event
	// ConfirmWindow is how long a press may come after the card was
	// found. Zero means 10 s.
	ConfirmWindow time.Duration
	// Logger receives the station's log lines; nil means slog.Default().
	Logger *slog.Logger
}

// Card is the station's view of the card in the reader.
type Card struct {
	Kind   reader.IdentityKind
	Serial string
	ATR    string     // hex
	Uuid   *guid.GUID // when a record was found
	Status *int       // its MIM CM status number
}

// ReaderStatus is one reader and the card in it.
type ReaderStatus struct {
	Name string
	Card *Card // nil when empty
}

// Status is a snapshot of the station, for the API and the page (which
// have shapes of their own: package web converts).
type Status struct {
	State    State
	LEDs     panel.Signal
	Reader   string         // the card's reader, else the first reader; "" without one
	Readers  []ReaderStatus // every reader, by name
	Card     *Card          // the card being handled; nil without one
	Deadline *time.Time     // the end of the confirm window, while one runs
	Message  string
}

// Station runs the flow. Create it with New, run it with Run.
type Station struct {
	cfg    Config
	cards  Cards
	lights Lights
	origin domain.Origin

	mu     sync.Mutex
	status Status
	events map[string]uint64 // reader events seen, by kind ("read-error" for unreadable cards)

	// Only Run's goroutine touches these.
	slots  map[string]*reader.Event // the readers, and the card in each (nil: none)
	inHand *reader.Event            // the card being handled, one of slots'
	card   *storage.Smartcard       // its record, while a press may disable it
	timer  *time.Timer
	// window is when presses count: from the moment the LEDs asked for
	// one until the deadline.
	windowFrom, windowTo time.Time
}

// New returns a station in the no-reader state, its LEDs showing it.
func New(cfg Config, cards Cards, lights Lights) *Station {
	if cfg.ConfirmWindow == 0 {
		cfg.ConfirmWindow = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	actor, id := domain.StationActor(cfg.Name)
	s := &Station{cfg: cfg, cards: cards, lights: lights, slots: map[string]*reader.Event{},
		origin: domain.Origin{Actor: actor, ActorUuid: id, Role: domain.RoleOperator}}
	s.set(NoReader, "no card reader yet", nil)
	s.publishReaders()
	return s
}

// Status returns what the station shows now.
func (s *Station) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.Card != nil {
		c := *st.Card
		st.Card = &c
	}
	st.Readers = slices.Clone(st.Readers)
	return st
}

// set moves to state, shows its signal and records the snapshot.
func (s *Station) set(state State, msg string, card *Card) {
	sig := signals[state]
	s.lights.Show(sig)
	s.mu.Lock()
	s.status.State, s.status.LEDs, s.status.Message, s.status.Card, s.status.Deadline = state, sig, msg, card, nil
	s.mu.Unlock()
	// Attempts that change nothing (an unknown card, a timeout, a card
	// with nothing to disable) are no audit events, which record changes;
	// this line, with the reader and the identifier, is their record.
	attrs := []any{"state", state, "message", msg}
	if s.inHand != nil {
		attrs = append(attrs, "reader", s.inHand.Reader)
	}
	if card != nil {
		attrs = append(attrs, "identifier", card.Serial, "kind", card.Kind)
	}
	s.cfg.Logger.Info("station", attrs...)
}

// Run drives the station from the reader's events and the button's
// presses until ctx ends or events closes.
func (s *Station) Run(ctx context.Context, events <-chan reader.Event, presses <-chan time.Time) error {
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e, ok := <-events:
			if !ok {
				return errors.New("the reader's events ended")
			}
			s.onEvent(e)
		case at := <-presses:
			// A removal or loss that came in as well goes first: a card
			// pulled out before the press is handled changes nothing.
			for pending := true; pending; {
				select {
				case e, ok := <-events:
					if !ok {
						return errors.New("the reader's events ended")
					}
					s.onEvent(e)
				default:
					pending = false
				}
			}
			s.onPress(ctx, at)
		case <-s.timer.C:
			if s.state() == Confirm {
				s.card = nil
				s.set(TimedOut, "no press within the confirm window; nothing was changed; take the card out", s.Status().Card)
			}
		}
	}
}

func (s *Station) state() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.State
}

// EventCounts returns how many reader events the station has seen, by
// kind, for the metrics.
func (s *Station) EventCounts() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.events))
	for k, v := range s.events {
		out[k] = v
	}
	return out
}

func (s *Station) onEvent(e reader.Event) {
	s.mu.Lock()
	if s.events == nil {
		s.events = map[string]uint64{}
	}
	s.events[string(e.Kind)]++
	if e.Err != "" {
		s.events["read-error"]++
	}
	s.mu.Unlock()
	_, known := s.slots[e.Reader]
	switch e.Kind {
	case reader.ReaderAppeared:
		if !known {
			s.slots[e.Reader] = nil
		}
	case reader.ReaderLost:
		delete(s.slots, e.Reader)
	case reader.ServiceLost:
		clear(s.slots)
	case reader.Inserted:
		if !known {
			return // a reader we are not told about (any more); its ReaderAppeared comes first
		}
		s.slots[e.Reader] = &e
	case reader.Removed, reader.Pulled:
		if !known {
			return
		}
		s.slots[e.Reader] = nil
	default:
		return
	}
	s.evaluate()
}

// evaluate decides, from the readers and their cards, which card is
// handled. One identified card is handled (an unidentified one beside it
// cannot be disabled and does not matter); two or more are refused, so
// that a press never disables a card other than the one its holder
// means. A card whose flow is under way goes on while it stays in.
func (s *Station) evaluate() {
	s.publishReaders()
	if len(s.slots) == 0 {
		s.reset(NoReader, "no card reader: check the reader and pcscd")
		return
	}
	var identified []*reader.Event
	var unidentified *reader.Event
	for _, name := range s.readerNames() {
		e := s.slots[name]
		switch {
		case e == nil:
		case e.Err == "" && e.Identity.Serial != "" && e.Identity.Kind != reader.KindUnknown:
			if !slices.ContainsFunc(identified, func(o *reader.Event) bool { return o.Identity == e.Identity }) {
				identified = append(identified, e)
			}
		case unidentified == nil:
			unidentified = e
		}
	}
	switch {
	case len(identified) > 1:
		s.reset(SeveralCards, "more than one card is in: take out every card but the one to disable")
	case len(identified) == 1:
		if s.inHand == nil || s.inHand.Identity != identified[0].Identity {
			s.handle(identified[0])
		}
	case unidentified != nil:
		if s.inHand != unidentified {
			s.card, s.inHand = nil, unidentified
			s.timer.Stop()
			s.set(UnknownCard, unidentifiedMessage(unidentified), cardView(unidentified))
			s.publishReaders()
		}
	case s.inHand != nil || s.state() != Ready:
		s.reset(Ready, "insert a card")
	}
}

func unidentifiedMessage(e *reader.Event) string {
	switch {
	case e.Err != "":
		return "this card could not be read; nothing can be done here; take it out and try again"
	case e.Identity.Reason != "":
		return "this card does not say who it is (" + e.Identity.Reason + "); nothing can be done here"
	}
	return "this card does not say who it is; nothing can be done here"
}

// readerNames returns the readers' names in order.
func (s *Station) readerNames() []string {
	names := make([]string, 0, len(s.slots))
	for n := range s.slots {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// publishReaders puts the readers and their cards into the status.
func (s *Station) publishReaders() {
	names := s.readerNames()
	readers := make([]ReaderStatus, len(names))
	for i, n := range names {
		readers[i].Name = n
		if e := s.slots[n]; e != nil {
			readers[i].Card = cardView(e)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Readers = readers
	s.status.Reader = ""
	if len(names) > 0 {
		s.status.Reader = names[0]
	}
	if s.inHand != nil {
		s.status.Reader = s.inHand.Reader
	}
}

// cardView is what the status shows of a card in a reader.
func cardView(e *reader.Event) *Card {
	return &Card{Kind: e.Identity.Kind, Serial: e.Identity.Serial, ATR: hex.EncodeToString(e.ATR)}
}

// reset forgets the card and any running confirm window.
func (s *Station) reset(state State, msg string) {
	s.card, s.inHand = nil, nil
	s.timer.Stop()
	s.set(state, msg, nil)
	s.publishReaders()
}

// handle looks up the identified card e and, if it can be disabled,
// opens the confirm window.
func (s *Station) handle(e *reader.Event) {
	s.card, s.inHand = nil, e
	s.timer.Stop()
	seen := cardView(e)
	s.set(Reading, "looking the card up", seen)
	s.publishReaders()
	card, err := s.cards.CardBySerial(e.Identity.Serial)
	if errors.Is(err, domain.ErrNotFound) {
		s.set(UnknownCard, "no record of this card; nothing can be done here", seen)
		return
	}
	if err != nil {
		s.cfg.Logger.Error("station: card lookup failed", "serial", e.Identity.Serial, "err", err)
		s.set(Error, "the card could not be looked up; take it out and try again", seen)
		return
	}
	// A new Card, not the one the status holds: Status may be copying it.
	found, id, status := *seen, card.Uuid, int(card.Status)
	found.Uuid, found.Status = &id, &status
	seen = &found
	if !slices.ContainsFunc(domain.Available(card.Status, s.origin.Role, domain.ViaStation), func(a domain.Action) bool { return a.Name == domain.Disable }) {
		s.set(NothingToDo, fmt.Sprintf("this card is %s; there is nothing to disable", card.Status), seen)
		return
	}
	s.card = &card
	// The window opens before the LEDs ask for the press: a press made
	// the moment they light up (or the API shows confirm) counts.
	s.windowFrom = time.Now()
	deadline := s.windowFrom.Add(s.cfg.ConfirmWindow)
	s.windowTo = deadline
	s.set(Confirm, fmt.Sprintf("this card is %s: press the button within %s to disable it", card.Status, s.cfg.ConfirmWindow), seen)
	s.mu.Lock()
	s.status.Deadline = &deadline
	s.mu.Unlock()
	s.timer.Reset(s.cfg.ConfirmWindow)
}

func (s *Station) onPress(ctx context.Context, at time.Time) {
	if s.state() != Confirm || s.card == nil || at.Before(s.windowFrom) || at.After(s.windowTo) {
		return // a press outside the confirm window does nothing, even one that waited in line
	}
	in, seen := s.inHand, s.Status().Card
	var now reader.Event
	if s.cfg.Reread != nil {
		now = s.cfg.Reread(ctx, in.Reader)
	} else {
		now.Err = "the station cannot read the card again"
	}
	if now.Err != "" {
		s.cfg.Logger.Warn("station: the card could not be read again at the press; nothing was changed", "reader", in.Reader, "err", now.Err)
		s.timer.Stop()
		s.card = nil
		s.set(Error, "the card could not be read again, so nothing was changed; take it out and try again", seen)
		return
	}
	if now.Identity != in.Identity {
		// The watcher has not seen the swap yet: the card in the reader
		// is not the one looked up. Handle that one; change nothing.
		s.cfg.Logger.Warn("station: at the press the reader held another card than the one looked up; nothing was changed",
			"reader", in.Reader, "looked_up", in.Identity.Serial, "in_reader", now.Identity.Serial)
		s.slots[in.Reader] = &now
		s.evaluate()
		return
	}
	s.timer.Stop()
	card := *s.card
	s.card = nil
	o := s.origin
	o.Source, o.CorrelationID = in.Reader, guid.New()
	ev := domain.Evidence{Reader: in.Reader, Atr: hex.EncodeToString(in.ATR),
		IdentityKind: string(in.Identity.Kind), Identifier: in.Identity.Serial,
		InsertedAt: in.Time.UTC(), PressedAt: at.UTC()}
	updated, err := s.cards.Apply(ctx, o, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "walk-up",
		Comment: "disabled at the walk-up station, reader " + ev.Reader, Evidence: &ev, Via: domain.ViaStation})
	if err != nil {
		s.cfg.Logger.Error("station: disable failed", "card", card.Uuid.String(), "correlation_id", o.CorrelationID.String(), "err", err)
		s.set(Error, "the card could not be disabled; nothing was changed; take it out and try again", seen)
		return
	}
	status := int(updated.Status)
	seen.Status = &status
	s.set(Disabled, "the card is disabled; take it out", seen)
}
