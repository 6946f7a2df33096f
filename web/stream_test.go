package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/wire"
)

// seqGUID is a version-4 GUID whose order follows n.
func seqGUID(n int) guid.GUID {
	var g guid.GUID
	binary.BigEndian.PutUint32(g[:4], uint32(n))
	g[6], g[8] = 0x40, 0x80
	return g
}

// addCards imports n more cards (numbered from first), in commits of
// 10,000, with what makes real records long: a user, a profile, a
// middleware name, an ATR, and a comment with the characters that JSON
// may escape.
func addCards(tb testing.TB, st *storage.Store, first, n int) {
	tb.Helper()
	cli := domain.Origin{Actor: "test", Role: domain.RoleAdmin}
	for start := first; start < first+n; start += 10_000 {
		batch := make([]storage.Smartcard, 0, 10_000)
		for i := start; i < min(start+10_000, first+n); i++ {
			batch = append(batch, storage.Smartcard{Uuid: seqGUID(i), SerialNumber: fmt.Sprintf("{%032x}", i),
				Status: domain.CardStatus(i%6 + 1), AssignedUserUuid: seqGUID(1<<31 + i%7), ProfileTemplateUuid: seqGUID(1 << 30),
				ProfileTemplateVersion: 1, Middleware: "Microsoft Base Smart Card Crypto Provider", Atr: "3b8d018031fe",
				Comment: fmt.Sprintf("card <%d> & co", i)})
		}
		if err := st.ImportCards(context.Background(), cli, batch); err != nil {
			tb.Fatal(err)
		}
	}
}

