package main

import (
	"bufio"
	bin "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// make bench's strict measurements (issue 18): load from wrk, a load
// generator in C that leaves the two cores to the servers, and the
// minimal-write ceiling of bbolt on this disk.

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rate     float64 // answered requests a second, errors left out
	p50, p99 time.Duration
	errors   int   // answers other than 2xx and 3xx, and socket errors
	sent     []int // requests each thread sent (the PUT script only)
}

// wrkDone prints wrk's summary on one line that runWrk reads.
const wrkDone = `
function done(summary, latency, requests)
  local e = summary.errors
  local sent = {}
  for _, t in ipairs(threads or {}) do sent[#sent + 1] = tostring(t:get("sent")) end
  io.write(string.format("WRK %d %d %d %d %d %d %s\n", summary.requests, summary.duration,
    e.status + e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    e.status, table.concat(sent, ",")))
end
`

// wrkPut PUTs each thread's own list of prepared requests, one line
// "PATH BODY" each, from the file named by its first argument and the
// thread's number; the second argument is the token.
const wrkPut = `
threads = {}
function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end
function init(args)
  paths, bodies, sent = {}, {}, 0
  for line in io.lines(args[1] .. "." .. id) do
    local p, b = line:match("^(%S+) (.*)$")
    paths[#paths + 1], bodies[#bodies + 1] = p, b
  end
  headers = {["Authorization"] = "Bearer " .. args[2], ["Content-Type"] = "application/json"}
end
function request()
  sent = sent + 1
  local i = math.min(sent, #paths) -- the Go side fails the run when a list ran out
  return wrk.format("PUT", paths[i], headers, bodies[i])
end
` + wrkDone

// wrkRandom GETs a card picked at random from the file its first argument
// names, one path a line; the second argument is the token.
const wrkRandom = `
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  wrk.headers["Authorization"] = "Bearer " .. args[2]
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
` + wrkDone

// runWrk runs wrk with 2 threads and 32 connections for one phase against
// url, with script (wrkDone when empty) given args.
func runWrk(t *testing.T, d time.Duration, url, token, script string, args ...string) wrkResult {
	t.Helper()
	if script == "" {
		script = wrkDone
	}
	file := filepath.Join(t.TempDir(), "script.lua")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmdArgs := []string{"-t2", "-c32", "-d" + strconv.Itoa(int(d.Seconds())) + "s", "-s", file}
	if token != "" && len(args) == 0 {
		cmdArgs = append(cmdArgs, "-H", "Authorization: Bearer "+token)
	}
	cmdArgs = append(cmdArgs, url)
	if len(args) > 0 {
		cmdArgs = append(append(cmdArgs, "--"), args...)
	}
	out, err := exec.Command("wrk", cmdArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk %v: %v\n%s", cmdArgs, err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 7 || f[0] != "WRK" {
			continue
		}
		n := make([]int64, 6)
		for i := range n {
			n[i], _ = strconv.ParseInt(f[i+1], 10, 64)
		}
		r := wrkResult{rate: float64(n[0]-n[5]) / (float64(n[1]) / 1e6), p50: time.Duration(n[3]) * time.Microsecond,
			p99: time.Duration(n[4]) * time.Microsecond, errors: int(n[2])}
		if len(f) > 7 {
			for _, s := range strings.Split(f[7], ",") {
				v, _ := strconv.Atoi(s)
				r.sent = append(r.sent, v)
			}
		}
		return r
	}
	t.Fatalf("wrk printed no summary:\n%s", out)
	return wrkResult{}
}

// ceilingMode is one way of committing for the minimal-write ceiling.
type ceilingMode struct {
	name           string
	batch          bool
	delay          time.Duration // Batch's MaxBatchDelay; 0: bbolt's default
	size           int           // Batch's MaxBatchSize; 0: bbolt's default
	noFreelistSync bool
}

func (m ceilingMode) String() string {
	s := "Update"
	if m.batch {
		s = "Batch (defaults)"
		if m.delay != 0 {
			s = fmt.Sprintf("Batch (%v, size %d)", m.delay, m.size)
		}
	}
	if m.noFreelistSync {
		s += ", NoFreelistSync"
	}
	return s
}

