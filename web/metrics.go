package web

import (
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage/domain"
)

// metrics are the service's Prometheus metrics, in a registry of its own.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// The vectors' members by their labels, found once: prometheus hashes
	// the labels at every look-up.
	counters  sync.Map // routeCode → prometheus.Counter
	observers sync.Map // route → prometheus.Observer
}

// eventCounter is a station that counts its reader events.
type eventCounter interface {
	EventCounts() map[string]uint64
}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cardstop_http_requests_total",
			Help: "HTTP requests by route pattern and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cardstop_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"route"}),
	}
	m.registry.MustRegister(m.requests, m.latency, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &stateCollector{s: s})
	return m
}

// observe records one answered request; route is the mux pattern, so the
// labels stay few whatever clients send.
func (m *metrics) observe(route string, code int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	counter, ok := m.counters.Load(routeCode{route, code})
	if !ok {
		counter, _ = m.counters.LoadOrStore(routeCode{route, code}, m.requests.WithLabelValues(route, strconv.Itoa(code)))
	}
	counter.(prometheus.Counter).Inc()
	observer, ok := m.observers.Load(route)
	if !ok {
		observer, _ = m.observers.LoadOrStore(route, m.latency.WithLabelValues(route))
	}
	observer.(prometheus.Observer).Observe(took.Seconds())
}

// routeCode is a requests counter's labels.
type routeCode struct {
	route string
	code  int
}

var (
	descChanges = prometheus.NewDesc("cardstop_status_changes_total",
		"Card status changes committed since start, by new status and kind of actor (token, user, station, cli).",
		[]string{"status", "actor_kind"}, nil)
	descState = prometheus.NewDesc("cardstop_station_state",
		"1 for the walk-up station's current state.", []string{"state"}, nil)
	descReader = prometheus.NewDesc("cardstop_reader_events_total",
		"Reader events the station saw, by kind; read-error counts cards that could not be read.", []string{"kind"}, nil)
	descDBSize  = prometheus.NewDesc("cardstop_database_size_bytes", "Size of the database's pages in use (the file can be larger: bbolt grows it ahead).", nil, nil)
	descCommits = prometheus.NewDesc("cardstop_database_commits_total",
		"Write transactions committed since start; concurrent changes share one.", nil, nil)
	descPageWrites = prometheus.NewDesc("cardstop_database_page_writes_total",
		"Pages written to the database file since start, each fsync'd at its commit.", nil, nil)
	descDamaged = prometheus.NewDesc("cardstop_database_damaged",
		"1 when the database failed its check and changes are refused.", nil, nil)
	descOutboxPending = prometheus.NewDesc("cardstop_outbox_pending",
		"Committed changes waiting to be delivered, by sink (upstream, or webhook URL).", []string{"sink"}, nil)
	descOutboxParked = prometheus.NewDesc("cardstop_outbox_parked",
		"Changes a sink refused for good, waiting for an admin to retry or drop them, by sink.", []string{"sink"}, nil)
	descOutboxOldest = prometheus.NewDesc("cardstop_outbox_oldest_pending_seconds",
		"Age of the oldest change waiting to be delivered, by sink; 0 when none waits.", []string{"sink"}, nil)
	descOutboxDelivered = prometheus.NewDesc("cardstop_outbox_delivered_total",
		"Changes delivered since start, by sink.", []string{"sink"}, nil)
)

// stateCollector reads the store's and the station's own counts at each
// scrape, so every path that changes a card is counted in one place.
type stateCollector struct{ s *Server }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descChanges, descState, descReader, descDBSize, descCommits, descPageWrites, descDamaged,
		descOutboxPending, descOutboxParked, descOutboxOldest, descOutboxDelivered} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range c.s.opt.Changes.counts() {
		ch <- prometheus.MustNewConstMetric(descChanges, prometheus.CounterValue, float64(n), k.status.String(), k.actorKind)
	}
	ch <- prometheus.MustNewConstMetric(descDBSize, prometheus.GaugeValue, float64(c.s.ops.Size()))
	commits, pages := c.s.ops.WriteStats()
	ch <- prometheus.MustNewConstMetric(descCommits, prometheus.CounterValue, float64(commits))
	ch <- prometheus.MustNewConstMetric(descPageWrites, prometheus.CounterValue, float64(pages))
	damaged := 0.0
	if c.s.ops.Damaged() != "" {
		damaged = 1
	}
	ch <- prometheus.MustNewConstMetric(descDamaged, prometheus.GaugeValue, damaged)
	if c.s.opt.Forwarder != nil {
		if v, err := c.s.outboxStatus(false); err == nil {
			for _, sk := range v.Sinks {
				ch <- prometheus.MustNewConstMetric(descOutboxPending, prometheus.GaugeValue, float64(sk.Pending), sk.Name)
				ch <- prometheus.MustNewConstMetric(descOutboxParked, prometheus.GaugeValue, float64(sk.Parked), sk.Name)
				ch <- prometheus.MustNewConstMetric(descOutboxOldest, prometheus.GaugeValue, sk.OldestPending, sk.Name)
				ch <- prometheus.MustNewConstMetric(descOutboxDelivered, prometheus.CounterValue, float64(sk.Delivered), sk.Name)
			}
		}
	}
	if c.s.opt.Station == nil {
		return
	}
	current := c.s.opt.Station.Status().State
	for _, st := range []station.State{station.NoReader, station.Ready, station.Reading, station.Confirm, station.Disabled,
		station.NothingToDo, station.UnknownCard, station.TimedOut, station.Error, station.SeveralCards} {
		v := 0.0
		if st == current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, string(st))
	}
	if ec, ok := c.s.opt.Station.(eventCounter); ok {
		for kind, n := range ec.EventCounts() {
			ch <- prometheus.MustNewConstMetric(descReader, prometheus.CounterValue, float64(n), kind)
		}
	}
}

// ChangeCounter counts the committed changes of cards' statuses by new
// status and kind of actor (token, user, station, cli), whichever way they
// came in: the service gives its Add to storage.Options.Changed and the
// counter to Options.Changes. Safe for concurrent use; a nil counter
// counts nothing.
type ChangeCounter struct {
	mu sync.Mutex
	n  map[changeKey]uint64
}

type changeKey struct {
	status    domain.CardStatus
	actorKind string
}

// Add counts one change by o to status to.
func (c *ChangeCounter) Add(o domain.Origin, to domain.CardStatus) {
	kind, _, _ := strings.Cut(o.Actor, ":")
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[changeKey]uint64{}
	}
	c.n[changeKey{to, kind}]++
}

func (c *ChangeCounter) counts() map[changeKey]uint64 {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
