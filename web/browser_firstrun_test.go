package web

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cardstop/cardstop/storage/domain"
)

// problems collects what a tab reports as wrong: console errors, uncaught
// exceptions, and answers of 400 or more (a missing favicon is one).
type problems struct {
	mu   sync.Mutex
	seen []string
}

func (p *problems) listen(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		var s string
		switch e := ev.(type) {
		case *network.EventResponseReceived:
			if e.Response.Status >= 400 {
				s = fmt.Sprintf("%d for %s", e.Response.Status, e.Response.URL)
			}
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				s = "log: " + e.Entry.Text + " " + e.Entry.URL
			}
		case *runtime.EventExceptionThrown:
			s = "exception: " + e.ExceptionDetails.Text
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				s = "console.error"
			}
		}
		if s != "" {
			p.mu.Lock()
			p.seen = append(p.seen, s)
			p.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (p *problems) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.seen {
		t.Errorf("the browser reported: %s", s)
	}
}

// TestBrowserAdminConfirmations: Revoke and Remove ask first; Cancel keeps
// the token, the confirmed button removes it. No page shows a console
// error or a failed request, the favicon included.
func TestBrowserAdminConfirmations(t *testing.T) {
	s := newSite(t)
	if _, _, err := s.store.CreateToken(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, "ci", domain.RoleOperator); err != nil {
		t.Fatal(err)
	}
	ctx := s.tab()
	var p problems
	p.listen(t, ctx)
	s.signIn(ctx, "ada", adminPass)

	// The icon the layout names is there, as an SVG.
	icon, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('link[rel="icon"]').href)
		.then(r => r.status + " " + r.headers.get("Content-Type"))`, chromedp.EvalAwaitPromise))
	if err != nil || icon != "200 image/svg+xml" {
		t.Fatalf("the favicon: %q %v", icon, err)
	}

	click := func(sel string) {
		t.Helper()
		if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("click %s: %v", sel, err)
		}
	}
	listed := func(name string) bool {
		t.Helper()
		s.do(ctx, chromedp.WaitVisible(chromedp.CSS("main h1")))
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll('button[aria-label$=" %s"]').length`, name)))
		if err != nil {
			t.Fatal(err)
		}
		return n > 0
	}
	steps := []struct {
		list, open, confirm string // the list's page, its button, and the question's title
		name                string
	}{
		{"/admin/tokens", `button[aria-label="Revoke ci"]`, "Revoke token ci?", "ci"},
		{"/admin/users", `button[aria-label="Remove oscar"]`, "Remove user oscar?", "oscar"},
	}
	for _, st := range steps {
		s.do(ctx, chromedp.Navigate(s.url+st.list), chromedp.WaitVisible(chromedp.CSS("main h1")))
		click(st.open)
		if h := s.text(ctx, "main h1"); h != st.confirm {
			t.Fatalf("%s: the question is %q, want %q", st.list, h, st.confirm)
		}
		s.accessible(ctx, st.confirm)
		click(`[data-testid="cancel"]`)
		if !listed(st.name) {
			t.Fatalf("%s: %s is gone after Cancel", st.list, st.name)
		}
		click(st.open)
		click(`[data-testid="confirm"]`)
		if listed(st.name) {
			t.Fatalf("%s: %s is still listed after confirming", st.list, st.name)
		}
	}
	p.check(t)
}
