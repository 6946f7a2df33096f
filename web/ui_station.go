package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/page"
)

// The station page, its full-screen form for the station's own screen,
// and how they stay live: /station/events streams the panel's HTML as
// server-sent events whenever the station changes, /station/panel answers
// one copy for the page's fallback poll.

// stationWords is what the page says of a state, for a person at the
// station rather than for whoever debugs it.
type stationWords struct {
	headline string
	tone     string   // "go", "wait" or "stop": the headline's colour
	legend   string   // the LED legend's meaning of the state's signal
	next     []string // what to do now
}

// reEnable is who can undo a walk-up disable: the action table gives
// Enable to admins only.
const reEnable = "Blocked by mistake? Call the service desk: only an administrator can unblock it."

// stationStates are the states in the order the legend lists them, each
// with its words.
var stationStates = []struct {
	state station.State
	words stationWords
}{
	{station.Ready, stationWords{"Insert your card", "go", "Ready: insert a card",
		[]string{"Put the card to block into the reader."}}},
	{station.Reading, stationWords{"Reading the card…", "wait", "Reading the card",
		[]string{"Leave the card in."}}},
	{station.Confirm, stationWords{"Press the button to block this card", "wait", "Press the button to block the card",
		[]string{"Press the button once, before the time is up.", "Not your card? Take it out now: nothing is changed."}}},
	{station.Disabled, stationWords{"Card blocked", "go", "Card blocked",
		[]string{"Take the card out. It no longer works.", "Call the service desk for a new card.", reEnable}}},
	{station.NothingToDo, stationWords{"Nothing to block on this card", "go", "Nothing to do: the card is already blocked, suspended or retired",
		[]string{"Take the card out. Nothing was changed.", "Questions? Call the service desk."}}},
	{station.UnknownCard, stationWords{"This card is not known here", "stop", "Card not known here",
		[]string{"Take the card out. Nothing was changed.", "Call the service desk to block it: this station blocks only cards it has a record of."}}},
	{station.TimedOut, stationWords{"Time is up — take the card out and insert it again", "wait", "Time is up: take the card out",
		[]string{"Nothing was changed.", "Insert the card again to start over."}}},
	{station.Error, stationWords{"Something went wrong — nothing was changed", "stop", "Something went wrong: nothing was changed",
		[]string{"Take the card out and try again.", "If it happens again, call the service desk."}}},
	{station.SeveralCards, stationWords{"Take one card out", "stop", "More than one card is in",
		[]string{"Leave only the card to block in a reader."}}},
	{station.NoReader, stationWords{"No card reader", "stop", "No card reader",
		[]string{"This station cannot read cards now. Call the service desk."}}},
}

// wordsOf returns a state's words; a state without any (a new one, until
// it gets words here) shows its name rather than nothing.
func wordsOf(st station.State) stationWords {
	for _, s := range stationStates {
		if s.state == st {
			return s.words
		}
	}
	return stationWords{headline: string(st), tone: "wait"}
}

// nothingToDo is the headline of a card with nothing to disable, by its
// status: "already blocked" is true only of a disabled one.
func nothingToDo(status domain.CardStatus) string {
	switch status {
	case domain.CardDisabled:
		return "This card is already blocked"
	case domain.CardSuspended:
		return "This card is suspended"
	case domain.CardRetired:
		return "This card is retired"
	}
	return "Nothing to block on this card"
}

// stationLegend is the LED legend, from the station's own signal table.
func stationLegend() []page.LegendRow {
	rows := make([]page.LegendRow, len(stationStates))
	for i, s := range stationStates {
		rows[i] = page.LegendRow{LEDs: ledsView(station.Signal(s.state)), Meaning: s.words.legend}
	}
	return rows
}

func ledsView(sig panel.Signal) page.LEDs {
	return page.LEDs{Green: string(sig.Green), Amber: string(sig.Amber), Red: string(sig.Red)}
}

// stationPanelView is the station page's panel, from the station's status
// when one runs.
// The simulated button is offered to those who may press it: operators.
func (s *Server) stationPanelView(ctx context.Context, u *page.Session) page.StationView {
	v := page.StationView{Simulated: s.opt.PressButton != nil && u != nil && u.Role.Includes(domain.RoleOperator), Running: s.opt.Station != nil, PanelFault: s.panelFault(),
		Outbox: s.outboxWaiting()}
	if !v.Running {
		return v
	}
	st := s.opt.Station.Status()
	w := wordsOf(st.State)
	v.State, v.Message, v.Headline, v.Tone, v.Next = string(st.State), st.Message, w.headline, w.tone, w.next
	v.LEDs = ledsView(st.LEDs)
	v.Legend = stationLegend()
	if st.Deadline != nil {
		v.Remaining = max(st.Deadline.Sub(s.opt.Now()), time.Millisecond) // until the station says the time is up, some is left
	}
	v.Readers = views(st.Readers, func(r station.ReaderStatus) page.ReaderView {
		return page.ReaderView{Name: r.Name, Card: readerCard(r.Card)}
	})
	v.Card = readerCard(st.Card)
	if c := st.Card; c != nil && c.Status != nil {
		status := domain.CardStatus(*c.Status)
		v.Card.Status = status.String()
		if st.State == station.NothingToDo {
			v.Headline = nothingToDo(status)
		}
		if c.Uuid != nil {
			v.Card.Owner = s.cardOwner(ctx, *c)
		}
	}
	return v
}

