package page

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if got != string(want) {
		_ = os.WriteFile(path+".actual", []byte(got), 0o644)
		t.Fatalf("%s differs from the golden file; see %s.actual", name, path)
	}
}

// testids counts the elements with each data-testid.
func testids(html string) map[string]int {
	out := map[string]int{}
	for _, m := range regexp.MustCompile(`data-testid="([^"]+)"`).FindAllStringSubmatch(html, -1) {
		out[m[1]]++
	}
	return out
}

var (
	cardID = guid.GUID{0x43, 0x8d, 0x1b, 0x30, 0xf3, 0xb4, 0x4b, 0xed, 0x85, 0xfa, 0x28, 0x5e, 0x08, 0x60, 0x5b, 0xa7}
	card   = SmartcardView{Uuid: cardID, Status: "Disabled", StatusNumber: 4, Flags: 1, SerialNumber: "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}",
		Middleware: "MSBaseCSP", Atr: "3b8d0180fba000000397425446590301c8", ProfileTemplateVersion: 46,
		PreviousStatus: "Active", StatusChanged: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC),
		StatusChangedBy: "user:ada", StatusReason: "stolen"}
	ada  = &Session{Name: "ada", Role: domain.RoleAdmin}
	oscr = &Session{Name: "oscar", Role: domain.RoleOperator}
)

func TestCardsPage(t *testing.T) {
	html := render(t, Cards(ada, CardsView{Query: "d1ef", Cards: []SmartcardView{card}, Total: 51, PageSize: 50}))
	golden(t, "cards.html", html)
	ids := testids(html)
	if ids["card-row"] != 1 || ids["search"] != 1 || ids["next-page"] != 1 || ids["nav-admin"] != 1 {
		t.Fatalf("test ids: %v", ids)
	}
	if ids := testids(render(t, Cards(oscr, CardsView{}))); ids["nav-admin"] != 0 || ids["cards"] != 0 {
		t.Fatalf("an operator's empty card list: %v", ids)
	}
}

func TestCardPage(t *testing.T) {
	page := EventView{Seq: 7, Time: card.StatusChanged, Actor: "user:ada", Source: "192.0.2.1", What: "Disabled on the page",
		Card: cardID, Change: "Active → Disabled", Reason: "stolen", Comment: "at the gym"}
	walkUp := EventView{Seq: 6, Time: card.StatusChanged.Add(-time.Hour), Actor: "station:lobby", Source: "Virtual PCD 00 00",
		What: "Disabled at station lobby", Card: cardID, Change: "Active → Disabled", Reason: "walk-up",
		Evidence:      "read on Virtual PCD 00 00, identifier {d1ef6869-5517-42a0-8f05-16ca1a0b834d}, ATR 3b80800101, inserted 08:59:45, pressed 08:59:51",
		ClockUnsynced: true}
	html := render(t, Card(ada, CardView{Card: card, Events: []EventView{page, walkUp}, Notice: "Done: Disable.",
		Actions: []Action{{Name: "enable", Label: "Re-enable"}, {Name: "retire", Label: "Retire", Danger: true}}}))
	golden(t, "card.html", html)
	ids := testids(html)
	if ids["history-row"] != 2 || ids["action-enable"] != 1 || ids["action-retire"] != 1 || ids["notice"] != 1 ||
		ids["evidence"] != 1 || ids["clock-unsynced"] != 1 || ids["reason"] != 2 || ids["comment"] != 1 {
		t.Fatalf("test ids: %v", ids)
	}
	for _, want := range []string{"Reason: stolen", "Comment: at the gym", "Disabled at station lobby", "pressed 08:59:51",
		"(clock not synchronised)", "<details", "; reason: stolen"} {
		if !strings.Contains(html, want) {
			t.Errorf("the card page does not say %q", want)
		}
	}
	// An API retire has no reason: nothing says "reason:" with nothing after it.
	retired := card
	retired.StatusReason = ""
	if html := render(t, Card(ada, CardView{Card: retired})); strings.Contains(html, "reason:") {
		t.Error("a change without a reason shows an empty reason")
	}

}

