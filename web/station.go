package web

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/fleet"
	"github.com/cardstop/cardstop/web/wire"
)

// StationView is the walk-up station as the API shows it.
type StationView interface {
	Status() station.Status
}

// opsStore is what the operations endpoints read of the database:
// readiness, the backup and the metrics.
type opsStore interface {
	Ping() error
	Damaged() string // why the database failed its check; "" when it did not
	Checking() bool  // the start-up check runs
	Size() int64
	WriteStats() (commits, pages int64)
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// healthz answers /healthz without authentication: the process runs.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// getStation answers GET /api/station: state, LEDs, reader and card.
func (s *Server) getStation(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	if s.opt.Station == nil {
		return &httpError{code: http.StatusNotFound, msg: "this server runs no walk-up station"}
	}
	writeJSON(w, http.StatusOK, stationJSON(s.opt.Station.Status()))
	return nil
}

// stationJSON is the API's shape of the station's status.
func stationJSON(st station.Status) wire.Station {
	out := wire.Station{State: string(st.State), Reader: st.Reader, Card: stationCard(st.Card),
		ConfirmDeadline: st.Deadline, Message: st.Message,
		LEDs: wire.LEDs{Green: string(st.LEDs.Green), Amber: string(st.LEDs.Amber), Red: string(st.LEDs.Red)}}
	if st.Readers != nil { // null and [] are both answers: none known yet, and no reader
		out.Readers = make([]wire.StationReader, len(st.Readers))
		for i, r := range st.Readers {
			out.Readers[i] = wire.StationReader{Name: r.Name, Card: stationCard(r.Card)}
		}
	}
	return out
}

func stationCard(c *station.Card) *wire.StationCard {
	if c == nil {
		return nil
	}
	return &wire.StationCard{Kind: string(c.Kind), Serial: c.Serial, ATR: c.ATR, Uuid: c.Uuid, Status: c.Status}
}

// pressButton answers POST /api/station/button: a press of the simulated
// panel's button. The route exists only while the panel is simulated.
func (s *Server) pressButton(w http.ResponseWriter, r *http.Request, _ domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	s.opt.PressButton()
	writeJSON(w, http.StatusAccepted, map[string]string{"Message": "the button was pressed"})
	return nil
}

// readiness is the body of /readyz.
type readiness struct {
	Database string `json:"database"`
	Reader   string `json:"reader"`
	Panel    string `json:"panel"`
	Station  string `json:"station,omitempty"`
	Clock    string `json:"clock"`
	// Upstream never makes the service unready: the station works
	// offline, and its changes wait in the outbox.
	Upstream fleet.State `json:"upstream"`
}

// ready answers /readyz without authentication: 200 when the database
// answers, 503 when it does not; reader and panel are reported, but the
// API works without them.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	rd := readiness{Database: "ok", Reader: "none", Panel: s.opt.Panel, Clock: "synchronised", Upstream: s.upstreamState()}
	if s.opt.ClockSynced != nil && !s.opt.ClockSynced() {
		rd.Clock = "not synchronised since boot"
		if s.opt.ClockProblem != nil {
			if p := s.opt.ClockProblem(); p != "" {
				rd.Clock = "unknown: " + p
			}
		}
	}
	if rd.Panel == "" {
		rd.Panel = "none"
	}
	if fault := s.panelFault(); fault != "" {
		rd.Panel = "failed: " + fault // the API works without the panel: still 200
	}
	code := http.StatusOK
	if err := s.ops.Ping(); err != nil {
		s.log.Error("readiness: database", "err", err)
		rd.Database, code = "unavailable", http.StatusServiceUnavailable
	} else if why := s.ops.Damaged(); why != "" {
		rd.Database, code = "damaged: "+why, http.StatusServiceUnavailable
	} else if s.ops.Checking() {
		rd.Database, code = "checking", http.StatusServiceUnavailable // changes wait for the verdict
	}
	if s.opt.Station != nil {
		st := s.opt.Station.Status()
		rd.Station = string(st.State)
		if st.Reader != "" {
			rd.Reader = st.Reader
		}
	}
	writeJSON(w, code, rd)
}

// upstreamState is the upstream sink's delivery state, off without one.
func (s *Server) upstreamState() fleet.State {
	if s.opt.Forwarder != nil {
		for _, st := range s.opt.Forwarder.Status() {
			if st.Name == storage.SinkUpstream {
				return st.State
			}
		}
	}
	return fleet.StateOff
}

// panelFault says what is wrong with the panel, "" when nothing is.
func (s *Server) panelFault() string {
	if s.opt.PanelFault == nil {
		return ""
	}
	return s.opt.PanelFault()
}

// backup answers GET /api/admin/backup with a consistent copy of the
// database, taken while the service goes on.
func (s *Server) backup(w http.ResponseWriter, r *http.Request, o domain.Origin) error {
	if _, err := readQuery(r); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="cardstop-`+time.Now().UTC().Format("20060102T150405Z")+`.db"`)
	// The copy is as large as the file; each write moves the deadline, so
	// a slow link gets it whole while a stalled client is cut.
	n, err := s.ops.Backup(r.Context(), newDeadlineWriter(w))
	if err != nil {
		// The status line is gone; the client sees a short file, and the log says why.
		s.log.ErrorContext(r.Context(), "backup failed", "bytes", n, "err", err)
		return nil
	}
	s.log.InfoContext(r.Context(), "backup", "actor", o.Actor, "bytes", n)
	return nil
}
