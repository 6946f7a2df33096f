package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
)

// limitSite is the real server behind a real listener, on a store whose
// clock the test moves and whose argon2id work it counts and can hold.
// A request's X-Test-Remote header stands for its client address, so that
// one test can be many clients.
type limitSite struct {
	t      *testing.T
	at     atomic.Int64 // the store's and the server's clock, in Unix ns
	store  *storage.Store
	url    string
	client *http.Client

	running, peak, total atomic.Int32
	held                 atomic.Pointer[chan struct{}] // while set, password work waits for it to close
}

func newLimitSite(t *testing.T) *limitSite {
	t.Helper()
	s := &limitSite{t: t}
	s.at.Store(fixedNow.UnixNano())
	st, err := storage.Open(t.TempDir(), storage.Options{Now: s.now, ObservePasswordWork: s.observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.AddUser(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "ann", domain.RoleAdmin, pagePass); err != nil {
		t.Fatal(err)
	}
	s.store = st
	s.total.Store(0) // the account's password was hashed
	srv := New(st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: s.now})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("X-Test-Remote"); a != "" {
			r.RemoteAddr = a + ":40000"
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.url = ts.URL
	s.client = &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s
}

func (s *limitSite) now() time.Time          { return time.Unix(0, s.at.Load()).UTC() }
func (s *limitSite) advance(d time.Duration) { s.at.Add(int64(d)) }

// observe counts each hash or check of a password while it runs, and
// holds it while the checks are held.
func (s *limitSite) observe() func() {
	n := s.running.Add(1)
	s.total.Add(1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	if ch := s.held.Load(); ch != nil {
		<-*ch
	}
	return func() { s.running.Add(-1) }
}

// hold makes password work wait until the function it returns is called.
func (s *limitSite) hold() (release func()) {
	ch := make(chan struct{})
	s.held.Store(&ch)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.held.Store(nil)
			close(ch)
		})
	}
}

// reply is what a client got.
type reply struct {
	code       int
	retryAfter string
	cookie     bool
	body       string
	took       time.Duration
}

// signIn posts the sign-in form from remote ("": the listener's own
// client address, 127.0.0.1).
func (s *limitSite) signIn(remote, name, password string) reply {
	req, err := http.NewRequest("POST", s.url+"/signin", strings.NewReader(url.Values{"name": {name}, "password": {password}}.Encode()))
	if err != nil {
		s.t.Error(err)
		return reply{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if remote != "" {
		req.Header.Set("X-Test-Remote", remote)
	}
	start := time.Now()
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Error(err)
		return reply{}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), cookie: len(resp.Cookies()) > 0,
		body: string(body), took: time.Since(start)}
}