func TestStationPanel(t *testing.T) {
	st := StationView{State: "confirm", Headline: "Press the button to block this card", Tone: "wait",
		LEDs: LEDs{Green: "off", Amber: "fast", Red: "off"}, Message: "press", Running: true}
	sim := st
	sim.Simulated = true
	html := render(t, StationPanel(sim))
	for _, want := range []string{`class="led amber fast"`, `class="led green off"`, `data-testid="press"`, `id="panel"`} {
		if !bytes.Contains([]byte(html), []byte(want)) {
			t.Errorf("the panel lacks %s", want)
		}
	}
	if ids := testids(render(t, StationPanel(st))); ids["press"] != 0 || ids["panel-fault"] != 0 {
		t.Error("a real panel offers the simulated button, or says it failed")
	}
	waiting := st
	waiting.Outbox = "3 changes are waiting to reach the upstream (unreachable; the oldest for 5m0s)."
	html = render(t, StationPanel(waiting))
	golden(t, "station-panel-outbox.html", html)
	if ids := testids(html); ids["outbox-waiting"] != 1 {
		t.Errorf("the panel does not say that changes wait: %v", ids)
	}
	if ids := testids(render(t, StationPanel(StationView{Outbox: waiting.Outbox}))); ids["outbox-waiting"] != 1 {
		t.Error("a hub without a station does not say that changes wait")
	}
	st.Readers = []ReaderView{{Name: "Contact"}, {Name: "Contactless", Card: &ReaderCard{Kind: "uid", Serial: "04A224B2C35E80"}}}
	st.PanelFault = "GPIO line busy: GPIO23 (button)"
	html = render(t, StationPanel(st))
	if ids := testids(html); ids["reader"] != 2 || ids["panel-fault"] != 1 || !bytes.Contains([]byte(html), []byte("Contactless:")) || !bytes.Contains([]byte(html), []byte("GPIO23")) {
		t.Errorf("two readers and a failed panel: %s", html)
	}
}

// TestStationKiosk renders the station's own screen in the states a
// person meets most: asked to press, done, and out of order.
func TestStationKiosk(t *testing.T) {
	legend := []LegendRow{{LEDs: LEDs{Green: "on", Amber: "off", Red: "off"}, Meaning: "Ready: insert a card"},
		{LEDs: LEDs{Green: "off", Amber: "fast", Red: "off"}, Meaning: "Press the button to block the card"}}
	reader := []ReaderView{{Name: "Virtual PCD 00 00", Card: &ReaderCard{Kind: "piv", Serial: "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}"}}}
	inHand := &ReaderCard{Kind: "piv", Serial: "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}", Owner: "5c3e1f0a…", Status: "Active"}
	tests := []struct {
		name   string
		view   StationView
		ids    map[string]int
		absent []string
		text   []string
	}{
		{"kiosk-confirm.html", StationView{Running: true, Simulated: true, State: "confirm", Tone: "wait",
			Headline: "Press the button to block this card", Next: []string{"Press the button once, before the time is up."},
			Remaining: 7300 * time.Millisecond, LEDs: LEDs{Green: "off", Amber: "fast", Red: "off"}, Message: "press within 10s",
			Readers: reader, Card: inHand, Legend: legend},
			map[string]int{"station-state": 1, "countdown": 1, "station-card": 1, "legend": 1, "press": 1},
			[]string{"sign-out", "nav-admin"},
			[]string{`data-remaining-ms="7300"`, `<span class="st-secs">8 s</span>`, "5c3e1f0a…", `<td class="st-lamps">`, "amber fast blink"}},
		{"kiosk-disabled.html", StationView{Running: true, State: "disabled", Tone: "go", Headline: "Card blocked",
			Next: []string{"Take the card out. It no longer works.", "Blocked by mistake? Call the service desk: only an administrator can unblock it."},
			LEDs: LEDs{Green: "fast", Amber: "off", Red: "off"}, Message: "the card is disabled; take it out", Readers: reader,
			Card: &ReaderCard{Kind: "piv", Serial: inHand.Serial, Owner: inHand.Owner, Status: "Disabled"}, Legend: legend},
			map[string]int{"station-state": 1, "station-card-status": 1, "legend": 1}, []string{"countdown", "press"},
			[]string{"Card blocked", "only an administrator can unblock it"}},
		{"kiosk-no-reader.html", StationView{Running: true, State: "no-reader", Tone: "stop", Headline: "No card reader",
			Next: []string{"This station cannot read cards now. Call the service desk."}, LEDs: LEDs{Green: "off", Amber: "off", Red: "slow"},
			Message: "no card reader: check the reader and pcscd", Legend: legend, PanelFault: "GPIO line busy: GPIO23 (button)"},
			map[string]int{"station-state": 1, "panel-fault": 1, "legend": 1}, []string{"countdown", "station-card", "reader"},
			[]string{"· no reader", "GPIO23"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			html := render(t, StationKiosk(tt.view))
			golden(t, tt.name, html)
			ids := testids(html)
			for id, n := range tt.ids {
				if ids[id] != n {
					t.Errorf("%d elements with data-testid %q, want %d", ids[id], id, n)
				}
			}
			for _, id := range tt.absent {
				if ids[id] != 0 {
					t.Errorf("data-testid %q is there", id)
				}
			}
			for _, s := range tt.text {
				if !bytes.Contains([]byte(html), []byte(s)) {
					t.Errorf("the page does not say %q", s)
				}
			}
		})
	}
}

