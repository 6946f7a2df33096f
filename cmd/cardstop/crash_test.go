package main

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// The crash harness: 32 clients change cards' status along allowed edges
// through the real binary while it is killed with SIGKILL at random
// moments; after each kill a checker holds the database to the model: no
// acknowledged transition is lost, statuses move only along allowed edges,
// each acknowledged transition has exactly one audit event, the audit log
// is numbered without gaps and its hash chain holds, and bbolt's check
// passes. CARDSTOP_CRASH_CYCLES sets the number of kills (make test: 20;
// make test-crash CYCLES=100).

const (
	crashClients        = 32
	crashCardsPerClient = 3
)

// cardModel is what the clients know of one card.
type cardModel struct {
	status domain.CardStatus // after the last acknowledged change
	acked  []ackedChange
	// maybe is a change whose answer never came (the server died): it may
	// or may not have been committed.
	maybe *ackedChange
}

type ackedChange struct {
	request  guid.GUID
	from, to domain.CardStatus
}

// next picks an allowed change from status, and the request type for it.
func next(status domain.CardStatus, r *rand.Rand) (string, domain.CardStatus) {
	switch status {
	case domain.CardActive:
		if r.IntN(2) == 0 {
			return "Disable", domain.CardDisabled
		}
		return "SuspendOrReinstate", domain.CardSuspended
	default: // Disabled or Suspended: back to Active (re-enable needs the admin token the clients use)
		return "SuspendOrReinstate", domain.CardActive
	}
}

func TestCrash(t *testing.T) {
	cycles := 20
	if v, err := strconv.Atoi(os.Getenv("CARDSTOP_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	dir := t.TempDir()
	nCards := crashClients * crashCardsPerClient
	token := seed(t, dir, nCards)
	model := make([]*cardModel, nCards)
	for i := range model {
		model[i] = &cardModel{status: domain.CardActive}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	acked := 0
	for cycle := range cycles {
		srv := startServer(t, dir, "--status-changes-per-minute", "0")
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var mu sync.Mutex
		for c := range crashClients {
			wg.Add(1)
			cr := rand.New(rand.NewPCG(seed, uint64(cycle*crashClients+c+2)))
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second}
				for ctx.Err() == nil {
					i := c*crashCardsPerClient + cr.IntN(crashCardsPerClient)
					m := model[i] // only this client touches its cards
					typ, to := next(m.status, cr)
					reqID, ok := crashCall(ctx, client, srv.base, token, "POST", "/CertificateManagement/api/v1.0/requests",
						`{"type":"`+typ+`","smartcard":"`+cardID(i)+`"}`, 201)
					if !ok {
						return
					}
					var uri string
					_ = json.Unmarshal([]byte(reqID), &uri)
					id, err := guid.Parse(strings.TrimPrefix(uri, "api/v1.0/requests/"))
					if err != nil {
						t.Errorf("request id %q", reqID)
						return
					}
					change := ackedChange{request: id, from: m.status, to: to}
					m.maybe = &change
					if _, ok := crashCall(ctx, client, srv.base, token, "PUT", "/CertificateManagement/api/v1.0/requests/"+id.String()+"/smartcards/"+cardID(i),
						`{"status":"`+to.String()+`"}`, 200); !ok {
						return // unanswered: stays a maybe
					}
					m.maybe = nil
					m.acked = append(m.acked, change)
					m.status = to
					mu.Lock()
					acked++
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(50+r.IntN(400)) * time.Millisecond)
		_ = srv.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
		_ = srv.cmd.Wait()
		cancel()
		wg.Wait()
		checkCrashModel(t, dir, model)
		if t.Failed() {
			t.Fatalf("cycle %d of %d failed; seed %d", cycle+1, cycles, seed)
		}
	}
	t.Logf("%d kills, %d acknowledged transitions, all kept", cycles, acked)
}

// crashCall sends one request; ok is false when no (wanted) answer came.
func crashCall(ctx context.Context, client *http.Client, base, token, method, path, body string, want int) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		return "", false
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String(), resp.StatusCode == want
}

// checkCrashModel opens the database the killed server left and holds it
// to the model, then settles each uncertain change to what was committed.
func checkCrashModel(t *testing.T, dir string, model []*cardModel) {
	t.Helper()
	st, err := storage.Open(dir, storage.Options{})
	if err != nil {
		t.Fatalf("open after the kill: %v", err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("bbolt check after the kill: %v", err)
	}
	events, err := st.Events(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.VerifyChain(events); err != nil {
		t.Errorf("audit chain after the kill: %v", err)
	}
	byRequest := map[guid.GUID][]storage.Event{}
	perCard := map[guid.GUID]int{}
	for _, e := range events {
		if e.Action != storage.ActionCardStatus {
			continue
		}
		from, err1 := domain.ParseCardStatus(e.OldStatus)
		to, err2 := domain.ParseCardStatus(e.NewStatus)
		if _, ok := domain.Edge(from, to); err1 != nil || err2 != nil || !ok {
			t.Errorf("event %d: %s → %s is not an allowed edge", e.Seq, e.OldStatus, e.NewStatus)
		}
		byRequest[e.RequestUuid] = append(byRequest[e.RequestUuid], e)
		perCard[e.CardUuid]++
	}
	for i, m := range model {
		id, _ := guid.Parse(cardID(i))
		card, err := st.Card(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range m.acked {
			evs := byRequest[a.request]
			if len(evs) != 1 || evs[0].CardUuid != id || evs[0].OldStatus != a.from.String() || evs[0].NewStatus != a.to.String() {
				t.Errorf("card %d: the acknowledged change %s→%s (request %s) has %d matching audit events: %+v", i, a.from, a.to, a.request, len(evs), evs)
			}
		}
		want := len(m.acked)
		switch {
		case card.Status == m.status:
			if m.maybe != nil && len(byRequest[m.maybe.request]) != 0 {
				t.Errorf("card %d: an unanswered change left an event but not the status", i)
			}
		case m.maybe != nil && card.Status == m.maybe.to:
			// The server committed it, then died before answering: it counts.
			m.acked = append(m.acked, *m.maybe)
			m.status = m.maybe.to
			want++
		default:
			t.Errorf("card %d is %s; the clients were told %s (uncertain: %+v): an acknowledged change was lost", i, card.Status, m.status, m.maybe)
		}
		m.maybe = nil
		if perCard[id] != want {
			t.Errorf("card %d: %d change events, want %d", i, perCard[id], want)
		}
	}
}
