// Package page holds the templ components of Cardstop's pages. The
// components only render the view models of this file, which the handlers
// in package web build from the records and the station's status: no
// template sees a storage record or a device type.
package page

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Session is who is signed in, for the layout.
type Session struct {
	Name string
	Role domain.Role
}

// Admin reports whether the user may use the admin pages.
func (s Session) Admin() bool { return s.Role.Includes(domain.RoleAdmin) }

// Nav names the section a page belongs to, for the menu.
type Nav string

// The sections of the menu.
const (
	NavCards    Nav = "cards"
	NavRequests Nav = "requests"
	NavAudit    Nav = "audit"
	NavStation  Nav = "station"
	NavAdmin    Nav = "admin"
)

// SmartcardView is a card as the pages show it.
type SmartcardView struct {
	Uuid                   guid.GUID
	SerialNumber           string
	Status                 string // the status's name
	StatusNumber           int    // MIM CM's number of the status
	AssignedUserUuid       guid.GUID
	ProfileTemplateUuid    guid.GUID
	ProfileTemplateVersion int
	ParentSmartcardUuid    guid.GUID
	PrimarySmartcardUuid   guid.GUID
	PermanentSmartcardUuid guid.GUID
	Flags                  int
	Middleware             string
	Atr                    string
	Comment                string
	// The last status change; StatusChanged is zero when there was none.
	StatusChanged   time.Time
	StatusChangedBy string
	PreviousStatus  string
	StatusReason    string
}

// RequestView is a request as the pages list it.
type RequestView struct {
	Submitted  time.Time
	Type       string
	Status     string
	Card       guid.GUID // the card it is about; nil when none
	Originator string
	Comment    string
}

// EventView is an event of the audit log as the pages list it, in words:
// no internal action key reaches a person.
type EventView struct {
	Seq           uint64
	Time          time.Time
	What          string // "Disabled at station lobby", "Request created (Disable)"
	Actor, Source string
	Card          guid.GUID // nil when the event is about no card
	Change        string    // "Active → Disabled"; "" when no status is involved
	Reason        string    // "" when none
	Comment       string    // "" when none
	// Evidence is what the walk-up station read and when ("read on …,
	// inserted 16:47:45, pressed 16:47:51"); "" for other events.
	Evidence string
	// ClockUnsynced: the event's time may be off, the clock was not
	// synchronised when it was written.
	ClockUnsynced bool
}

// TokenView is an API token as the admin page lists it; never its secret.
type TokenView struct {
	Name    string
	Role    string
	Created time.Time
}

// UserView is a user as the admin page lists it; never the password.
type UserView struct {
	Name    string
	Role    string
	Created time.Time
}

// CardsView is the card search page.
type CardsView struct {
	Query    string
	Status   string // a status name, or ""
	Cards    []SmartcardView
	Total    int
	Offset   int
	PageSize int
}

// Action is one thing a person may do to a card from its page.
type Action struct {
	Name    string // "disable", "suspend", "reinstate", "enable", "retire"
	Label   string
	Danger  bool
	Reasons []string
	// TypeSerial asks the person to type the card's serial to confirm.
	TypeSerial bool
}

// CardView is a card's page.
type CardView struct {
	Card     SmartcardView
	Actions  []Action
	Events   []EventView
	Requests []RequestView
	Notice   string // what was just done
	// Unchanged: the action just taken changed nothing (Notice says why),
	// which is shown as a warning, not as success.
	Unchanged bool
}

// ActionView is the confirmation page of an action.
type ActionView struct {
	Card    SmartcardView
	Action  Action
	Reason  string
	Comment string
	Error   string
	// Refused: the person may not take the action on the card as it is
	// (Error says why), so the page offers no form to try it.
	Refused bool
}

// AuditView is the audit log page.
type AuditView struct {
	Action, Actor, Card string
	Events              []EventView
	Older               uint64   // the Before of the next page, 0 when none
	Actions             []string // the actions to filter by
}

// TokensView is the API token admin page.
type TokensView struct {
	Tokens    []TokenView
	NewName   string
	NewSecret string // shown once, right after creation
	Error     string
}

// UsersView is the user admin page.
type UsersView struct {
	Users []UserView
	Error string
	Added string
}

// ConfirmView is a question before a change to a named token or user.
type ConfirmView struct {
	Title       string // the question, like "Revoke token ci?"
	Consequence string // what happens, in a sentence
	Action      string // where the form posts, with Name as "name"
	Name        string
	Button      string // the change's verb, like "Revoke"
	Cancel      string // where Cancel goes: the list the question came from
}

// StationsView is the hub's list of its stations.
type StationsView struct {
	Since    time.Time // when the service started: the activity is counted from then
	Stations []HubStationView
}

