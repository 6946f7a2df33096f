package web

import (
	"cmp"
	"strings"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/page"
)

// The pages' view models, built from the records and the station's
// status: the templates in web/page see nothing else.

func smartcardView(c storage.Smartcard) page.SmartcardView {
	return page.SmartcardView{
		Uuid:                   c.Uuid,
		SerialNumber:           c.SerialNumber,
		Status:                 c.Status.String(),
		StatusNumber:           int(c.Status),
		AssignedUserUuid:       c.AssignedUserUuid,
		ProfileTemplateUuid:    c.ProfileTemplateUuid,
		ProfileTemplateVersion: c.ProfileTemplateVersion,
		ParentSmartcardUuid:    c.ParentSmartcardUuid,
		PrimarySmartcardUuid:   c.PrimarySmartcardUuid,
		PermanentSmartcardUuid: c.PermanentSmartcardUuid,
		Flags:                  c.Flags,
		Middleware:             c.Middleware,
		Atr:                    c.Atr,
		Comment:                c.Comment,
		StatusChanged:          c.StatusChanged,
		StatusChangedBy:        c.StatusChangedBy,
		PreviousStatus:         c.PreviousStatus.String(),
		StatusReason:           c.StatusReason,
	}
}

func requestView(r storage.Request) page.RequestView {
	return page.RequestView{Submitted: r.Submitted, Type: r.RequestType.String(), Status: r.Status.String(),
		Card: r.NewSmartcardUuid, Originator: r.Originator, Comment: r.Comment}
}

// actionWords are the past tenses of the card actions, for the history.
var actionWords = map[domain.ActionName]string{domain.Disable: "Disabled", domain.Suspend: "Suspended",
	domain.Reinstate: "Reinstated", domain.Enable: "Re-enabled", domain.Activate: "Activated", domain.Retire: "Retired"}

// eventWords are the other actions in words; an action of a later
// version, not in here, shows as its key rather than not at all.
var eventWords = map[storage.Action]string{storage.ActionCardImport: "Imported",
	storage.ActionCardUpstream: "Taken from the upstream", storage.ActionRequestCreate: "Request created",
	storage.ActionRequestStatus: "Request moved on", storage.ActionTokenCreate: "API token created",
	storage.ActionTokenRevoke: "API token revoked", storage.ActionOutboxPark: "Change parked (a sink refused it)",
	storage.ActionOutboxRetry: "Parked change sent again", storage.ActionOutboxDrop: "Parked change given up",
	storage.ActionUserAdd: "User added", storage.ActionUserPassword: "Password changed", storage.ActionUserRemove: "User removed",
	storage.ActionSignIn: "Signed in", storage.ActionSignInFail: "Sign-in failed", storage.ActionSignOut: "Signed out"}

// eventView shows an event of either format in words. What a format 2
// event names in fields of its own (the card action and the way in, a
// request's type, a credential's name) goes into What; a format 1 event's
// action is read from its change of status.
func eventView(e storage.Event) page.EventView {
	v := page.EventView{Seq: e.Seq, Time: e.Time, What: cmp.Or(eventWords[e.Action], string(e.Action)), Actor: e.Actor,
		Source: e.Source, Card: e.CardUuid, Change: change(e.OldStatus, e.NewStatus), Reason: e.Reason, Comment: e.Comment,
		ClockUnsynced: e.ClockUnsynced}
	switch e.Action {
	case storage.ActionCardStatus:
		v.What = cardActionWords(e) + via(e)
	case storage.ActionCardStatusUnchanged:
		a, _ := domain.LookupAction(e.CardAction)
		v.What = cmp.Or(a.Label, "Change") + " asked" + via(e) + ": nothing changed, the card was already " + e.NewStatus
		v.Change = e.NewStatus + " (unchanged)"
	case storage.ActionRequestCreate:
		if e.RequestType != "" {
			v.What = e.RequestType + " request created"
		}
	case storage.ActionRequestStatus:
		v.What = "Request set to " + e.NewStatus
		if e.StatusWord != "" {
			v.What += " (asked as “" + e.StatusWord + "”)"
		}
	case storage.ActionTokenCreate, storage.ActionUserAdd:
		v.Change = change("", e.Role)
	case storage.ActionTokenRevoke, storage.ActionUserRemove:
		v.Change = change(e.Role, "")
	}
	if e.Name != "" {
		v.What += ": " + e.Name
	}
	if ev := e.Evidence; ev != nil {
		v.Evidence = evidenceWords(*ev)
	}
	return v
}

// cardActionWords says what a card.status event did: its action's past
// tense, or for a format 1 event the action its change of status is.
func cardActionWords(e storage.Event) string {
	if w, ok := actionWords[e.CardAction]; ok {
		return w
	}
	from, err1 := domain.ParseCardStatus(e.OldStatus)
	to, err2 := domain.ParseCardStatus(e.NewStatus)
	if a, ok := domain.Edge(from, to); ok && err1 == nil && err2 == nil {
		return actionWords[a.Name]
	}
	return "Status changed"
}

// via says which way a change came in, in words; "" for format 1 events,
// which do not record it.
func via(e storage.Event) string {
	switch e.Via {
	case domain.ViaStation:
		name := strings.TrimPrefix(e.Actor, "station:")
		if e.Evidence != nil && e.Evidence.Station != "" {
			name = e.Evidence.Station // a hub records its station's walk-up disable
		}
		return " at station " + name
	case domain.ViaPage:
		return " on the page"
	case domain.ViaAPI:
		return " over the API"
	}
	return ""
}

// change is a change of status in words; "" when there is none.
func change(from, to string) string {
	switch {
	case from == "" && to == "":
		return ""
	case from == "":
		return to
	case to == "":
		return from + " → none"
	}
	return from + " → " + to
}

// evidenceWords is what the walk-up station read and when, in the order
// it happened; times are UTC, as the audit's.
func evidenceWords(ev domain.Evidence) string {
	var parts []string
	add := func(label, v string) {
		if v != "" {
			parts = append(parts, label+v)
		}
	}
	clock := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("15:04:05")
	}
	add("read on ", ev.Reader)
	add("identifier ", ev.Identifier)
	add("ATR ", ev.Atr)
	add("inserted ", clock(ev.InsertedAt))
	add("pressed ", clock(ev.PressedAt))
	add("committed at the station ", clock(ev.Committed))
	return strings.Join(parts, ", ")
}

func tokenView(t storage.Token) page.TokenView {
	return page.TokenView{Name: t.Name, Role: t.Role.String(), Created: t.Created}
}

func userView(u storage.User) page.UserView {
	return page.UserView{Name: u.Name, Role: u.Role.String(), Created: u.Created}
}

// views converts a list of records; nil stays nil.
func views[R, V any](records []R, view func(R) V) []V {
	if records == nil {
		return nil
	}
	out := make([]V, len(records))
	for i, r := range records {
		out[i] = view(r)
	}
	return out
}
