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
	"sync"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/guid"
)

// State is where the station is in its flow.
type State string

// The station's states. The LED signal of each is in signals.
const (
	NoReader    State = "no-reader"     // no reader, or pcscd is not there
	Ready       State = "ready"         // insert a card
	Reading     State = "reading"       // looking the card up
	Confirm     State = "confirm"       // a card that can be disabled: press within the window
	Disabled    State = "disabled"      // just disabled; take the card out
	NothingToDo State = "nothing-to-do" // already disabled, suspended or retired
	UnknownCard State = "unknown-card"  // no identity, or no record of it
	TimedOut    State = "timed-out"     // no press within the window; take the card out
	Error       State = "error"         // the lookup or the change failed; nothing was changed
)

// signals is the LED signal of every state (the README's table): green
// means go, amber wait or confirm, red stop.
var signals = map[State]panel.Signal{
	NoReader:    {Green: panel.Off, Amber: panel.Off, Red: panel.Slow},
	Ready:       {Green: panel.On, Amber: panel.Off, Red: panel.Off},
	Reading:     {Green: panel.Off, Amber: panel.On, Red: panel.Off},
	Confirm:     {Green: panel.Off, Amber: panel.Fast, Red: panel.Off},
	Disabled:    {Green: panel.Fast, Amber: panel.Off, Red: panel.Off},
	NothingToDo: {Green: panel.Slow, Amber: panel.Off, Red: panel.Off},
	TimedOut:    {Green: panel.Off, Amber: panel.Slow, Red: panel.Off},
	UnknownCard: {Green: panel.Off, Amber: panel.Off, Red: panel.Fast},
	Error:       {Green: panel.Off, Amber: panel.Off, Red: panel.On},
}

// Signal returns the LED signal of a state.
func Signal(s State) panel.Signal { return signals[s] }

// Cards is what the station needs of the records.
type Cards interface {
	CardBySerial(serial string) (storage.Smartcard, error)
	ChangeCard(o storage.Origin, cardID guid.GUID, c storage.Change) (storage.Smartcard, error)
}

// Lights shows a signal on the LEDs.
type Lights interface {
	Show(panel.Signal)
}

// Config is the station's configuration.
type Config struct {
	// Name identifies the station in the audit log ("station:<Name>").
	Name string
	// ConfirmWindow is how long a press may come after the card was
	// found. Zero means 10 s.
	ConfirmWindow time.Duration
	// Logger receives the station's log lines; nil means slog.Default().
	Logger *slog.Logger
}

// Card is the station's view of the card in the reader.
type Card struct {
	Kind   reader.IdentityKind `json:"kind"`
	Serial string              `json:"serial,omitempty"`
	ATR    string              `json:"atr,omitempty"`
	Uuid   *guid.GUID          `json:"uuid,omitempty"`   // when a record was found
	Status *int                `json:"status,omitempty"` // its MIM CM status number
}

// Status is a snapshot of the station, for the API and the page.
type Status struct {
	State    State        `json:"state"`
	LEDs     panel.Signal `json:"leds"`
	Reader   string       `json:"reader"` // "" without a reader
	Card     *Card        `json:"card"`   // null without a card
	Deadline *time.Time   `json:"confirm_deadline,omitempty"`
	Message  string       `json:"message"`
}

// Station runs the flow. Create it with New, run it with Run.
type Station struct {
	cfg    Config
	cards  Cards
	lights Lights
	origin storage.Origin

	mu     sync.Mutex
	status Status
	events map[string]uint64 // reader events seen, by kind ("read-error" for unreadable cards)

	// Only Run's goroutine touches these.
	card     *storage.Smartcard
	inserted reader.Event
	timer    *time.Timer
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
	actor, id := storage.StationActor(cfg.Name)
	s := &Station{cfg: cfg, cards: cards, lights: lights,
		origin: storage.Origin{Actor: actor, ActorUuid: id, Role: storage.RoleOperator}}
	s.set(NoReader, "no card reader yet", nil)
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
	return st
}

