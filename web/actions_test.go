package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

var (
	everyStatus = []domain.CardStatus{domain.CardNone, domain.CardNew, domain.CardAssigned, domain.CardActive,
		domain.CardDisabled, domain.CardSuspended, domain.CardRetired}
	everyRole = []domain.Role{domain.RoleViewer, domain.RoleOperator, domain.RoleAdmin}
)

// tableAllows is the action table read by hand, as its comments say:
// whether role may take a on a card in status coming in via. The API
// carries out a request, so it allows whatever action of the same request
// type leads to the same status from there.
func tableAllows(a domain.Action, status domain.CardStatus, to domain.CardStatus, role domain.Role, via domain.Via) bool {
	for _, b := range domain.Actions() {
		same := b.Name == a.Name || via == domain.ViaAPI && b.Type == a.Type && slices.Contains(b.To, to)
		if same && slices.Contains(b.From, status) && role >= b.Role && role >= domain.RoleOperator &&
			(via != domain.ViaStation || b.Station) {
			return true
		}
	}
	return false
}

// newCard imports one card in status and returns its uuid and serial.
func (e *env) newCard(status domain.CardStatus) (guid.GUID, string) {
	e.t.Helper()
	id, serial := guid.New(), "{"+guid.New().String()+"}"
	c := storage.Smartcard{Uuid: id, SerialNumber: serial, Status: status}
	if err := e.store.ImportCards(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, []storage.Smartcard{c}); err != nil {
		e.t.Fatal(err)
	}
	return id, serial
}

// cardEvents returns the card.status events of the card.
func (e *env) cardEvents(id guid.GUID) []storage.Event {
	var out []storage.Event
	for _, ev := range e.events() {
		if ev.Action == storage.ActionCardStatus && ev.CardUuid == id {
			out = append(out, ev)
		}
	}
	return out
}

// TestEveryWayFollowsTheActionTable walks every action, starting status
// and role, through the API (a request carried out), the page (the
// action's form) and the walk-up station (a card and a press), and checks
// that each allows and refuses exactly what the action table says: an
// allowed change makes the card's status the action's and leaves one
// audit event; a refused one leaves the card and the log as they were.
func TestEveryWayFollowsTheActionTable(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	ways := []domain.Via{domain.ViaAPI, domain.ViaPage}
	for _, a := range domain.Actions() {
		for _, status := range everyStatus {
			for _, role := range everyRole {
				for _, to := range a.To {
					for _, via := range ways {
						if via == domain.ViaPage && to != a.To[0] {
							continue // the page names no status
						}
						name := fmt.Sprintf("%s/%s/%s->%s/%s", via, a.Name, status, to, role)
						t.Run(name, func(t *testing.T) {
							id, serial := e.newCard(status)
							var code int
							switch via {
							case domain.ViaAPI:
								// An admin's request, carried out by role.
								req, err := e.store.CreateRequest(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin},
									storage.NewRequest{Type: a.Type})
								if err != nil {
									t.Fatal(err)
								}
								code = e.do(role, "PUT", api+"/requests/"+req.Uuid.String()+"/smartcards/"+id.String(),
									`{"status":"`+to.String()+`"}`).Code
							case domain.ViaPage:
								form := url.Values{"reason": {a.Reasons[0]}, "serial": {serial}}
								code = e.form(cookies[role], "POST", "/cards/"+id.String()+"/"+string(a.Name), form).Code
							}
							card, err := e.store.Card(id)
							if err != nil {
								t.Fatal(err)
							}
							events := e.cardEvents(id)
							want := to
							if a.Restore && via == domain.ViaPage {
								want = a.To[0] // a card made in a status has no earlier one: the first
							}
							if status == want && role >= domain.RoleOperator {
								// The card has that status already: nothing to do, and
								// nothing written, as setting it again is idempotent.
								if code >= 400 || card.Status != status || len(events) != 0 {
									t.Fatalf("no change: answer %d, card %s, %d events", code, card.Status, len(events))
								}
								return
							}
							if tableAllows(a, status, want, role, via) {
								if code >= 400 || card.Status != want || len(events) != 1 {
									t.Fatalf("allowed by the table: answer %d, card %s, %d events", code, card.Status, len(events))
								}
								return
							}
							if code < 400 || card.Status != status || len(events) != 0 {
								t.Fatalf("refused by the table: answer %d, card %s, %d events", code, card.Status, len(events))
							}
						})
					}
				}
			}
		}
	}
	for _, status := range everyStatus {
		t.Run(fmt.Sprintf("station/%s", status), func(t *testing.T) {
			id, serial := e.newCard(status)
			got := walkUp(t, e.store, serial)
			disable, _ := domain.LookupAction(domain.Disable)
			allowed := tableAllows(disable, status, domain.CardDisabled, domain.RoleOperator, domain.ViaStation)
			n := len(e.cardEvents(id))
			if allowed != (got == domain.CardDisabled && n == 1) || !allowed && (got != status || n != 0) {
				t.Fatalf("the table says %v; the station left the card %s with %d events", allowed, got, n)
			}
		})
	}
}

