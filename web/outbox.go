package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/fleet"
	"github.com/cardstop/cardstop/web/page"
)

// Forwarder is the outbox's delivery as the API, the metrics and /readyz
// show it; nil when no sink is configured.
type Forwarder interface {
	Sinks() []string
	Status() []fleet.SinkStatus
	// Wake tells the sinks that there is something to deliver: a change
	// an admin retried would otherwise wait for the next one committed.
	Wake()
}

// outboxStore is what the outbox's routes need of the store.
type outboxStore interface {
	OutboxCounts(sinks ...string) ([]storage.OutboxCount, error)
	OutboxParked(sink string, after uint64, limit int) ([]storage.OutboxItem, error)
	OutboxRetry(ctx context.Context, o domain.Origin, sink string, seq uint64) error
	OutboxDrop(ctx context.Context, o domain.Origin, sink string, seq uint64) error
}

// maxParkedShown bounds the parked items GET /api/outbox lists per sink.
const maxParkedShown = 100

// outboxView is GET /api/outbox's answer.
type outboxView struct {
	Upstream      fleet.State  `json:"upstream"`
	Pending       int          `json:"pending"`
	Parked        int          `json:"parked"`
	OldestPending float64      `json:"oldest_pending_seconds"`
	Sinks         []sinkView   `json:"sinks"`
	ParkedItems   []parkedView `json:"parked_items"`
}

type sinkView struct {
	Name          string      `json:"name"`
	State         fleet.State `json:"state"`
	Problem       string      `json:"problem,omitempty"`
	Pending       int         `json:"pending"`
	Parked        int         `json:"parked"`
	OldestPending float64     `json:"oldest_pending_seconds"`
	Delivered     uint64      `json:"delivered_since_start"`
}

