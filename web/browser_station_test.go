package web

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/cardstop/cardstop/device/reader"
)

// TestBrowserStationKiosk opens the station's own screen at its size,
// 800×480, and checks what a person at the station relies on: the
// headline and the countdown in view, controls big enough to touch, a
// change of the station on the screen within 200 ms, and the sign-in
// page, whole, once the session ends.
func TestBrowserStationKiosk(t *testing.T) {
	s := newSite(t)
	ctx := s.tab()
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console error")
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		}
	}); err != nil {
		t.Fatal(err)
	}
	s.signIn(ctx, "oscar", operatorPass)
	s.do(ctx, chromedp.EmulateViewport(800, 480), chromedp.Navigate(s.url+"/station/kiosk"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="countdown"]`)))
	if h := s.text(ctx, `[data-testid="station-state"]`); h != "Press the button to block this card" {
		t.Fatalf("kiosk headline %q", h)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("header, nav").length`)); n != 0 {
		t.Error("the kiosk shows the site's menu")
	}
	for _, sel := range []string{`[data-testid="station-state"]`, `[data-testid="countdown"]`} {
		bottom, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('`+sel+`').getBoundingClientRect().bottom`))
		if err != nil || bottom <= 0 || bottom > 480 {
			t.Errorf("%s ends at %.0f px (%v): not in view at 800×480 without scrolling", sel, bottom, err)
		}
	}
	small, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href], button, input, select, textarea")]
		.filter(e => e.getClientRects().length > 0)
		.map(e => [e, e.getBoundingClientRect()]).filter(([, r]) => r.width < 44 || r.height < 44)
		.map(([e, r]) => e.outerHTML.slice(0, 60) + " " + Math.round(r.width) + "×" + Math.round(r.height))`))
	if err != nil || len(small) > 0 {
		t.Errorf("controls smaller than 44 px: %v %v", small, err)
	}
	s.accessible(ctx, "kiosk")
	s.screenshot(ctx, "station-kiosk")
	s.do(ctx, chromedp.EmulateViewport(800, 480))

	// A change of the station reaches the page within 200 ms: from the
	// moment the test hands the reader's event to the station to the
	// moment the page shows it, on the one clock of this machine.
	s.do(ctx, chromedp.Poll[chromedp.Void](`document.getElementById("panel").dataset.live === "events"`))
	latency := func() time.Duration {
		s.do(ctx, chromedp.Evaluate[chromedp.Void](`window.shownAt = 0;
			new MutationObserver((_, o) => {
				if (document.querySelector('[data-state="ready"]')) { window.shownAt = Date.now(); o.disconnect(); }
			}).observe(document.getElementById("panel"), {childList: true, subtree: true})`))
		sent := time.Now()
		s.events <- reader.Event{Kind: reader.Removed, Reader: s.inserted.Reader}
		shown, err := chromedp.Run(ctx, chromedp.Poll[int64](`window.shownAt`, chromedp.WithPollingTimeout(5*time.Second)))
		if err != nil {
			t.Fatalf("the page did not show the card's removal: %v", err)
		}
		return time.UnixMilli(shown).Sub(sent)
	}
	d := latency()
	if d >= 200*time.Millisecond { // once more: a first stall of a loaded machine is not the page's
		t.Logf("the first change took %v to show; once more", d)
		s.events <- s.inserted
		s.do(ctx, chromedp.WaitVisible(chromedp.CSS(`[data-state="confirm"]`)))
		d = latency()
	}
	if d >= 200*time.Millisecond {
		t.Errorf("a change of the station took %v to reach the page, want under 200 ms", d)
	}
	t.Logf("a change of the station reached the page in %v", d)
	if h := s.text(ctx, `[data-testid="station-state"]`); h != "Insert your card" {
		t.Errorf("the headline after the card's removal: %q", h)
	}
	if len(problems) > 0 {
		t.Errorf("the kiosk page: %s", strings.Join(problems, "; "))
	}

	// The session ends (here by signing out from the same browser): the
	// page goes to the sign-in, as a whole page.
	s.do(ctx, chromedp.Evaluate[chromedp.Void](`fetch("/signout", {method: "POST"}).then(() => {})`, chromedp.EvalAwaitPromise))
	s.do(ctx, chromedp.WaitVisible(chromedp.ID("password")))
	if path, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); path != "/signin" {
		t.Errorf("after the session ended the page is at %s", path)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#panel").length`)); n != 0 {
		t.Error("the sign-in form is shown inside the station's panel")
	}
}