// oldList is how the lists were answered before they were streamed: the
// whole slice encoded at once. The streamed answer must be these bytes.
func oldList[R, W any](t *testing.T, records []R, shape func(R) W) []byte {
	t.Helper()
	out := make([]W, len(records))
	for i, r := range records {
		out[i] = shape(r)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// gunzip decompresses an answer.
func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStreamedListsKeepTheirBytes checks that the lists and the audit
// export are the bytes the whole-slice encoding gave: short answers are
// sent whole, with a length, never gzipped; long ones are streamed, and
// gzipped when asked, decompressing to the same bytes.
func TestStreamedListsKeepTheirBytes(t *testing.T) {
	e := newEnv(t)
	viewer := e.people()[domain.RoleViewer]
	// Short: as before, even when gzip is asked for.
	for _, path := range []string{api + "/smartcards", api + "/requests", "/audit.jsonl"} {
		want := e.listBody(viewer, path)
		rec := e.get(viewer, path, "Accept-Encoding", "gzip")
		h := rec.Header()
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) || h.Get("Content-Encoding") != "" ||
			h.Get("Content-Length") != fmt.Sprint(len(want)) || h.Get("Vary") != "Accept-Encoding" {
			t.Errorf("GET %s with gzip: %d %v %s, want 200, a Content-Length, no gzip and %s", path, rec.Code, h, rec.Body, want)
		}
	}
	addCards(t, e.store, 0, 1000)
	for i := range 150 {
		brRequest(e, domain.RoleAdmin, "Disable", seqGUID(i*6).String()) // the Active ones
	}
	cards, err := e.store.Cards(storage.CardFilter{})
	if err != nil {
		t.Fatal(err)
	}
	reqs, err := e.store.Requests(storage.RequestFilter{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := e.store.Events(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines) // the export's old encoder: HTML escaped, a line each
	for _, ev := range events {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	long := map[string][]byte{
		api + "/smartcards":                 oldList(t, cards, wire.SmartcardFrom),
		api + "/requests":                   oldList(t, reqs, wire.RequestFrom),
		api + "/smartcards?status=Disabled": oldList(t, filterCards(cards, domain.CardDisabled), wire.SmartcardFrom),
		"/audit.jsonl":                      lines.Bytes(),
	}
	for path, want := range long {
		if len(want) < 2*streamChunk {
			t.Fatalf("%s: %d bytes is too short to be streamed", path, len(want))
		}
	}
	tests := []struct {
		name, path, acceptEncoding string
		want                       []byte
		gzipped                    bool
	}{
		{name: "long cards", path: api + "/smartcards", want: long[api+"/smartcards"]},
		{name: "long cards gzipped", path: api + "/smartcards", acceptEncoding: "deflate, gzip;q=0.5", want: long[api+"/smartcards"], gzipped: true},
		{name: "long cards gzip refused", path: api + "/smartcards", acceptEncoding: "gzip;q=0", want: long[api+"/smartcards"]},
		{name: "long filtered cards gzipped", path: api + "/smartcards?status=Disabled", acceptEncoding: "gzip",
			want: long[api+"/smartcards?status=Disabled"], gzipped: true},
		{name: "long requests", path: api + "/requests", want: long[api+"/requests"]},
		{name: "long requests gzipped", path: api + "/requests", acceptEncoding: "gzip", want: long[api+"/requests"], gzipped: true},
		{name: "long export", path: "/audit.jsonl", want: long["/audit.jsonl"]},
		{name: "long export gzipped", path: "/audit.jsonl", acceptEncoding: "x-gzip", want: long["/audit.jsonl"], gzipped: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				t.Fatal("no expected answer")
			}
			rec := e.get(viewer, tt.path, "Accept-Encoding", tt.acceptEncoding)
			if rec.Code != http.StatusOK {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			h := rec.Header()
			if got := h.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q", got)
			}
			body := rec.Body.Bytes()
			if tt.gzipped {
				if h.Get("Content-Encoding") != "gzip" || h.Get("Content-Length") != "" {
					t.Errorf("Content-Encoding %q, Content-Length %q; want gzip and none", h.Get("Content-Encoding"), h.Get("Content-Length"))
				}
				if len(body) > len(tt.want)/4 {
					t.Errorf("gzipped to %d of %d bytes", len(body), len(tt.want))
				}
				body = gunzip(t, body)
			} else if h.Get("Content-Encoding") != "" {
				t.Errorf("Content-Encoding %q, want none", h.Get("Content-Encoding"))
			}
			if h.Get("Content-Length") != "" {
				t.Errorf("Content-Length %q on a streamed answer", h.Get("Content-Length"))
			}
			if !bytes.Equal(body, tt.want) {
				t.Errorf("body differs: got %d bytes, want %d\n got: %.300s\nwant: %.300s", len(body), len(tt.want), body, tt.want)
			}
		})
	}
}

func filterCards(cards []storage.Smartcard, st domain.CardStatus) []storage.Smartcard {
	var out []storage.Smartcard
	for _, c := range cards {
		if c.Status == st {
			out = append(out, c)
		}
	}
	return out
}

// get sends a GET of path: to the API with the viewer's token, to a page
// with the session c.
func (e *env) get(c *http.Cookie, path string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	if strings.HasPrefix(path, api) {
		return e.do(domain.RoleViewer, "GET", path, "", header...)
	}
	return e.form(c, "GET", path, nil, header...)
}

// listBody is the body of a GET of path that must succeed.
func (e *env) listBody(c *http.Cookie, path string) []byte {
	e.t.Helper()
	rec := e.get(c, path)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	return rec.Body.Bytes()
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	addCards(t, e.store, 0, 700) // more than two of the store's batches
	uuids := func(path string) []string {
		t.Helper()
		rec := e.get(nil, path)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		var cards []struct{ Uuid string }
		if err := json.Unmarshal(rec.Body.Bytes(), &cards); err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(cards))
		for i, c := range cards {
			out[i] = c.Uuid
		}
		return out
	}
	all := uuids(api + "/smartcards") // the two example cards sort after the added ones
	if len(all) != 702 {
		t.Fatalf("%d cards, want 702", len(all))
	}
	user := seqGUID(1<<31 + 3).String()
	var ofUser, disabledOfUser []string
	for i := range 700 {
		if i%7 == 3 {
			ofUser = append(ofUser, seqGUID(i).String())
			if domain.CardStatus(i%6+1) == domain.CardDisabled {
				disabledOfUser = append(disabledOfUser, seqGUID(i).String())
			}
		}
	}
	between := seqGUID(299)
	between[15] = 1 // after card 299, before card 300: a uuid no card has
	tests := []struct {
		name, query string
		want        []string
	}{
		{name: "limit", query: "?limit=10", want: all[:10]},
		{name: "limit one", query: "?limit=1", want: all[:1]},
		{name: "limit above the count", query: "?limit=5000", want: all},
		{name: "after", query: "?after=" + all[299], want: all[300:]},
		{name: "after and limit across a batch", query: "?after=" + all[250] + "&limit=20", want: all[251:271]},
		{name: "after in upper case with braces", query: "?after={" + strings.ToUpper(all[9]) + "}&limit=2", want: all[10:12]},
		{name: "after a uuid no card has", query: "?after=" + between.String() + "&limit=3", want: all[300:303]},
		{name: "after the last", query: "?after=" + all[701], want: []string{}},
		{name: "after the nil GUID", query: "?after=" + guid.Nil.String() + "&limit=2", want: all[:2]},
		{name: "limit in another case", query: "?LIMIT=3", want: all[:3]},
		{name: "user", query: "?assigneduser=" + user + "&limit=5", want: ofUser[:5]},
		{name: "user after", query: "?assigneduser=" + user + "&after=" + ofUser[40] + "&limit=50", want: ofUser[41:91]},
		{name: "user and status after", query: "?assigneduser=" + user + "&status=Disabled&after=" + disabledOfUser[2], want: disabledOfUser[3:]},
		{name: "status after", query: "?status=Disabled&after=" + seqGUID(3).String() + "&limit=2",
			want: []string{seqGUID(9).String(), seqGUID(15).String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := uuids(api + "/smartcards" + tt.query)
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %d cards %.200v\nwant %d %.200v", len(got), got, len(tt.want), tt.want)
			}
		})
	}
	t.Run("pages add up to the list", func(t *testing.T) {
		var walked []string
		after := ""
		for range 100 {
			page := uuids(api + "/smartcards?limit=64" + after)
			walked = append(walked, page...)
			if len(page) < 64 {
				break
			}
			after = "&after=" + page[len(page)-1]
		}
		if strings.Join(walked, ",") != strings.Join(all, ",") {
			t.Errorf("walked %d cards, want %d", len(walked), len(all))
		}
	})
}