// TestPages renders every other page with what a handler gives it and
// checks the elements tests and people rely on, and the exact HTML.
func TestPages(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	req := RequestView{Type: "Disable", Status: "Executing", Card: cardID, Submitted: at, Comment: "lost"}
	ev := EventView{Seq: 9, Time: at, Actor: "token:sec", Source: "192.0.2.7", What: "Disabled over the API", Card: cardID,
		Change: "Active → Disabled", Comment: "lost"}
	retire := Action{Name: "retire", Label: "Retire", Danger: true, Reasons: []string{"expired", "destroyed"}, TypeSerial: true}
	tests := []struct {
		name   string
		page   templ.Component
		ids    map[string]int // data-testid counts that must match
		absent []string       // data-testids that must not be there
		text   []string       // what the page must say
	}{
		{"sign-in.html", SignIn("ada", "The name or the password is wrong.", false),
			map[string]int{"sign-in": 1, "error": 1}, []string{"sign-out", "nav-admin", "first-run"}, []string{"The name or the password is wrong."}},
		{"sign-in-first-run.html", SignIn("", "", true),
			map[string]int{"sign-in": 1, "first-run": 1}, []string{"error", "sign-out"},
			[]string{"No account exists yet.", "bin/cardstop user add --data-dir ./var NAME --role admin", "Stop the server"}},
		{"message.html", Message(oscr, "Not allowed", "Changing users needs the admin role."),
			map[string]int{"message": 1, "signed-in-as": 1}, []string{"nav-admin"}, []string{"Changing users needs the admin role."}},
		{"retire.html", ActionPage(ada, ActionView{Card: card, Action: retire, Reason: "expired", Error: "The serial you typed is not this card's."}),
			map[string]int{"reason": 1, "comment": 1, "confirm-serial": 1, "confirm": 1, "error": 1}, nil,
			[]string{"Retire this card", `<option value="expired" selected>`, "The serial you typed is not this card&#39;s."}},
		{"disable.html", ActionPage(oscr, ActionView{Card: card, Action: Action{Name: "disable", Label: "Disable", Reasons: []string{"lost", "stolen"}}}),
			map[string]int{"reason": 1, "comment": 1, "confirm": 1}, []string{"confirm-serial", "error"}, []string{"Disable this card"}},
		{"enable-refused.html", ActionPage(oscr, ActionView{Card: card, Action: Action{Name: "enable", Label: "Re-enable", Reasons: []string{"found"}},
			Error: "You cannot re-enable this card: it is Disabled and your role is operator.", Refused: true}),
			map[string]int{"error": 1, "back": 1}, []string{"confirm", "reason", "comment"}, []string{"your role is operator"}},
		{"requests.html", Requests(ada, []RequestView{req}),
			map[string]int{"requests": 1, "request-row": 1}, nil, []string{"/cards/" + cardID.String(), "Executing", "lost"}},
		{"audit.html", Audit(ada, AuditView{Actor: "token:sec", Events: []EventView{ev}, Older: 9, Actions: []string{"card.status"}}),
			map[string]int{"audit": 1, "audit-row": 1, "export": 1}, nil, []string{"Active → Disabled", "192.0.2.7", `rel="next"`, "Disabled over the API", "Comment: lost"}},
		{"tokens-created.html", Tokens(ada, TokensView{Tokens: []TokenView{{Name: "sec", Role: "operator", Created: at}}, NewName: "sec", NewSecret: "cst_secret-shown-once"}),
			map[string]int{"tokens": 1, "new-secret": 1, "create-token": 1}, []string{"error"}, []string{"cst_secret-shown-once", "shown only this once"}},
		{"tokens.html", Tokens(ada, TokensView{Tokens: []TokenView{{Name: "sec", Role: "operator", Created: at}}}),
			map[string]int{"tokens": 1, "create-token": 1}, []string{"new-secret"}, []string{"sec"}},
		{"tokens-none.html", Tokens(ada, TokensView{}),
			map[string]int{"no-tokens": 1, "create-token": 1}, []string{"tokens"}, []string{"No API token exists yet."}},
		{"users.html", Users(ada, UsersView{Users: []UserView{{Name: "oscar", Role: "operator", Created: at}, {Name: "ada", Role: "admin", Created: at}}, Added: "oscar"}),
			map[string]int{"users": 1}, []string{"error", "only-user"}, []string{"The user oscar was added.", "operator", `action="/admin/users/remove"`}},
		{"users-only-you.html", Users(ada, UsersView{Users: []UserView{{Name: "ada", Role: "admin", Created: at}}}),
			map[string]int{"users": 1, "only-user": 1}, []string{"error"}, []string{"You are the only user."}},
		{"confirm-revoke.html", Confirm(ada, ConfirmView{Title: "Revoke token sec?", Consequence: "Scripts using it stop working.",
			Action: "/admin/tokens/revoke", Name: "sec", Button: "Revoke", Cancel: "/admin/tokens"}),
			map[string]int{"consequence": 1, "confirm": 1, "cancel": 1}, nil,
			[]string{"<h1>Revoke token sec?</h1>", `<form method="post" action="/admin/tokens/revoke"`, `<input type="hidden" name="name" value="sec">`, `<a href="/admin/tokens" data-testid="cancel">Cancel</a>`}},
		{"stations.html", Stations(ada, StationsView{Since: at, Stations: []HubStationView{
			{Name: "lobby", Created: at, LastSeen: at.Add(time.Minute), LastChange: at.Add(time.Minute), LastCard: cardID},
			{Name: "annex", Created: at}}}),
			map[string]int{"stations": 1, "station-lobby": 1, "station-annex": 1}, []string{"no-stations"},
			[]string{`<th scope="row">lobby</th>`, "2026-11-29 10:01:00 UTC", `href="/cards/438d1b30-f3b4-4bed-85fa-285e08605ba7"`, "since the service started"}},
		{"stations-none.html", Stations(ada, StationsView{Since: at}),
			map[string]int{"no-stations": 1}, []string{"stations"}, []string{"No station token exists yet."}},
		{"outbox.html", Outbox(ada, OutboxView{Configured: true, Notice: "Change 11 to upstream is pending again.",
			Sinks: []SinkView{
				{Name: "upstream", State: "unreachable", Problem: "dial tcp 192.0.2.9:443: connection refused", Pending: 3, Parked: 1, OldestPending: 95*time.Second + 400*time.Millisecond},
				{Name: "webhook https://siem.example/hook", State: "ok"}},
			Parked: []ParkedView{{Sink: "upstream", Seq: 12, Card: cardID.String(), Serial: card.SerialNumber, From: "Disabled", To: "Active",
				Committed: at, Problem: "403: a station may only disable cards"}}}),
			map[string]int{"sinks": 1, "sink": 2, "parked": 1, "parked-row": 1, "notice": 1}, []string{"no-sinks", "no-parked", "error", "more-parked"},
			[]string{`<th scope="row" class="wrap">upstream</th>`, "1m35s", `aria-label="Retry change 12 to upstream"`, `aria-label="Drop change 12 to upstream"`,
				`action="/admin/outbox/retry"`, `action="/admin/outbox/drop"`, `<input type="hidden" name="seq" value="12">`,
				`href="/cards/438d1b30-f3b4-4bed-85fa-285e08605ba7"`, "Disabled → Active", "403: a station may only disable cards",
				`<a href="/admin/outbox" aria-current="page">Outbox</a>`}},
		{"outbox-off.html", Outbox(ada, OutboxView{Sinks: []SinkView{{Name: "upstream", State: "off", Pending: 2, OldestPending: time.Hour}}}),
			map[string]int{"no-sinks": 1, "sinks": 1, "sink": 1, "no-parked": 1}, []string{"parked", "notice", "error"},
			[]string{"No upstream or webhook is configured; changes stay in this station's database.", "1h0m0s", "No change is parked."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			html := render(t, tt.page)
			golden(t, tt.name, html)
			ids := testids(html)
			for id, n := range tt.ids {
				if ids[id] != n {
					t.Errorf("%d elements with data-testid %q, want %d", ids[id], id, n)
				}
			}
			for _, id := range tt.absent {
				if ids[id] != 0 {
					t.Errorf("data-testid %q is there", id)
				}
			}
			for _, s := range tt.text {
				if !bytes.Contains([]byte(html), []byte(s)) {
					t.Errorf("the page does not say %q", s)
				}
			}
			if bytes.Contains([]byte(html), []byte("$argon2id")) {
				t.Error("the page shows a password hash")
			}
		})
	}
}
