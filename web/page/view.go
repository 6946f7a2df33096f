// Package page holds the templ components of Cardstop's pages. The
// components only render what the handlers in package web give them.
package page

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Session is who is signed in, for the layout.
type Session struct {
	Name string
	Role domain.Role
}

// Admin reports whether the user may use the admin pages.
func (s Session) Admin() bool { return s.Role >= domain.RoleAdmin }

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

// CardsView is the card search page.
type CardsView struct {
	Query    string
	Status   string // a status name, or ""
	Cards    []storage.Smartcard
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
	Card     storage.Smartcard
	Actions  []Action
	Events   []storage.Event
	Requests []storage.Request
	Notice   string // what was just done
}

// ActionView is the confirmation page of an action.
type ActionView struct {
	Card    storage.Smartcard
	Action  Action
	Reason  string
	Comment string
	Error   string
}

// AuditView is the audit log page.
type AuditView struct {
	Action, Actor, Card string
	Events              []storage.Event
	Older               uint64 // the Before of the next page, 0 when none
	Actions             []storage.Action
}

// TokensView is the API token admin page.
type TokensView struct {
	Tokens    []storage.Token
	NewName   string
	NewSecret string // shown once, right after creation
	Error     string
}

// UsersView is the user admin page.
type UsersView struct {
	Users []storage.User
	Error string
	Added string
}

// StationView is the station panel.
type StationView struct {
	Status     station.Status
	Simulated  bool
	Running    bool
	PanelFault string // what is wrong with the LEDs and button; "" when nothing is
}

// when prints a time for people, in UTC as the audit records it.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func id(g guid.GUID) string {
	if g.IsNil() {
		return "—"
	}
	return g.String()
}

func itoa(n int) string { return strconv.Itoa(n) }

// badge is the CSS class of a card status.
func badge(s domain.CardStatus) string { return "badge status-" + lower(s.String()) }

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
