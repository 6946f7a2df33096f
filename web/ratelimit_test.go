package web

import (
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage/domain"
)

func TestChangeLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newChangeLimiter(3, func() time.Time { return now })
	for i := range 3 {
		if w := l.take("token:a"); w != 0 {
			t.Fatalf("change %d refused", i+1)
		}
	}
	if w := l.take("token:a"); w != 20*time.Second {
		t.Fatalf("the 4th change at once: wait %v, want 20s", w)
	}
	if w := l.take("token:b"); w != 0 {
		t.Fatal("another identity was limited too")
	}
	now = now.Add(20 * time.Second)
	if w := l.take("token:a"); w != 0 {
		t.Fatal("no change allowed after a 20 s refill")
	}
	if w := newChangeLimiter(0, time.Now).take("x"); w != 0 {
		t.Fatal("0 means no limit")
	}
}

// TestStatusChangeLimitOverHTTP: the API and the page share one allowance
// per identity, and a refused change changes nothing.
func TestStatusChangeLimitOverHTTP(t *testing.T) {
	e := newEnv(t)
	now := fixedNow
	e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StatusChangesPerMinute: 1,
		Now: func() time.Time { return now }})
	req := e.createRequest(domain.RoleOperator, `{"type":"SuspendOrReinstate","smartcard":"`+cardActive+`"}`)
	path := api + "/requests/" + req + "/smartcards/" + cardActive
	if rec := e.do(domain.RoleOperator, "PUT", path, `{"status":"Suspended"}`); rec.Code != 200 {
		t.Fatalf("first change: %d %s", rec.Code, rec.Body)
	}
	before := e.snapshot()
	rec := e.do(domain.RoleOperator, "PUT", path, `{"status":"Active"}`)
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "60" || !strings.Contains(rec.Body.String(), "too many status changes by token:operator") {
		t.Fatalf("second change: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if e.snapshot() != before {
		t.Fatal("a refused change changed the database")
	}
	// A person on the page has an allowance of their own.
	cookies := e.people()
	form := e.form(cookies[domain.RoleOperator], "POST", "/cards/"+cardActive+"/reinstate", url.Values{"reason": {"found"}})
	if form.Code != 303 {
		t.Fatalf("page change: %d", form.Code)
	}
	form = e.form(cookies[domain.RoleOperator], "POST", "/cards/"+cardActive+"/disable", url.Values{"reason": {"lost"}})
	if form.Code != 429 || !strings.Contains(form.Body.String(), "too many status changes") {
		t.Fatalf("second page change: %d", form.Code)
	}
	now = now.Add(time.Minute)
	again := e.createRequest(domain.RoleOperator, `{"type":"Suspend","smartcard":"`+cardActive+`"}`)
	if rec := e.do(domain.RoleOperator, "PUT", brCardPath(again, cardActive), `{"status":"Suspended"}`); rec.Code != 200 {
		t.Fatalf("after a minute: %d %s", rec.Code, rec.Body)
	}
}

// TestNoOpSpendsNoAllowance: setting the status a card has (a retried PUT,
// a form sent twice) spends none of the allowance, and is answered even
// when none is left; each change spends one.
func TestNoOpSpendsNoAllowance(t *testing.T) {
	e := newEnv(t)
	e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StatusChangesPerMinute: 2,
		Now: func() time.Time { return fixedNow }})
	put := func(req, status string, want int) {
		t.Helper()
		before := e.snapshot()
		rec := e.do(domain.RoleOperator, "PUT", brCardPath(req, cardActive), `{"status":"`+status+`"}`)
		if rec.Code != want {
			t.Fatalf("PUT %s: %d %s, want %d", status, rec.Code, rec.Body, want)
		}
		if want != 200 && e.snapshot() != before {
			t.Fatalf("PUT %s answered %d and changed the store", status, want)
		}
	}
	suspend := e.createRequest(domain.RoleOperator, `{"type":"Suspend","smartcard":"`+cardActive+`"}`)
	put(suspend, "Suspended", 200) // the first change
	before := e.snapshot()
	put(suspend, "Suspended", 200)
	put(suspend, "Suspended", 200)
	if e.snapshot() != before {
		t.Fatal("a no-op changed the store")
	}
	reinstate := e.createRequest(domain.RoleOperator, `{"type":"Reinstate","smartcard":"`+cardActive+`"}`)
	put(reinstate, "Active", 200) // the second change: the no-ops spent nothing
	disable := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+cardActive+`"}`)
	put(disable, "Disabled", 429) // the third is over the limit
	put(reinstate, "Active", 200) // a retry is answered with none left

	// The page: a form sent twice spends once.
	cookie := e.people()[domain.RoleOperator]
	for i, step := range []struct{ action, reason string }{{"suspend", "other"}, {"suspend", "other"}, {"suspend", "other"}, {"reinstate", "found"}} {
		if rec := e.form(cookie, "POST", "/cards/"+cardActive+"/"+step.action, url.Values{"reason": {step.reason}}); rec.Code != 303 {
			t.Fatalf("page step %d (%s): %d %s", i+1, step.action, rec.Code, rec.Body)
		}
	}
	before = e.snapshot()
	if rec := e.form(cookie, "POST", "/cards/"+cardActive+"/disable", url.Values{"reason": {"lost"}}); rec.Code != 429 {
		t.Fatalf("the third change on the page: %d, want 429", rec.Code)
	}
	if e.snapshot() != before {
		t.Fatal("a refused change on the page changed the store")
	}
}