// signInEvents are the store's sign-in events, failed and not.
func (s *limitSite) signInEvents() (failed, signedIn []storage.Event) {
	s.t.Helper()
	evs, err := s.store.Events(0, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, e := range evs {
		switch e.Action {
		case storage.ActionSignInFail:
			failed = append(failed, e)
		case storage.ActionSignIn:
			signedIn = append(signedIn, e)
		}
	}
	return failed, signedIn
}

// receive waits for n answers, at most 20 s.
func receive(t *testing.T, answers <-chan reply, n int) []reply {
	t.Helper()
	var got []reply
	timeout := time.After(20 * time.Second)
	for range n {
		select {
		case a := <-answers:
			got = append(got, a)
		case <-timeout:
			t.Fatalf("only %d of %d answers came", len(got), n)
		}
	}
	return got
}

func codes(as []reply) map[int]int {
	m := map[int]int{}
	for _, a := range as {
		m[a.code]++
	}
	return m
}

// TestSignInRaceNeverBeatsTheLimit: 30 sign-ins for one name from one
// address at once, 29 with wrong passwords and the right one last, get
// no more password checks than the limit allows and no session; the right
// password signs in once the window has passed.
func TestSignInRaceNeverBeatsTheLimit(t *testing.T) {
	s := newLimitSite(t)
	release := s.hold()
	defer release()
	answers := make(chan reply, 29)
	for i := range 29 {
		go func() { answers <- s.signIn("", "ann", "wrong password "+strconv.Itoa(i)) }()
	}
	// The limit's worth of attempts are counted and held in or before
	// their checks; every other is refused at once.
	first := receive(t, answers, 29-auth.MaxSignInFailures)
	for _, a := range first {
		if a.code != http.StatusTooManyRequests || a.retryAfter != "60" || a.cookie ||
			!strings.Contains(a.body, "Too many failed sign-ins for this name or from this address. Try again in 60 seconds.") {
			t.Fatalf("a guess past the limit: %d, Retry-After %q, %s", a.code, a.retryAfter, a.body)
		}
	}
	right := s.signIn("", "ann", pagePass)
	if right.code != http.StatusTooManyRequests || right.retryAfter != "60" || right.cookie {
		t.Fatalf("the right password, last: %d, Retry-After %q, cookie %v; want 429 and no session", right.code, right.retryAfter, right.cookie)
	}
	release()
	rest := receive(t, answers, auth.MaxSignInFailures)
	if got := codes(append(first, rest...)); got[http.StatusUnauthorized] != auth.MaxSignInFailures || got[http.StatusTooManyRequests] != 29-auth.MaxSignInFailures {
		t.Fatalf("answers %v; want %d × 401 and %d × 429", got, auth.MaxSignInFailures, 29-auth.MaxSignInFailures)
	}
	if n := s.total.Load(); n != auth.MaxSignInFailures {
		t.Errorf("%d passwords checked, want %d", n, auth.MaxSignInFailures)
	}
	failed, signedIn := s.signInEvents()
	if len(failed) != auth.MaxSignInFailures || len(signedIn) != 0 {
		t.Fatalf("%d failed and %d sign-ins recorded; want %d and none", len(failed), len(signedIn), auth.MaxSignInFailures)
	}
	for _, e := range failed {
		if e.Name != "ann" || e.Source != "127.0.0.1" {
			t.Errorf("failed sign-in recorded as %q from %q", e.Name, e.Source)
		}
	}

	// Another address is refused for the name too.
	if a := s.signIn("198.51.100.9", "ann", pagePass); a.code != http.StatusTooManyRequests {
		t.Errorf("the right password from another address: %d, want 429", a.code)
	}
	s.advance(auth.FailureWindow)
	if a := s.signIn("", "ann", pagePass); a.code != http.StatusSeeOther || !a.cookie {
		t.Fatalf("the right password after the window: %d %s", a.code, a.body)
	}

	// And without any held check: a burst, the right password last,
	// never gets more than the limit's worth checked.
	s.advance(auth.FailureWindow)
	s.total.Store(0)
	burst := make(chan reply, 30)
	var start sync.WaitGroup
	start.Add(1)
	for i := range 30 {
		password := "wrong password " + strconv.Itoa(i)
		if i == 29 {
			password = pagePass
		}
		go func() { start.Wait(); burst <- s.signIn("", "ann", password) }()
	}
	start.Done()
	got := codes(receive(t, burst, 30))
	if got[http.StatusUnauthorized] > auth.MaxSignInFailures || got[http.StatusSeeOther] > 1 ||
		got[http.StatusUnauthorized]+got[http.StatusSeeOther]+got[http.StatusTooManyRequests] != 30 {
		t.Fatalf("a burst: %v; want at most %d × 401, the rest 429 (or the right one 303)", got, auth.MaxSignInFailures)
	}
	if n := s.total.Load(); int(n) != got[http.StatusUnauthorized]+got[http.StatusSeeOther] {
		t.Errorf("%d passwords checked for %v", n, got)
	}
}

// TestSignInArgon2Bounded: however many sign-ins come at once, from as
// many addresses, at most auth.MaxPasswordWork passwords are checked at a
// time (19 MiB each); the others wait their turn, up to 2 s, then get 503
// with Retry-After. Every reply is 401, 429 or 503.
func TestSignInArgon2Bounded(t *testing.T) {
	s := newLimitSite(t)

	// Two checks that do not end: a third waits 2 s, then gets 503.
	release := s.hold()
	defer release()
	held := make(chan reply, auth.MaxPasswordWork)
	for i := range auth.MaxPasswordWork {
		go func() { held <- s.signIn("192.0.2."+strconv.Itoa(1+i), "guess-"+strconv.Itoa(i), "a wrong password") }()
	}
	for deadline := time.Now().Add(10 * time.Second); s.running.Load() < auth.MaxPasswordWork; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d checks running, want %d", s.running.Load(), auth.MaxPasswordWork)
		}
	}
	busy := s.signIn("192.0.2.100", "ann", pagePass)
	if busy.code != http.StatusServiceUnavailable || busy.retryAfter != "1" || busy.cookie || busy.took < auth.PasswordWait ||
		!strings.Contains(busy.body, "Too many sign-ins at once. Try again in 1 second.") {
		t.Fatalf("a sign-in while the checks are busy: %d after %v, Retry-After %q, %s; want 503 after %v", busy.code, busy.took, busy.retryAfter, busy.body, auth.PasswordWait)
	}
	release()
	for _, a := range receive(t, held, auth.MaxPasswordWork) {
		if a.code != http.StatusUnauthorized {
			t.Errorf("a held wrong password: %d, want 401", a.code)
		}
	}
	if a := s.signIn("192.0.2.100", "ann", pagePass); a.code != http.StatusSeeOther {
		t.Fatalf("the refused sign-in, once the checks are done: %d; the 503 must not count against the limit", a.code)
	}

	// 50 at once, from 50 addresses: ten for one name, the rest for names
	// of their own.
	s.peak.Store(0)
	var heapPeak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // the heap in use, sampled; 50 unbounded checks would need 950 MiB
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > heapPeak.Load() {
				heapPeak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	answers := make(chan reply, 50)
	var start sync.WaitGroup
	start.Add(1)
	for i := range 50 {
		name := "someone-" + strconv.Itoa(i)
		if i < 10 {
			name = "ann"
		}
		go func() { start.Wait(); answers <- s.signIn("198.51.100."+strconv.Itoa(1+i), name, "a wrong password") }()
	}
	start.Done()
	got := receive(t, answers, 50)
	close(stop)
	<-sampled
	for _, a := range got {
		switch a.code {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			if a.retryAfter == "" {
				t.Errorf("%d without Retry-After", a.code)
			}
		default:
			t.Errorf("a sign-in of the 50: %d %s; want 401, 429 or 503", a.code, a.body)
		}
	}
	t.Logf("50 at once: %v; at most %d checks at a time; heap in use at most %d MiB", codes(got), s.peak.Load(), heapPeak.Load()>>20)
	if p := s.peak.Load(); p != auth.MaxPasswordWork {
		t.Errorf("at most %d checks ran at once, want %d", p, auth.MaxPasswordWork)
	}
	if h := heapPeak.Load(); h > 256<<20 {
		t.Errorf("the heap in use reached %d MiB", h>>20)
	}
	failed, _ := s.signInEvents()
	if want := codes(got)[http.StatusUnauthorized] + auth.MaxPasswordWork; len(failed) != want {
		t.Errorf("%d failed sign-ins recorded, want one for each 401 (%d)", len(failed), want)
	}
}