type parkedView struct {
	Sink      string    `json:"sink"`
	Seq       uint64    `json:"seq"`
	Change    string    `json:"change"`
	Smartcard string    `json:"smartcard"`
	Serial    string    `json:"serialNumber"`
	Action    string    `json:"action"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Actor     string    `json:"actor"`
	Committed time.Time `json:"committed"`
	Parked    time.Time `json:"parked"`
	Problem   string    `json:"problem"`
}

// outboxStatus gathers the outbox's counts and the forwarder's states. A
// sink that holds items but is no longer configured shows as off.
func (s *Server) outboxStatus(withParked bool) (outboxView, error) {
	v := outboxView{Upstream: fleet.StateOff, Sinks: []sinkView{}, ParkedItems: []parkedView{}}
	states := map[string]fleet.SinkStatus{}
	var configured []string
	if s.opt.Forwarder != nil {
		configured = s.opt.Forwarder.Sinks()
		for _, st := range s.opt.Forwarder.Status() {
			states[st.Name] = st
		}
	}
	counts, err := s.outbox.OutboxCounts(configured...)
	if err != nil {
		return v, err
	}
	now := s.opt.Now()
	var oldest time.Time
	for _, c := range counts {
		st, ok := states[c.Sink]
		if !ok {
			st.State = fleet.StateOff
		}
		sv := sinkView{Name: c.Sink, State: st.State, Problem: st.Problem, Pending: c.Pending, Parked: c.Parked, Delivered: st.Delivered}
		if !c.OldestPending.IsZero() {
			sv.OldestPending = math.Round(now.Sub(c.OldestPending).Seconds()*10) / 10
			if oldest.IsZero() || c.OldestPending.Before(oldest) {
				oldest = c.OldestPending
			}
		}
		if c.Sink == storage.SinkUpstream {
			v.Upstream = st.State
		}
		v.Pending += c.Pending
		v.Parked += c.Parked
		v.Sinks = append(v.Sinks, sv)
		if !withParked || c.Parked == 0 {
			continue
		}
		items, err := s.outbox.OutboxParked(c.Sink, 0, maxParkedShown)
		if err != nil {
			return v, err
		}
		for _, it := range items {
			v.ParkedItems = append(v.ParkedItems, parkedView{Sink: it.Sink, Seq: it.Seq, Change: it.Change.String(),
				Smartcard: it.Card.String(), Serial: it.Serial, Action: string(it.Action), From: it.From.String(),
				To: it.To.String(), Actor: it.Actor, Committed: it.Committed, Parked: it.Parked, Problem: it.Problem})
		}
	}
	if !oldest.IsZero() {
		v.OldestPending = math.Round(now.Sub(oldest).Seconds()*10) / 10
	}
	return v, nil
}

// outboxAct is what the outbox's Retry and Drop do to a parked item.
type outboxAct func(ctx context.Context, o domain.Origin, sink string, seq uint64) error

// retryParked puts a parked item back among the pending ones and wakes
// the forwarder to deliver it now.
func (s *Server) retryParked(ctx context.Context, o domain.Origin, sink string, seq uint64) error {
	if err := s.outbox.OutboxRetry(ctx, o, sink, seq); err != nil {
		return err
	}
	if s.opt.Forwarder != nil {
		s.opt.Forwarder.Wake()
	}
	return nil
}

// dropParked gives a parked item up for good.
func (s *Server) dropParked(ctx context.Context, o domain.Origin, sink string, seq uint64) error {
	return s.outbox.OutboxDrop(ctx, o, sink, seq)
}

// outboxWaiting is the station page's line about the changes that have
// not reached a sink yet: the upstream's, else the first sink's that has
// some. "" when none waits or nothing forwards. It reads counts only, as
// the panel asks every second.
func (s *Server) outboxWaiting() string {
	if s.opt.Forwarder == nil {
		return ""
	}
	v, err := s.outboxStatus(false)
	if err != nil {
		s.log.Error("reading the outbox for the station page", "err", err)
		return ""
	}
	var k sinkView
	for _, sv := range v.Sinks {
		if sv.Pending > 0 && (k.Pending == 0 || sv.Name == storage.SinkUpstream) {
			k = sv
		}
	}
	switch {
	case k.Pending == 0:
		return ""
	case k.State == fleet.StateUnauthorized && k.Name == storage.SinkUpstream:
		return "The upstream refuses this station's token: changes are kept until it is mended."
	case k.State == fleet.StateUnauthorized:
		return "The " + k.Name + " refuses this station's signature: changes are kept until its secret is mended."
	}
	n := strconv.Itoa(k.Pending) + " changes are"
	if k.Pending == 1 {
		n = "1 change is"
	}
	why := ""
	switch k.State {
	case fleet.StateUnreachable:
		why = "unreachable; "
	case fleet.StateOff:
		why = "no longer configured; "
	}
	oldest := time.Duration(k.OldestPending * float64(time.Second)).Round(time.Second)
	return fmt.Sprintf("%s waiting to reach the %s (%sthe oldest for %s).", n, k.Name, why, oldest)
}

// getOutbox answers GET /api/outbox.
func (s *Server) getOutbox(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	v, err := s.outboxStatus(true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// outboxAction answers POST /api/outbox/retry and /api/outbox/drop, whose
// body names a parked item: {"sink":"upstream","seq":12}.
func (s *Server) outboxAction(act outboxAct, done string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
		if _, err := readQuery(r); err != nil {
			return err
		}
		b, err := readBody(w, r, "sink", "seq")
		if err != nil {
			return err
		}
		if err := b.Require("sink", "seq"); err != nil {
			return err
		}
		sink, err := b.Text("sink")
		if err != nil {
			return err
		}
		seq, err := b.Int("seq")
		if err != nil {
			return err
		}
		if seq < 1 {
			return &httpError{code: http.StatusBadRequest, msg: "seq must be a parked item's number, 1 or more, not " + strconv.Itoa(seq)}
		}
		if err := act(r.Context(), o, sink, uint64(seq)); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"sink": sink, "seq": seq, "status": done})
		return nil
	}
}

// outboxPage is the outbox's admin page; after a Retry or a Drop its
// query says what was done.
func (s *Server) outboxPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	q := r.URL.Query()
	var v page.OutboxView
	if seq, err := strconv.ParseUint(q.Get("seq"), 10, 64); err == nil {
		what := "Change " + strconv.FormatUint(seq, 10) + " to " + q.Get("sink")
		switch q.Get("done") {
		case "retried":
			v.Notice = what + " is pending again."
		case "dropped":
			v.Notice = what + " was dropped: it stays made here, and that sink never hears of it."
		}
	}
	return s.renderOutbox(w, r, u, http.StatusOK, v)
}

func (s *Server) renderOutbox(w http.ResponseWriter, r *http.Request, u *page.Session, code int, v page.OutboxView) error {
	st, err := s.outboxStatus(true)
	if err != nil {
		return err
	}
	v.Configured = s.opt.Forwarder != nil
	v.Sinks = views(st.Sinks, func(k sinkView) page.SinkView {
		return page.SinkView{Name: k.Name, State: string(k.State), Problem: k.Problem, Pending: k.Pending, Parked: k.Parked,
			OldestPending: time.Duration(k.OldestPending * float64(time.Second))}
	})
	v.Parked = views(st.ParkedItems, func(p parkedView) page.ParkedView {
		return page.ParkedView{Sink: p.Sink, Seq: p.Seq, Card: p.Smartcard, Serial: p.Serial, From: p.From, To: p.To,
			Committed: p.Committed, Problem: p.Problem}
	})
	v.MoreParked = len(st.ParkedItems) < st.Parked
	s.render(w, r, code, page.Outbox(u, v))
	return nil
}

// outboxPageAction answers the outbox page's Retry and Drop buttons, and
// sends the admin back to the page, which says what was done.
func (s *Server) outboxPageAction(act outboxAct, done string) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error {
		if err := formValues(w, r); err != nil {
			return err
		}
		sink := r.PostFormValue("sink")
		seq, err := strconv.ParseUint(r.PostFormValue("seq"), 10, 64)
		if err != nil || seq == 0 {
			err = &httpError{code: http.StatusBadRequest, msg: "The form names no parked change: its number must be 1 or more."}
		} else {
			err = act(r.Context(), o, sink, seq)
		}
		return s.showAdminResult(w, r, err, func(code int, msg string) error {
			if code == http.StatusOK {
				back := url.Values{"done": {done}, "sink": {sink}, "seq": {strconv.FormatUint(seq, 10)}}
				http.Redirect(w, r, "/admin/outbox?"+back.Encode(), http.StatusSeeOther)
				return nil
			}
			return s.renderOutbox(w, r, u, code, page.OutboxView{Error: msg})
		})
	}
}