func TestAcceptsGzip(t *testing.T) {
	tests := []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"gzip"}, true},
		{[]string{"GZIP"}, true},
		{[]string{"x-gzip"}, true},
		{[]string{"deflate, br"}, false},
		{[]string{"br", "gzip, deflate"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"gzip; q=0.000"}, false},
		{[]string{"gzip;q=0.1"}, true},
		{[]string{"gzip;q=nope"}, false},
		{[]string{"gzipped"}, false},
		{[]string{"*"}, false}, // allowed, not asked for: plain is the safe answer
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		for _, v := range tt.header {
			r.Header.Add("Accept-Encoding", v)
		}
		if got := acceptsGzip(r); got != tt.want {
			t.Errorf("Accept-Encoding %q: %v, want %v", tt.header, got, tt.want)
		}
	}
}

// deadlineRecorder records the write deadlines a streamed answer sets, as
// the connection's ResponseWriter would take them.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// TestStreamMovesWriteDeadline checks that a long answer moves the write
// deadline to streamStall ahead before each chunk (through the server's
// own ResponseWriter wrapper), and not past streamMax; a short one leaves
// the server's WriteTimeout alone.
func TestStreamMovesWriteDeadline(t *testing.T) {
	e := newEnv(t)
	get := func() *deadlineRecorder {
		req := httptest.NewRequest("GET", api+"/smartcards", nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[domain.RoleViewer])
		rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
		e.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
		return rec
	}
	if rec := get(); len(rec.deadlines) != 0 {
		t.Errorf("a short answer set %d write deadlines", len(rec.deadlines))
	}
	addCards(t, e.store, 0, 1000)
	before := time.Now()
	rec := get()
	chunks := rec.Body.Len() / streamChunk
	if len(rec.deadlines) < chunks {
		t.Fatalf("%d write deadlines for %d bytes, want one a chunk (%d)", len(rec.deadlines), rec.Body.Len(), chunks)
	}
	for _, d := range rec.deadlines {
		if d.Before(before.Add(streamStall)) || d.After(time.Now().Add(streamStall)) {
			t.Errorf("deadline %v is not %v after a write", d, streamStall)
		}
	}
	// The cap, with a stream that started long ago.
	dr := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	until := time.Now().Add(time.Second)
	dw := deadlineWriter{w: dr, rc: http.NewResponseController(dr), until: until}
	if _, err := dw.Write([]byte("x")); err != nil || !dr.deadlines[0].Equal(until) {
		t.Errorf("deadline %v, %v; want the cap %v", dr.deadlines, err, until)
	}
}

// failingStore fails its listings after `after` records.
type failingStore struct {
	*storage.Store
	after int
}

var errDiskGone = errors.New("disk gone")

func (f failingStore) EachCard(ctx context.Context, flt storage.CardFilter, fn func(storage.Smartcard) error) error {
	n := 0
	err := f.Store.EachCard(ctx, flt, func(c storage.Smartcard) error {
		if n++; n > f.after {
			return errDiskGone
		}
		return fn(c)
	})
	return err
}