// cardOwner is the card's assigned user, shortened to the first group of
// its id: the record holds no name, and the whole id helps nobody at the
// station. "" when the record cannot be read (the page still works).
func (s *Server) cardOwner(ctx context.Context, c station.Card) string {
	rec, err := s.pages.Card(*c.Uuid)
	if err != nil {
		s.log.WarnContext(ctx, "station page: reading the card's owner", "card", c.Uuid.String(), "err", err)
		return ""
	}
	if rec.AssignedUserUuid.IsNil() {
		return ""
	}
	id, _, _ := strings.Cut(rec.AssignedUserUuid.String(), "-")
	return id + "…"
}

func readerCard(c *station.Card) *page.ReaderCard {
	if c == nil {
		return nil
	}
	return &page.ReaderCard{Kind: string(c.Kind), Serial: c.Serial}
}

func (s *Server) stationPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	s.render(w, r, http.StatusOK, page.Station(u, s.stationPanelView(r.Context(), u)))
	return nil
}

// stationKiosk answers GET /station/kiosk, the station's own screen.
func (s *Server) stationKiosk(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	s.render(w, r, http.StatusOK, page.StationKiosk(s.stationPanelView(r.Context(), u)))
	return nil
}

// stationPanel answers GET /station/panel, the page's fallback poll when
// server-sent events do not get through. It logs at DEBUG only: every
// open page asks once a second.
func (s *Server) stationPanel(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	quiet(w)
	s.render(w, r, http.StatusOK, page.StationBody(s.stationPanelView(r.Context(), u)))
	return nil
}

func (s *Server) stationPress(w http.ResponseWriter, r *http.Request, _ *page.Session, _ domain.Origin) error {
	s.opt.PressButton()
	http.Redirect(w, r, "/station", http.StatusSeeOther) // station.js posts without following it: the kiosk stays
	return nil
}

// How often the event stream looks at the station and at the rest. The
// station's status is a copy under a mutex, so looking every 50 ms costs
// nothing and keeps a change within the page's 200 ms; the session, the
// outbox and the panel's fault are read from the database or the
// forwarder, once a second.
const (
	stationTick    = 50 * time.Millisecond
	stationRecheck = time.Second
	// stationKeepAlive is how often an idle stream sends a comment, so
	// that a client that went away is noticed and no proxy cuts it.
	stationKeepAlive = 15 * time.Second
)

// stationEvents answers GET /station/events: a text/event-stream with
// the panel's HTML as a "panel" event at the start and at every change,
// and a "signin" event, after which it ends, when the session does. The
// stream logs one line, when it ends.
func (s *Server) stationEvents(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return err // pageHandler has just read it
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	send := func(event, data string) error {
		// Each write moves the deadline: the server's WriteTimeout would
		// otherwise cut every stream after 30 s.
		if err := rc.SetWriteDeadline(time.Now().Add(streamStall)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		var b bytes.Buffer
		if event != "" {
			fmt.Fprintf(&b, "event: %s\n", event)
			for line := range strings.SplitSeq(data, "\n") {
				fmt.Fprintf(&b, "data: %s\n", line)
			}
		} else {
			b.WriteString(": " + data + "\n") // a comment: EventSource ignores it
		}
		b.WriteString("\n")
		if _, err := w.Write(b.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	}
	type seen struct {
		status        station.Status
		fault, outbox string
	}
	var last seen
	look := func(all bool) seen {
		now := last
		if s.opt.Station != nil {
			now.status = s.opt.Station.Status()
		}
		if all {
			now.fault, now.outbox = s.panelFault(), s.outboxWaiting()
		}
		return now
	}
	panel := func() error {
		var b bytes.Buffer
		if err := page.StationBody(s.stationPanelView(r.Context(), u)).Render(r.Context(), &b); err != nil {
			return err
		}
		return send("panel", b.String())
	}
	last = look(true)
	if err := panel(); err != nil {
		return nil // the client went away, or the render failed: the answer has started, so nothing is left to say
	}
	tick, recheck := time.NewTicker(stationTick), time.NewTicker(stationRecheck)
	defer tick.Stop()
	defer recheck.Stop()
	idle := time.Now()
	for {
		var now seen
		select {
		case <-r.Context().Done():
			return nil
		case <-s.streamsDone():
			return nil
		case <-tick.C:
			now = look(false)
		case <-recheck.C:
			if _, err := s.creds.SessionUser(r.Context(), c.Value); err != nil {
				_ = send("signin", "/signin")
				return nil
			}
			now = look(true)
			if time.Since(idle) >= stationKeepAlive {
				if send("", "keep-alive") != nil {
					return nil
				}
				idle = time.Now()
			}
		}
		if reflect.DeepEqual(now, last) {
			continue
		}
		last = now
		if panel() != nil {
			return nil
		}
		idle = time.Now()
	}
}

// liveStreams ends the open event streams when the server shuts down:
// http.Server.Shutdown waits for every request, and a stream never ends
// by itself. The zero value is ready.
type liveStreams struct {
	mu   sync.Mutex
	done chan struct{}
}

func (l *liveStreams) ch() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}

func (s *Server) streamsDone() <-chan struct{} { return s.live.ch() }

// StopStreams ends the station page's event streams (their pages fall
// back to polling, then reconnect). Register it with the http.Server's
// RegisterOnShutdown: Shutdown waits for open streams otherwise. Safe to
// call more than once.
func (s *Server) StopStreams() {
	c := s.live.ch()
	s.live.mu.Lock()
	defer s.live.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}