// HubStationView is one station token and what the hub saw it do; the
// times are zero when it did nothing since Since.
type HubStationView struct {
	Name       string
	Created    time.Time
	LastSeen   time.Time // its last authenticated API call
	LastChange time.Time // its last card status change
	LastCard   guid.GUID // the card of that change
}

// OutboxView is the outbox's admin page.
type OutboxView struct {
	Configured bool // an upstream or a webhook is configured
	Sinks      []SinkView
	Parked     []ParkedView // the first ones of each sink
	MoreParked bool         // more are parked than Parked shows
	Notice     string       // what was just done
	Error      string
}

// SinkView is how one sink's delivery goes.
type SinkView struct {
	Name          string // "upstream", or "webhook <URL>"
	State         string // "ok", "unreachable", "unauthorized" or "off"
	Problem       string // the last failure; "" after a success
	Pending       int
	Parked        int
	OldestPending time.Duration // how long the oldest pending change has waited; 0: none waits
}

// ParkedView is a change a sink refused for good.
type ParkedView struct {
	Sink      string
	Seq       uint64
	Card      string // the card's uuid
	Serial    string
	From, To  string
	Committed time.Time
	Problem   string
}

// StationView is the station panel: what the walk-up station shows now.
type StationView struct {
	Running    bool   // false: this server runs no station, and nothing below is set
	Simulated  bool   // the panel is simulated: the page offers its button
	PanelFault string // what is wrong with the LEDs and button; "" when nothing is
	State      string
	LEDs       LEDs
	// Headline says what the state means, for the person at the station.
	Headline string
	// Tone colours the headline: "go", "wait", "stop".
	Tone string
	// Next are what to do now, one sentence each.
	Next []string
	// Remaining is what is left of the confirm window at rendering; 0:
	// no window runs. The page counts down from it with its own clock,
	// so a skewed clock in the browser does not matter.
	Remaining time.Duration
	Message   string       // the station's own words, for whoever debugs it
	Readers   []ReaderView // every reader, by name
	Card      *ReaderCard  // the card being handled; nil without one
	// Legend says what each LED signal means; it does not change.
	Legend []LegendRow
	// Outbox says that changes made here have not reached a sink yet, and
	// why; "" when none waits or nothing forwards. Also shown without a
	// station: a hub forwards to webhooks too.
	Outbox string
}

// LEDs are the panel's LEDs, each with its pattern ("off", "on", "slow", "fast").
type LEDs struct {
	Green, Amber, Red string
}

// ReaderView is one reader and the card in it.
type ReaderView struct {
	Name string
	Card *ReaderCard // nil when empty
}

// ReaderCard is what the station page shows of a card in a reader.
type ReaderCard struct {
	Kind   string // how the card was identified: "piv", "fascn", "uid", "unknown"
	Serial string
	// Owner is the card's assigned user, shortened (the record holds only
	// an id); "" when the card has no record or no user.
	Owner string
	// Status is the record's status in words; "" without a record.
	Status string
}

// LegendRow is one LED signal and what it means.
type LegendRow struct {
	LEDs    LEDs
	Meaning string
}

// when prints a time for people, in UTC as the audit records it.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// lastChange is a card's last status change in words; an empty reason
// (an API change says none) is left out rather than shown empty.
func lastChange(c SmartcardView) string {
	if c.StatusChanged.IsZero() {
		return "None recorded"
	}
	s := c.PreviousStatus + " → " + c.Status + ", " + when(c.StatusChanged) + " by " + c.StatusChangedBy
	if c.StatusReason != "" {
		s += "; reason: " + c.StatusReason
	}
	return s
}

func id(g guid.GUID) string {
	if g.IsNil() {
		return "—"
	}
	return g.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// count says how many, with the noun in the singular for one.
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func utoa(n uint64) string { return strconv.FormatUint(n, 10) }

// age is how long something waited, to the second.
func age(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return d.Round(time.Second).String()
}

// badge is the CSS class of a card status.
func badge(status string) string { return "badge status-" + lower(status) }

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func cardURL(g guid.GUID) string { return "/cards/" + g.String() }

func pageURL(v CardsView, offset int) string {
	return fmt.Sprintf("/cards?q=%s&status=%s&offset=%d", url.QueryEscape(v.Query), url.QueryEscape(v.Status), offset)
}

func statusNames() []string {
	out := []string{}
	for s := domain.CardNone; s <= domain.CardRetired; s++ {
		out = append(out, s.String())
	}
	return out
}

func auditQuery(v AuditView) string {
	return "action=" + url.QueryEscape(v.Action) + "&actor=" + url.QueryEscape(v.Actor) + "&card=" + url.QueryEscape(v.Card)
}

func auditExportURL(v AuditView) string { return "/audit.jsonl?" + auditQuery(v) }

func auditOlderURL(v AuditView) string {
	return "/audit?" + auditQuery(v) + "&before=" + strconv.FormatUint(v.Older, 10)
}