var ceilingModes = []ceilingMode{
	{name: "update"}, {name: "batch", batch: true}, {name: "batch-tuned", batch: true, delay: time.Millisecond, size: 32},
	{name: "update-nfs", noFreelistSync: true}, {name: "batch-nfs", batch: true, noFreelistSync: true},
	{name: "batch-tuned-nfs", batch: true, delay: time.Millisecond, size: 32, noFreelistSync: true},
}

// minimalFile is a bbolt file of perfCards card-sized records (600 bytes,
// keyed as the service's cards are) and an empty audit bucket, made once
// and copied for each run of the ceiling.
var minimalFile = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "cardstop-ceiling-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "template.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		return "", err
	}
	defer db.Close()
	val := []byte(strings.Repeat("c", 600))
	return path, db.Update(func(tx *bolt.Tx) error {
		cards, err := tx.CreateBucket([]byte("cards"))
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucket([]byte("audit")); err != nil {
			return err
		}
		for i := range perfCards {
			id := perfCard(i)
			if err := cards.Put(id[:], val); err != nil {
				return err
			}
		}
		return nil
	})
})

// minimalRate is the physical limit of a durable status change on this
// disk: 32 writers, each transaction one 600-byte card record rewritten
// (the cards in a random order, as changes come) and one 500-byte audit
// record appended, fsync'd. It returns the transactions a second and the
// pages each wrote (bbolt's TxStats).
func minimalRate(t *testing.T, m ceilingMode) (rate, pagesPerTx float64) {
	t.Helper()
	template, err := minimalFile()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "minimal.db")
	if data, err := os.ReadFile(template); err != nil || os.WriteFile(path, data, 0o600) != nil {
		t.Fatalf("copy the ceiling's file: %v", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: m.noFreelistSync})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if m.delay != 0 {
		db.MaxBatchDelay, db.MaxBatchSize = m.delay, m.size
	}
	order := rand.New(rand.NewPCG(18, uint64(len(m.name)))).Perm(perfCards)
	card, audit := []byte(strings.Repeat("C", 600)), []byte(strings.Repeat("a", 500))
	var next, seq atomic.Uint64
	before := db.Stats()
	deadline := time.Now().Add(perfPhase)
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 32 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				id := perfCard(order[next.Add(1)%perfCards])
				fn := func(tx *bolt.Tx) error {
					if err := tx.Bucket([]byte("cards")).Put(id[:], card); err != nil {
						return err
					}
					b := tx.Bucket([]byte("audit"))
					b.FillPercent = 1 // as the service's audit bucket: keys only grow
					return b.Put(bin.BigEndian.AppendUint64(nil, seq.Add(1)), audit)
				}
				var err error
				if m.batch {
					err = db.Batch(fn)
				} else {
					err = db.Update(fn)
				}
				if err != nil {
					t.Error(err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	after := db.Stats()
	diff := after.TxStats.Sub(&before.TxStats)
	return float64(n.Load()) / perfPhase.Seconds(), float64(diff.GetWrite()) / float64(n.Load())
}

// bestCeiling runs every ceiling mode and returns the fastest, with its
// rate and pages, and a row for each mode.
func bestCeiling(t *testing.T, add func(name, value, target string), label string) (ceilingMode, float64) {
	var best ceilingMode
	var bestRate float64
	for _, m := range ceilingModes {
		rate, pages := minimalRate(t, m)
		add(fmt.Sprintf("minimal write%s, 32 writers, %s", label, m), fmt.Sprintf("%.0f tx/s, %.1f pages a change", rate, pages), "")
		if rate > bestRate {
			best, bestRate = m, rate
		}
	}
	return best, bestRate
}

// writeStats reads the service's commits and page writes from /metrics.
func writeStats(t *testing.T, s *server) (commits, pages float64) {
	t.Helper()
	_, body := s.call(t, "", "GET", "/metrics", "")
	for _, l := range strings.Split(body, "\n") {
		f := strings.Fields(l)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "cardstop_database_commits_total":
			commits = v
		case "cardstop_database_page_writes_total":
			pages = v
		}
	}
	if pages == 0 {
		t.Fatalf("/metrics has no page writes:\n%.2000s", body)
	}
	return commits, pages
}