// walkUp inserts the card of that serial at a station on store, presses
// the button when the station asks for it (or waits until it has decided
// not to), and returns the card's status afterwards.
func walkUp(t *testing.T, store *storage.Store, serial string) domain.CardStatus {
	t.Helper()
	id := reader.Identity{Kind: reader.KindPIV, Serial: serial}
	reread := func(context.Context, string) reader.Event {
		return reader.Event{Kind: reader.Inserted, Reader: "r", Identity: id, ATR: []byte{0x3b}, Time: time.Now()}
	}
	p := panel.NewSimulated()
	stn := station.New(station.Config{Name: "table", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Reread: reread}, store, p)
	events := make(chan reader.Event, 2)
	events <- reader.Event{Kind: reader.ReaderAppeared, Reader: "r"}
	events <- reread(nil, "r")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- stn.Run(ctx, events, p.Presses()) }()
	defer func() { cancel(); <-done }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		switch stn.Status().State {
		case station.Confirm:
			p.Press()
		case station.Disabled, station.NothingToDo, station.UnknownCard, station.Error:
			card, err := store.CardBySerial(serial)
			if err != nil {
				t.Fatal(err)
			}
			return card.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("the station is %s", stn.Status().State)
		}
	}
}

// TestDisableThreeWaysOneShape: a disable over the API, on the page and at
// the station each leave one card.status event, with the same fields
// (the station's evidence besides).
func TestDisableThreeWaysOneShape(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	shapes := map[domain.Via][]string{}
	for _, via := range []domain.Via{domain.ViaAPI, domain.ViaPage, domain.ViaStation} {
		id, serial := e.newCard(domain.CardActive)
		switch via {
		case domain.ViaAPI:
			req := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+id.String()+`","datacollection":[{"Reason":"lost"}],"comment":"at the gym"}`)
			if rec := e.do(domain.RoleOperator, "PUT", api+"/requests/"+req+"/smartcards/"+id.String(), `{"status":"Disabled"}`); rec.Code != http.StatusOK {
				t.Fatalf("API: %d %s", rec.Code, rec.Body)
			}
		case domain.ViaPage:
			if rec := e.form(cookies[domain.RoleOperator], "POST", "/cards/"+id.String()+"/disable", url.Values{"reason": {"lost"}, "comment": {"at the gym"}}); rec.Code != http.StatusSeeOther {
				t.Fatalf("page: %d %s", rec.Code, rec.Body)
			}
		case domain.ViaStation:
			if got := walkUp(t, e.store, serial); got != domain.CardDisabled {
				t.Fatalf("station: %s", got)
			}
		}
		evs := e.cardEvents(id)
		if len(evs) != 1 {
			t.Fatalf("%s: %d card.status events, want 1", via, len(evs))
		}
		ev := evs[0]
		if ev.CardAction != domain.Disable || ev.Via != via || ev.RequestType != "Disable" || ev.OldStatus != "Active" ||
			ev.NewStatus != "Disabled" || ev.Reason == "" || ev.Comment == "" || ev.RequestUuid.IsNil() || ev.Format != storage.EventFormat {
			t.Fatalf("%s: event %+v", via, ev)
		}
		if (ev.Evidence != nil) != (via == domain.ViaStation) {
			t.Fatalf("%s: evidence %+v", via, ev.Evidence)
		}
		shapes[via] = fieldsSet(ev)
	}
	withoutEvidence := slices.DeleteFunc(slices.Clone(shapes[domain.ViaStation]), func(f string) bool { return f == "Evidence" })
	if !reflect.DeepEqual(shapes[domain.ViaAPI], shapes[domain.ViaPage]) || !reflect.DeepEqual(shapes[domain.ViaAPI], withoutEvidence) {
		t.Fatalf("the events' fields differ: %v", shapes)
	}
}

// fieldsSet names the event's fields that hold something, in order.
func fieldsSet(ev storage.Event) []string {
	var out []string
	v := reflect.ValueOf(ev)
	for i := range v.NumField() {
		if !v.Field(i).IsZero() {
			out = append(out, v.Type().Field(i).Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestReenableRestores: on the page, a card disabled while Suspended comes
// back Suspended and one disabled while Active comes back Active; over the
// API an admin gets the status asked for.
func TestReenableRestores(t *testing.T) {
	e := newEnv(t)
	cookies := e.people()
	for _, before := range []domain.CardStatus{domain.CardSuspended, domain.CardActive} {
		id, _ := e.newCard(before)
		for _, step := range []string{"disable", "enable"} {
			if rec := e.form(cookies[domain.RoleAdmin], "POST", "/cards/"+id.String()+"/"+step, url.Values{"reason": {"other"}}); rec.Code != http.StatusSeeOther {
				t.Fatalf("%s: %d %s", step, rec.Code, rec.Body)
			}
		}
		if card, _ := e.store.Card(id); card.Status != before {
			t.Fatalf("%s → Disabled → Re-enable gave %s", before, card.Status)
		}
	}
	for _, asked := range []domain.CardStatus{domain.CardSuspended, domain.CardActive} {
		id, _ := e.newCard(domain.CardDisabled)
		req := e.createRequest(domain.RoleAdmin, `{"type":"SuspendOrReinstate","smartcard":"`+id.String()+`","datacollection":[],"comment":""}`)
		if rec := e.do(domain.RoleAdmin, "PUT", api+"/requests/"+req+"/smartcards/"+id.String(), `{"status":"`+asked.String()+`"}`); rec.Code != http.StatusOK {
			t.Fatalf("API re-enable to %s: %d %s", asked, rec.Code, rec.Body)
		}
		if card, _ := e.store.Card(id); card.Status != asked {
			t.Fatalf("API re-enable to %s gave %s", asked, card.Status)
		}
	}
}
