package web

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/fleet"
)

// Forwarder is the outbox's delivery as the API, the metrics and /readyz
// show it; nil when no sink is configured.
type Forwarder interface {
	Sinks() []string
	Status() []fleet.SinkStatus
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
func (s *Server) outboxAction(act func(st outboxStore, ctx context.Context, o domain.Origin, sink string, seq uint64) error, done string) handlerFunc {
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
		if err := act(s.outbox, r.Context(), o, sink, uint64(seq)); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]any{"sink": sink, "seq": seq, "status": done})
		return nil
	}
}