// cardPool is the cards the wrk PUT phases change, in a random order, and
// what each is now: every PUT of a phase changes a card of its own.
type cardPool struct {
	order     []int
	next      int
	suspended map[int]bool
}

func newCardPool(from, to int) *cardPool {
	order := rand.New(rand.NewPCG(18, 0)).Perm(to - from)
	for i := range order {
		order[i] += from
	}
	return &cardPool{order: order, suspended: map[int]bool{}}
}

func (p *cardPool) take(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = p.order[p.next%len(p.order)]
		p.next++
	}
	return out
}

// putResult is a wrk PUT phase's measurement.
type putResult struct {
	wrkResult
	pages float64 // pages written a change
}

// wrkPuts changes cards through PUT under wrk for one phase: n cards from
// the pool, each with a request made beforehand (so that only the PUTs are
// timed), each moved to the status it does not have.
// before is called as the PUTs start.
func wrkPuts(t *testing.T, s *server, token string, pool *cardPool, n int, before func()) putResult {
	t.Helper()
	cards := pool.take(n)
	lines := make([]string, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				card := perfCard(cards[i]).String()
				code, body := perfDo(client, s.base, token, "POST", "/CertificateManagement/api/v1.0/requests", `{"type":"SuspendOrReinstate","smartcard":"`+card+`"}`)
				var uri string
				if err := json.Unmarshal([]byte(body), &uri); code != http.StatusCreated && code != http.StatusOK || err != nil {
					t.Errorf("POST /requests: %d %s", code, body)
					return
				}
				to := "Suspended"
				if pool.suspended[cards[i]] {
					to = "Active"
				}
				lines[i] = "/CertificateManagement/" + uri + "/smartcards/" + card + ` {"status":"` + to + `"}`
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	// Thread k takes the k-th half of the list.
	base := filepath.Join(t.TempDir(), "put")
	half := n / 2
	for k := range 2 {
		if err := os.WriteFile(fmt.Sprintf("%s.%d", base, k), []byte(strings.Join(lines[k*half:(k+1)*half], "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, pages0 := writeStats(t, s)
	if before != nil {
		before()
	}
	r := runWrk(t, perfPhase, s.base+"/", token, wrkPut, base, token)
	_, pages1 := writeStats(t, s)
	if len(r.sent) != 2 {
		t.Fatalf("wrk did not say what its threads sent: %v", r.sent)
	}
	changed := 0
	for k, sent := range r.sent {
		if sent > half {
			t.Fatalf("wrk's thread %d ran out of prepared requests (%d): make more", k, half)
		}
		mine := cards[k*half : (k+1)*half]
		for i := range sent {
			pool.suspended[mine[i]] = !pool.suspended[mine[i]]
		}
		// The last requests sent may have been cut off when wrk stopped:
		// what their cards are now is read back.
		for i := max(0, sent-32); i < sent; i++ {
			_, body := s.call(t, token, "GET", "/CertificateManagement/api/v1.0/smartcards/"+perfCard(mine[i]).String(), "")
			pool.suspended[mine[i]] = strings.Contains(body, `"Status":4`)
		}
		changed += sent
	}
	return putResult{wrkResult: r, pages: (pages1 - pages0) / float64(changed)}
}

// perfRecord profiles the process pid for d with perf, when perf is
// installed, and keeps the data and a report under bin/perf/NAME.*.
func perfRecord(t *testing.T, pid int, name string, d time.Duration) func() string {
	if _, err := exec.LookPath("perf"); err != nil {
		return func() string { return "no profile: perf is not installed" }
	}
	dir := filepath.Join("..", "..", "bin", "perf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, name+".data")
	rec := exec.Command("perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", data, "--", "sleep", strconv.Itoa(int(d.Seconds())))
	if err := rec.Start(); err != nil {
		return func() string { return "no profile: " + err.Error() }
	}
	return func() string {
		if err := rec.Wait(); err != nil {
			return "no profile: perf record: " + err.Error()
		}
		out, err := exec.Command("perf", "report", "-i", data, "--children", "--sort", "symbol", "--stdio", "-g", "none").Output()
		if err != nil {
			return "no report: " + err.Error()
		}
		report := filepath.Join(dir, name+".txt")
		var top []string
		sc := bufio.NewScanner(strings.NewReader(string(out)))
		for sc.Scan() && len(top) < 200 {
			if l := sc.Text(); strings.Contains(l, "%") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				top = append(top, l)
			}
		}
		if err := os.WriteFile(report, []byte(strings.Join(top, "\n")+"\n"), 0o644); err != nil {
			return err.Error()
		}
		return "bin/perf/" + name + ".txt"
	}
}

// piClass runs fn as a Raspberry Pi-class machine would: one core and a
// 64 MiB memory limit (for the ceiling, which runs in this process).
func piClass(fn func()) {
	procs := runtime.GOMAXPROCS(1)
	limit := debug.SetMemoryLimit(64 << 20)
	defer func() { runtime.GOMAXPROCS(procs); debug.SetMemoryLimit(limit) }()
	fn()
}

// piEnv is the environment of a Pi-class serve and bare server.
var piEnv = []string{"GOMAXPROCS=1", "GOMEMLIMIT=64MiB"}

// startBare starts the bare net/http server answering body, with env.
func startBare(t *testing.T, env []string, body string) string {
	t.Helper()
	bare := exec.Command(os.Args[0])
	bare.Env = append(append(os.Environ(), env...), "CARDSTOP_BARE_SERVER_BODY="+body)
	out, _ := bare.StdoutPipe()
	if err := bare.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bare.Process.Kill(); bare.Wait() })
	addr, _ := bufio.NewReader(out).ReadString('\n')
	go io.Copy(io.Discard, out)
	return "http://" + strings.TrimSpace(addr) + "/"
}

// getPhase measures GET of a card under wrk against the bare server, then
// with cards at random and with a Go client, and PUT from Go clients.
func getPhase(t *testing.T, dir, token, cardURL string, add func(name, value, target string)) {
	srv := startServer(t, dir, "--status-changes-per-minute", "0")
	defer srv.stop(t)
	waitReady(t, srv, time.Minute)
	_, body := srv.call(t, token, "GET", cardURL, "")
	bareURL := startBare(t, nil, body)
	o, b, rateRatios, p99Ratios := getRounds(t, srv, token, cardURL, bareURL, "get")
	add("GET /smartcards/{id} (wrk, one card asked again and again), median of rounds", fmt.Sprintf("%.0f /s, p50 %s, p99 %s", o.rate, ms(o.p50), ms(o.p99)),
		fmt.Sprintf("≥ 0.7× bare (%.2f×; rounds %s), p99 ≤ 1.5× bare (%.2f×; rounds %s)", medianOf(rateRatios), ratios(rateRatios), medianOf(p99Ratios), ratios(p99Ratios)))
	add("bare net/http, same bytes (wrk), median of rounds", fmt.Sprintf("%.0f /s, p50 %s, p99 %s", b.rate, ms(b.p50), ms(b.p99)), "")
	// Cards at random from all 100,000: the read cache holds 4,096, so
	// nearly every GET reads bbolt and decodes the record.
	paths := filepath.Join(t.TempDir(), "paths")
	var lines []string
	for i := range perfCards {
		lines = append(lines, "/CertificateManagement/api/v1.0/smartcards/"+perfCard(i).String())
	}
	if err := os.WriteFile(paths, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rnd := runWrk(t, wrkGetTime, srv.base+"/", token, wrkRandom, paths, token)
	add("GET /smartcards/{id} (wrk, cards at random of 100k)", fmt.Sprintf("%.0f /s, p50 %s, p99 %s", rnd.rate, ms(rnd.p50), ms(rnd.p99)),
		fmt.Sprintf("%.2f× bare", rnd.rate/b.rate))
	var anon uint64
	g := getLoad(t, srv.base+cardURL, token, func() { anon, _ = rss(t, srv) })
	gb := getLoad(t, bareURL, "", nil)
	add("GET /smartcards/{id} (Go client, 32 goroutines)", fmt.Sprintf("%.0f /s, p50 %s, p99 %s", g.rate, ms(g.p50), ms(g.p99)),
		fmt.Sprintf("%.2f× bare (its Go client: %.0f /s, p99 %s)", g.rate/gb.rate, gb.rate, ms(gb.p99)))
	add("RssAnon under GET load, 100k cards", mb(anon), "< 30 MB")

	// Status changes from Go clients, each changing 50 cards of its own in
	// turn (cards 2,000-19,999; the wrk phases change the others).
	for _, c := range []struct{ clients, set int }{{1, 1}, {8, 8}, {32, 9}} {
		add(fmt.Sprintf("status changes/s through PUT (Go client), %d clients", c.clients), fmt.Sprintf("%.0f /s", putLoad(t, srv, token, c.clients, c.set)), "")
	}
}

// putPhase measures durable status changes under wrk against the
// minimal-write ceiling: every ceiling mode once, then the fastest and the
// service in turn, perfRounds times, with a profile of the first round.
func putPhase(t *testing.T, dir, token string, pool *cardPool, add func(name, value, target string)) {
	best, bestRate := bestCeiling(t, add, "")
	add("raw bbolt, 32 writers, the same transactions as a change, Batch (1 ms, size 32)", fmt.Sprintf("%.0f tx/s", rawRate(t, rawBatchTuned, 32)), "")
	srv := startServer(t, dir, "--status-changes-per-minute", "0")
	defer srv.stop(t)
	waitReady(t, srv, time.Minute)
	ceil, put, pr, pages := putRounds(t, srv, token, pool, best, bestRate, "put")
	add(fmt.Sprintf("minimal write, %s, median of rounds", best), fmt.Sprintf("%.0f tx/s, %.1f pages a change", ceil, pages), "")
	add("status changes/s through PUT (wrk, 32 connections), median of rounds", fmt.Sprintf("%.0f /s, p50 %s, p99 %s, %.1f pages a change", put.rate, ms(put.p50), ms(put.p99), put.pages),
		fmt.Sprintf("≥ 0.5× minimal write (%.2f×; rounds %s)", medianOf(pr), ratios(pr)))
}

// piPhase measures GET and PUT as the phases above do, on a Raspberry
// Pi-class budget: serve, the bare server and the ceiling with one core and
// a 64 MiB memory limit.
func piPhase(t *testing.T, dir, token, cardURL string, pool *cardPool, add func(name, value, target string)) {
	srv := startServerEnv(t, piEnv, dir, "--status-changes-per-minute", "0")
	defer srv.stop(t)
	waitReady(t, srv, time.Minute)
	_, body := srv.call(t, token, "GET", cardURL, "")
	o, b, rateRatios, p99Ratios := getRounds(t, srv, token, cardURL, startBare(t, piEnv, body), "")
	add("Pi-class (GOMAXPROCS=1, GOMEMLIMIT=64MiB): GET /smartcards/{id} (wrk), median of rounds", fmt.Sprintf("%.0f /s, p50 %s, p99 %s", o.rate, ms(o.p50), ms(o.p99)),
		fmt.Sprintf("%.2f× bare (rounds %s), p99 %.2f× bare (rounds %s)", medianOf(rateRatios), ratios(rateRatios), medianOf(p99Ratios), ratios(p99Ratios)))
	add("Pi-class: bare net/http, same bytes (wrk), median of rounds", fmt.Sprintf("%.0f /s, p50 %s, p99 %s", b.rate, ms(b.p50), ms(b.p99)), "")
	var best ceilingMode
	var bestRate, ceil, pages float64
	var put putResult
	var pr []float64
	piClass(func() {
		best, bestRate = bestCeiling(t, func(string, string, string) {}, "")
		ceil, put, pr, pages = putRounds(t, srv, token, pool, best, bestRate, "")
	})
	add(fmt.Sprintf("Pi-class: minimal write, %s, median of rounds", best), fmt.Sprintf("%.0f tx/s, %.1f pages a change", ceil, pages), "")
	add("Pi-class: status changes/s through PUT (wrk), median of rounds", fmt.Sprintf("%.0f /s, p50 %s, p99 %s, %.1f pages a change", put.rate, ms(put.p50), ms(put.p99), put.pages),
		fmt.Sprintf("%.2f× minimal write (rounds %s)", medianOf(pr), ratios(pr)))
	anon, _ := rss(t, srv)
	add("Pi-class: RssAnon after the loads", mb(anon), "")
}
