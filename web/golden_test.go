package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// compact returns a documentation example without its layout.
func compact(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDocumentedExample replays the documentation's examples and the seed's
// exchange: find the card, create a Retire request, PUT {"status":"Retired"},
// complete the request. Where the documentation prints a body, ours must be
// the same bytes, less the layout.
func TestDocumentedExample(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		name, method, path, body string
		code                     int
		doc                      string // documented body, if any
		golden                   string // our exact body, if any
	}{
		{name: "get by cardid", method: "GET", path: "/certificatemanagement/api/v1.0/smartcards?cardid=" + serialActive,
			code: 200, doc: "doc_get_smartcard_cardid.json"},
		{name: "get by uuid", method: "GET", path: api + "/smartcards/" + cardAssigned,
			code: 200, doc: "doc_get_smartcard_uuid.json"},
		{name: "operations", method: "GET", path: api + "/smartcards/" + cardActive + "/operations",
			code: 200, golden: "operations_admin.json"},
		{name: "create retire request", method: "POST", path: "/CertificateManagement/api/v1.0/requests",
			body: `{"datacollection":"[]","type":"Retire","smartcard":"` + cardAssigned + `","comment":""}`,
			code: 201, golden: "create_request.json"},
		{name: "seed: update smartcard status", method: "PUT",
			path: "/certificatemanagement/api/v1.0/requests/{req}/smartcards/" + cardAssigned, body: `{"status":"Retired"}`,
			code: 200, doc: "doc_update_smartcard_status.json"},
		{name: "get after update", method: "GET", path: api + "/requests/{req}/smartcards/" + strings.ToUpper(cardAssigned),
			code: 200, doc: "doc_update_smartcard_status.json"},
		{name: "complete request", method: "PUT", path: "/certificatemanagement/api/v1.0/requests/{req}",
			body: `{"status":"Completed"}`, code: 200, golden: "request_completed.json"},
		{name: "list requests", method: "GET", path: api + "/requests?status=completed", code: 200, golden: "requests_completed.json"},
		{name: "list cards", method: "GET", path: api + "/smartcards", code: 200, golden: "smartcards.json"},
		{name: "error body", method: "GET", path: api + "/smartcards/" + guid.Nil.String(), code: 404, golden: "error_not_found.json"},
	}
	var reqID string
	for _, st := range steps {
		path := strings.ReplaceAll(st.path, "{req}", reqID)
		rec := e.do(domain.RoleAdmin, st.method, path, st.body)
		if rec.Code != st.code {
			t.Fatalf("%s: %s %s = %d %s, want %d", st.name, st.method, path, rec.Code, rec.Body, st.code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", st.name, ct)
		}
		body := rec.Body.Bytes()
		if st.method == "POST" {
			reqID = strings.TrimPrefix(strings.Trim(string(body), `"`), "api/v1.0/requests/")
			if rec.Header().Get("Location") != api+"/requests/"+reqID {
				t.Errorf("Location = %q", rec.Header().Get("Location"))
			}
		}
		if st.doc != "" && !bytes.Equal(body, compact(t, st.doc)) {
			t.Errorf("%s: body differs from the documentation's example %s\n got: %s\nwant: %s", st.name, st.doc, body, compact(t, st.doc))
		}
		if st.golden != "" {
			golden(t, st.golden, e.anonymise(body, reqID, rec.Header().Get("X-Correlation-Id")))
		}
	}
}

// anonymise replaces the ids that differ on every run with fixed words, so
// that golden files stay exact.
func (e *env) anonymise(body []byte, reqID, corrID string) []byte {
	tokens, err := e.store.Tokens()
	if err != nil {
		e.t.Fatal(err)
	}
	var pairs []string
	for _, p := range [][2]string{{reqID, "REQUEST-UUID"}, {corrID, "CORRELATION-ID"}} {
		if p[0] != "" { // an empty old string would match between every byte
			pairs = append(pairs, p[0], p[1])
		}
	}
	for _, tk := range tokens {
		pairs = append(pairs, tk.Uuid.String(), strings.ToUpper(tk.Name)+"-TOKEN-UUID")
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(body)))
}