// TestValidTokenServedAfterBadTokens: an address that sent more bad
// tokens than the limit gets 429 for bad tokens, each bad one before
// that waits longer for its 401, and a valid token from that very address
// is served all along.
func TestValidTokenServedAfterBadTokens(t *testing.T) {
	e := newEnv(t)
	const addr = "192.0.2.50:41000"
	try := func(header string) (*httptest.ResponseRecorder, time.Duration) {
		req := httptest.NewRequest("GET", api+"/smartcards", nil)
		req.RemoteAddr = addr
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		rec := httptest.NewRecorder()
		start := time.Now()
		e.srv.ServeHTTP(rec, req)
		return rec, time.Since(start)
	}
	type result struct {
		code  int
		retry string
		took  time.Duration
	}
	const bad = auth.MaxTokenFailures + 3
	results := make(chan result, bad)
	for i := range bad {
		go func() {
			rec, took := try("Bearer wrong-" + strconv.Itoa(i))
			results <- result{rec.Code, rec.Header().Get("Retry-After"), took}
		}()
	}
	var slow []time.Duration
	refused := 0
	for range bad {
		r := <-results
		switch {
		case r.code == http.StatusUnauthorized:
			slow = append(slow, r.took)
		case r.code == http.StatusTooManyRequests && r.retry == "60":
			refused++
		default:
			t.Errorf("a bad token: %d, Retry-After %q", r.code, r.retry)
		}
	}
	if len(slow) != auth.MaxTokenFailures || refused != bad-auth.MaxTokenFailures {
		t.Fatalf("%d × 401 and %d × 429, want %d and %d", len(slow), refused, auth.MaxTokenFailures, bad-auth.MaxTokenFailures)
	}
	slices.Sort(slow)
	for i, d := range slow { // the n-th bad token waits n steps
		if min := time.Duration(i+1) * tokenFailureStep; d < min {
			t.Errorf("the %d-th fastest 401 took %v, want at least %v", i+1, d, min)
		}
	}
	for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleViewer} {
		if rec, took := try("Bearer " + e.tokens[role]); rec.Code != http.StatusOK || took >= tokenFailureStep {
			t.Errorf("a valid %s token from the address: %d after %v, want 200 at once", role, rec.Code, took)
		}
	}
	if rec, _ := try(""); rec.Code != http.StatusUnauthorized {
		t.Errorf("no credential from the address: %d, want 401 (it guesses nothing)", rec.Code)
	}
	rec, _ := try("Bearer still-wrong")
	brCheckError(t, rec, http.StatusTooManyRequests, "too many failed authentications from this address; try again in 60 s (a valid token is served meanwhile)")
}