// TestStreamFailure checks that a listing that fails before anything is
// sent is the usual JSON 500, and one that fails after the status line
// leaves the client with a broken answer, never a short one that looks
// whole.
func TestStreamFailure(t *testing.T) {
	e := newEnv(t)
	addCards(t, e.store, 0, 1000)
	tests := []struct {
		name     string
		after    int
		wantCode int
		wantErr  bool
	}{
		{name: "at once", after: 0, wantCode: 500},
		{name: "in the first chunk", after: 10, wantCode: 500},
		{name: "after the first chunk", after: 500, wantCode: 200, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(New(failingStore{e.store, tt.after}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+api+"/smartcards", nil)
			req.Header.Set("Authorization", "Bearer "+e.tokens[domain.RoleViewer])
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || (err != nil) != tt.wantErr {
				t.Fatalf("%d, %d bytes, read error %v; want %d, error %v", resp.StatusCode, len(body), err, tt.wantCode, tt.wantErr)
			}
			if tt.wantCode == 500 {
				var msg wire.Error
				if json.Unmarshal(body, &msg) != nil || msg.Message == "" || strings.Contains(string(body), "disk gone") {
					t.Errorf("body %s", body)
				}
			}
		})
	}
}

// discardWriter is a ResponseWriter that keeps nothing of the body, as a
// network connection does not, and calls sample after each write.
type discardWriter struct {
	header http.Header
	code   int
	n      int
	sample func()
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}

func (d *discardWriter) Write(b []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.n += len(b)
	if d.sample != nil {
		d.sample()
	}
	return len(b), nil
}

// bigEnv is a server whose store holds n cards.
func bigEnv(tb testing.TB, n int) (*Server, string) {
	tb.Helper()
	st, err := storage.Open(tb.TempDir(), storage.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	addCards(tb, st, 0, n)
	secret, _, err := st.CreateToken(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "viewer", domain.RoleViewer)
	if err != nil {
		tb.Fatal(err)
	}
	return New(st, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), secret
}

// TestListMemoryIsBounded lists 100,000 cards (a 56 MB answer) to a
// writer that keeps nothing, and measures the live heap (what the last
// collection found reachable, so garbage the collector has not yet
// reclaimed is not counted) while it runs: before streaming the answer
// was built whole, and the heap grew by ~250 MB.
func TestListMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 100,000 cards")
	}
	srv, secret := bigEnv(t, 100_000)
	for _, enc := range []string{"", "gzip"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			req := httptest.NewRequest("GET", api+"/smartcards", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Accept-Encoding", enc)
			sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
			runtime.GC()
			rtmetrics.Read(sample)
			base, peak, cycles := sample[0].Value.Uint64(), uint64(0), sample[1].Value.Uint64()
			w := &discardWriter{header: http.Header{}}
			writes := 0
			w.sample = func() {
				if writes++; writes%4 == 0 {
					rtmetrics.Read(sample)
					peak = max(peak, sample[0].Value.Uint64())
				}
			}
			srv.ServeHTTP(w, req)
			if w.code != http.StatusOK || writes < 100 {
				t.Fatalf("%d, %d bytes in %d writes", w.code, w.n, writes)
			}
			runtime.GC() // what the answer left behind counts too
			rtmetrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			if sample[1].Value.Uint64()-cycles < 3 {
				t.Fatalf("only %d collections ran while listing: the live heap was not measured", sample[1].Value.Uint64()-cycles)
			}
			growth := int64(peak) - int64(base)
			t.Logf("%d bytes in %d writes, %d collections; live heap grew by at most %.1f MiB", w.n, writes, sample[1].Value.Uint64()-cycles, float64(growth)/(1<<20))
			if growth > 16<<20 {
				t.Errorf("the heap grew by %.1f MiB while listing, want under 16 MiB", float64(growth)/(1<<20))
			}
		})
	}
}

// BenchmarkListCards100k is GET /smartcards with 100,000 cards, to a
// writer that keeps nothing: the server's side of the 35 MB answer.
func BenchmarkListCards100k(b *testing.B) {
	srv, secret := bigEnv(b, 100_000)
	for _, enc := range []string{"", "gzip"} {
		b.Run("encoding="+enc, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				req := httptest.NewRequest("GET", api+"/smartcards", nil)
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Accept-Encoding", enc)
				w := &discardWriter{header: http.Header{}}
				srv.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatal(w.code)
				}
				n = w.n
			}
			b.ReportMetric(float64(n), "bytes/answer")
		})
	}
}