func TestPreferReturnMinimal(t *testing.T) {
	e := newEnv(t)
	req := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+cardActive+`"}`)
	rec := e.do(domain.RoleOperator, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"disabled"}`,
		"Prefer", "respond-async, return=minimal")
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("PUT with Prefer: return=minimal = %d %q, want 204 and no body", rec.Code, rec.Body)
	}
	card, err := e.store.Card(guid.GUID(mustGUID(t, cardActive)))
	if err != nil || card.Status != domain.CardDisabled {
		t.Fatalf("card after 204: %v %v", card.Status, err)
	}
}

func mustGUID(t *testing.T, s string) guid.GUID {
	t.Helper()
	g, err := guid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestIdempotentStatus: setting the status a card has returns it unchanged
// and writes nothing.
func TestIdempotentStatus(t *testing.T) {
	e := newEnv(t)
	req := e.createRequest(domain.RoleOperator, `{"type":"Revoke","smartcard":"`+cardActive+`"}`)
	path := api + "/requests/" + req + "/smartcards/" + cardActive
	if rec := e.do(domain.RoleOperator, "PUT", path, `{"status":4}`); rec.Code != 200 {
		t.Fatalf("first PUT: %d %s", rec.Code, rec.Body)
	}
	before := e.snapshot()
	rec := e.do(domain.RoleOperator, "PUT", path, `{"status":"DISABLED"}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"Status":4`) {
		t.Fatalf("second PUT: %d %s", rec.Code, rec.Body)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("an idempotent PUT changed the database:\n%s\n---\n%s", before, after)
	}
}

// TestConcurrentPutsOneTransition: many clients disabling one card at once
// make exactly one transition and one audit event.
func TestConcurrentPutsOneTransition(t *testing.T) {
	e := newEnv(t)
	req := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+cardActive+`"}`)
	path := api + "/requests/" + req + "/smartcards/" + cardActive
	eventsBefore, _ := e.store.Events(0, 0)
	var wg sync.WaitGroup
	codes := make([]int, 32)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.do(domain.RoleOperator, "PUT", path, `{"status":"Disabled"}`).Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("client %d got %d", i, c)
		}
	}
	events, _ := e.store.Events(uint64(len(eventsBefore)), 0)
	if len(events) != 1 || events[0].Action != storage.ActionCardStatus || events[0].NewStatus != "Disabled" {
		t.Fatalf("want exactly one card.status event, got %+v", events)
	}
}

// keysAndKinds lists an object's keys in order, each with the JSON kind of
// its value, so a shape can be compared where the values differ.
func keysAndKinds(t *testing.T, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []string
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		k, isKey := tok.(string)
		if err != nil || !isKey {
			t.Fatalf("an object key: %v %v", tok, err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		kind := map[byte]string{'"': "string", '[': "array", '{': "object", 't': "bool", 'f': "bool", 'n': "null"}[v[0]]
		if kind == "" {
			kind = "number"
		}
		out = append(out, k+":"+kind)
	}
	return out
}

// TestRequestShapeMatchesDocumentation: our Request has the documented keys
// in the documented order, with values of the documented JSON kinds.
func TestRequestShapeMatchesDocumentation(t *testing.T) {
	e := newEnv(t)
	req := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+cardActive+`"}`)
	rec := e.do(domain.RoleOperator, "PUT", api+"/requests/"+req, `{"status":"Completed"}`)
	if rec.Code != 200 {
		t.Fatalf("complete: %d %s", rec.Code, rec.Body)
	}
	got := strings.Join(keysAndKinds(t, rec.Body.Bytes()), " ")
	want := strings.Join(keysAndKinds(t, compact(t, "doc_request_completed.json")), " ")
	if got != want {
		t.Fatalf("Request shape differs from the documentation:\n got: %s\nwant: %s", got, want)
	}
}