// TestSignInPageFailuresAudited: every failed sign-in through the page is
// in the audit log with the name tried and the client's address, never
// the password; a form that cannot be read is refused before any check
// and is not.
func TestSignInPageFailuresAudited(t *testing.T) {
	e := newEnv(t)
	if err := e.store.AddUser(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "ann", domain.RoleViewer, pagePass); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 200)
	form := func(name, password string) (string, string) {
		return "application/x-www-form-urlencoded", url.Values{"name": {name}, "password": {password}}.Encode()
	}
	type row struct {
		name        string
		ctype, body string
		password    string // never to be found in the log
		code        int
		page        string // on the page
		event       bool   // a failed sign-in is recorded
		recorded    string // with this Name
	}
	rows := []row{
		{name: "wrong password", password: "not her password", code: 401, page: "Wrong user name or password.", event: true, recorded: "ann"},
		{name: "unknown name", password: pagePass, code: 401, page: "Wrong user name or password.", event: true, recorded: "nobody"},
		{name: "empty form", code: 401, page: "Wrong user name or password.", event: true},
		{name: "markup for a name", password: "a password here", code: 401, page: "&lt;script&gt;", event: true, recorded: "<script>alert(1)</script>"},
		{name: "overlong name", password: "a password here", code: 401, page: "Wrong user name or password.", event: true, recorded: long[:64] + "..."},
		{name: "overlong password", password: strings.Repeat("p", 4000), code: 401, page: "Wrong user name or password.", event: true, recorded: "ann"},
		{name: "JSON instead of a form", ctype: "application/json", body: `{"name":"ann","password":"` + pagePass + `"}`, code: 401, page: "Wrong user name or password.", event: true},
		{name: "form over 64 KiB", password: strings.Repeat("x", MaxBody), code: 400, page: "The form could not be read."},
		{name: "the right password", password: pagePass, code: 303},
	}
	names := map[string]string{"wrong password": "ann", "unknown name": "nobody", "markup for a name": "<script>alert(1)</script>",
		"overlong name": long, "overlong password": "ann", "form over 64 KiB": "ann", "the right password": "ann"}
	for i, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			ctype, body := tt.ctype, tt.body
			if ctype == "" {
				ctype, body = form(names[tt.name], tt.password)
			}
			req := httptest.NewRequest("POST", "/signin", strings.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			req.RemoteAddr = "203.0.113." + strconv.Itoa(10+i) + ":5000"
			before, _ := e.store.Events(0, 0)
			rec := httptest.NewRecorder()
			e.srv.ServeHTTP(rec, req)
			if rec.Code != tt.code || (tt.page != "" && !strings.Contains(rec.Body.String(), tt.page)) {
				t.Fatalf("%d, want %d with %q:\n%s", rec.Code, tt.code, tt.page, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "<script>alert") {
				t.Error("the name tried is on the page unescaped")
			}
			after, _ := e.store.Events(0, 0)
			added := after[len(before):]
			var fails []storage.Event
			for _, ev := range added {
				if ev.Action == storage.ActionSignInFail {
					fails = append(fails, ev)
				}
			}
			if !tt.event {
				if len(fails) != 0 {
					t.Fatalf("recorded as a failed sign-in: %+v", fails)
				}
				return
			}
			if len(added) != 1 || len(fails) != 1 {
				t.Fatalf("%d events, %d failed sign-ins; want one", len(added), len(fails))
			}
			ev := fails[0]
			if ev.Name != tt.recorded || ev.Source != "203.0.113."+strconv.Itoa(10+i) || ev.Actor != "" || ev.CorrelationId.String() != rec.Header().Get("X-Correlation-Id") {
				t.Errorf("recorded %+v; want Name %q from %s, correlation id %s", ev, tt.recorded, req.RemoteAddr, rec.Header().Get("X-Correlation-Id"))
			}
			raw, _ := json.Marshal(ev)
			for _, secret := range []string{tt.password, pagePass} {
				if secret != "" && strings.Contains(string(raw), secret) {
					t.Errorf("the event holds a password: %s", raw)
				}
			}
		})
	}
}