// set moves to state, shows its signal and records the snapshot.
func (s *Station) set(state State, msg string, card *Card) {
	sig := signals[state]
	s.lights.Show(sig)
	s.mu.Lock()
	s.status.State, s.status.LEDs, s.status.Message, s.status.Card, s.status.Deadline = state, sig, msg, card, nil
	s.mu.Unlock()
	s.cfg.Logger.Info("station", "state", state, "message", msg)
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
			s.onPress(at)
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
	switch e.Kind {
	case reader.ReaderAppeared:
		s.mu.Lock()
		s.status.Reader = e.Reader
		s.mu.Unlock()
		s.reset(Ready, "insert a card")
	case reader.ReaderLost, reader.ServiceLost:
		s.mu.Lock()
		s.status.Reader = ""
		s.mu.Unlock()
		s.reset(NoReader, "no card reader: check the reader and pcscd")
	case reader.Removed, reader.Pulled:
		if s.state() != NoReader {
			s.reset(Ready, "insert a card")
		}
	case reader.Inserted:
		if s.state() == NoReader {
			return // a reader we are not told about yet; its ReaderAppeared comes first
		}
		s.onInserted(e)
	}
}

// reset forgets the card and any running confirm window.
func (s *Station) reset(state State, msg string) {
	s.card = nil
	s.timer.Stop()
	s.set(state, msg, nil)
}

func (s *Station) onInserted(e reader.Event) {
	s.inserted = e
	seen := &Card{Kind: e.Identity.Kind, Serial: e.Identity.Serial, ATR: hex.EncodeToString(e.ATR)}
	if e.Identity.Kind == reader.KindUnknown || e.Identity.Serial == "" {
		s.set(UnknownCard, "this card does not say who it is; nothing can be done here", seen)
		return
	}
	s.set(Reading, "looking the card up", seen)
	card, err := s.cards.CardBySerial(e.Identity.Serial)
	if errors.Is(err, storage.ErrNotFound) {
		s.set(UnknownCard, "no record of this card; nothing can be done here", seen)
		return
	}
	if err != nil {
		s.cfg.Logger.Error("station: card lookup failed", "serial", e.Identity.Serial, "err", err)
		s.set(Error, "the card could not be looked up; take it out and try again", seen)
		return
	}
	id, status := card.Uuid, int(card.Status)
	seen.Uuid, seen.Status = &id, &status
	if err := storage.CheckTransition(card.Status, storage.CardDisabled, s.origin.Role); err != nil {
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

func (s *Station) onPress(at time.Time) {
	if s.state() != Confirm || s.card == nil || at.Before(s.windowFrom) || at.After(s.windowTo) {
		return // a press outside the confirm window does nothing, even one that waited in line
	}
	s.timer.Stop()
	card, seen := *s.card, s.Status().Card
	s.card = nil
	o := s.origin
	o.Source, o.CorrelationID = s.inserted.Reader, guid.New()
	ev := storage.Evidence{Reader: s.inserted.Reader, Atr: hex.EncodeToString(s.inserted.ATR),
		IdentityKind: string(s.inserted.Identity.Kind), Identifier: s.inserted.Identity.Serial,
		InsertedAt: s.inserted.Time.UTC(), PressedAt: at.UTC()}
	updated, err := s.cards.ChangeCard(o, card.Uuid, storage.Change{Type: storage.TypeDisable, To: storage.CardDisabled,
		Reason: "walk-up", Comment: "disabled at the walk-up station, reader " + ev.Reader, Evidence: &ev})
	if err != nil {
		s.cfg.Logger.Error("station: disable failed", "card", card.Uuid.String(), "correlation_id", o.CorrelationID.String(), "err", err)
		s.set(Error, "the card could not be disabled; nothing was changed; take it out and try again", seen)
		return
	}
	status := int(updated.Status)
	seen.Status = &status
	s.set(Disabled, "the card is disabled; take it out", seen)
}
