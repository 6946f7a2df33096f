//go:build cgo

package station_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/reader/pcsc"
	"github.com/cardstop/cardstop/device/reader/pcsc/pcscdtest"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

func waitState(t *testing.T, s *station.Station, want station.State) station.Status {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := s.Status()
		if st.State == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("station is %s (%s); want %s", st.State, st.Message, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitEmpty waits until pcscd has no card in the reader and the station
// has seen every card it was told of go: as many removals as insertions
// (a card pulled while being read is one "pulled"), at least one event
// when pcscd was seen holding a card, and the reader empty.
func waitEmpty(t *testing.T, s *station.Station, name string) {
	t.Helper()
	hadCard := false
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		present := pcscdtest.CardPresent(t, name)
		hadCard = hadCard || present
		n := s.EventCounts()
		st := s.Status()
		empty := false
		for _, r := range st.Readers {
			empty = empty || r.Name == name && r.Card == nil
		}
		if !present && empty && n["inserted"] == n["removed"] && (!hadCard || n["inserted"]+n["pulled"] > 0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pcscd holds a card: %v; the station is %s with readers %+v after the events %v", present, st.State, st.Readers, n)
		}
	}
}

// blinks reports whether a pin changes level within a second.
func blinks(p *gpiotest.Pin) bool {
	first := p.Read()
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if p.Read() != first {
			return true
		}
	}
	return false
}

// TestEndToEnd runs the station as on the appliance, with real pcscd, the
// virtual card, periph's test pins and a real bbolt file.
func TestEndToEnd(t *testing.T) {
	pcscdtest.Require(t)
	store, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	active, disabled := guid.New(), guid.New()
	activeID := guid.New()
	cards := []storage.Smartcard{
		{Uuid: activeID, SerialNumber: "{" + active.String() + "}", Status: domain.CardActive},
		{Uuid: guid.New(), SerialNumber: "{" + disabled.String() + "}", Status: domain.CardDisabled},
	}
	if err := store.ImportCards(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, cards); err != nil {
		t.Fatal(err)
	}

	green, amber, red := &gpiotest.Pin{N: "GPIO17"}, &gpiotest.Pin{N: "GPIO27"}, &gpiotest.Pin{N: "GPIO22"}
	button := &gpiotest.Pin{N: "GPIO23", EdgesChan: make(chan gpio.Level, 4)}
	pnl, err := panel.NewGPIO(green, amber, red, button, panel.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stn, stop := runStation(t, "e2e", store, pnl)
	defer func() {
		stop()
		if err := pnl.Halt(); err != nil {
			t.Error(err)
		}
		if green.Read() == gpio.High || amber.Read() == gpio.High || red.Read() == gpio.High {
			t.Error("LEDs still lit after Halt")
		}
	}()
	waitState(t, stn, station.Ready)
	waitEmpty(t, stn, pcscdtest.Reader0) // let pcscd report a card an earlier test left, then its removal
	waitState(t, stn, station.Ready)
	if green.Read() != gpio.High || amber.Read() == gpio.High || red.Read() == gpio.High {
		t.Fatalf("ready: LEDs %v %v %v, want green only", green.Read(), amber.Read(), red.Read())
	}
	events0, _ := store.Events(0, 0)

	// A known, active card: confirm, press, disabled.
	in, err := vcard.Insert(context.Background(), pcscdtest.Addr0, &vcard.PIV{GUID: active})
	if err != nil {
		t.Fatal(err)
	}
	st := waitState(t, stn, station.Confirm)
	if st.Card == nil || st.Card.Uuid == nil || *st.Card.Uuid != activeID || !blinks(amber) {
		t.Fatalf("confirm: %+v, amber blinking: %v", st, blinks(amber))
	}
	button.EdgesChan <- gpio.Low
	waitState(t, stn, station.Disabled)
	button.EdgesChan <- gpio.High
	card, err := store.Card(activeID)
	if err != nil || card.Status != domain.CardDisabled {
		t.Fatalf("card after the press: %v %v", card.Status, err)
	}
	evs, _ := store.Events(uint64(len(events0)), 0)
	if len(evs) != 1 || evs[0].Evidence == nil {
		t.Fatalf("want one audit event with evidence, got %+v", evs)
	}
	ev := evs[0].Evidence
	if evs[0].Actor != "station:e2e" || ev.Reader != pcscdtest.Reader0 || ev.Atr != "3b80800101" ||
		ev.Identifier != "{"+active.String()+"}" || ev.IdentityKind != "piv" || ev.PressedAt.Before(ev.InsertedAt) {
		t.Fatalf("audit event %+v with evidence %+v", evs[0], ev)
	}
	req, err := store.Request(evs[0].RequestUuid)
	if err != nil || req.RequestType != domain.TypeDisable || req.Status != domain.RequestCompleted || req.NewSmartcardUuid != activeID {
		t.Fatalf("request %+v, %v", req, err)
	}
	in.Remove()
	waitState(t, stn, station.Ready)

	// An unknown card: red, nothing written.
	in, err = vcard.Insert(context.Background(), pcscdtest.Addr0, vcard.ATROnly{})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, stn, station.UnknownCard)
	if !blinks(red) || green.Read() == gpio.High {
		t.Fatal("unknown card: red is not blinking, or green is lit")
	}
	button.EdgesChan <- gpio.Low
	button.EdgesChan <- gpio.High
	in.Remove()
	waitState(t, stn, station.Ready)

	// An already disabled card: nothing to do.
	in, err = vcard.Insert(context.Background(), pcscdtest.Addr0, &vcard.PIV{GUID: disabled})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, stn, station.NothingToDo)
	in.Remove()
	waitState(t, stn, station.Ready)

	if after, _ := store.Events(0, 0); len(after) != len(events0)+1 {
		t.Fatalf("%d audit events were written; want exactly 1", len(after)-len(events0))
	}
	if err := store.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSwapThroughPcscd: card A is found, then taken out and card B put in
// at once, and the button pressed at once, five times over: however the
// events and the press interleave, A is never disabled.
func TestSwapThroughPcscd(t *testing.T) {
	pcscdtest.Require(t)
	store, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	const rounds = 5
	var as, bs []guid.GUID
	var cards []storage.Smartcard
	for range 2 * rounds {
		g := guid.New()
		cards = append(cards, storage.Smartcard{Uuid: guid.New(), SerialNumber: "{" + g.String() + "}", Status: domain.CardActive})
		if len(as) < rounds {
			as = append(as, g)
		} else {
			bs = append(bs, g)
		}
	}
	if err := store.ImportCards(context.Background(), domain.Origin{Actor: "test", Role: domain.RoleAdmin}, cards); err != nil {
		t.Fatal(err)
	}
	pnl := panel.NewSimulated()
	stn, stop := runStation(t, "swap", store, pnl)
	defer stop()
	ctx := context.Background()
	waitState(t, stn, station.Ready)
	for i := range rounds {
		a, err := vcard.Insert(ctx, pcscdtest.Addr0, &vcard.PIV{GUID: as[i]})
		if err != nil {
			t.Fatal(err)
		}
		waitState(t, stn, station.Confirm)
		a.Remove()
		b, err := vcard.Insert(ctx, pcscdtest.Addr0, &vcard.PIV{GUID: bs[i]})
		if err != nil {
			t.Fatal(err)
		}
		pnl.Press()
		// The press may find A being read away (an error: take it out and
		// try again) or B in its place (shown, not disabled: the press came
		// before B's window opened); pcscd may never report the swap.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st := stn.Status()
			if st.State == station.Error || st.State == station.Confirm && st.Card.Serial == "{"+bs[i].String()+"}" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the station is %s showing %+v; want an error, or card B to confirm", i, st.State, st.Card)
			}
		}
		for _, g := range []guid.GUID{as[i], bs[i]} {
			if c, err := store.CardBySerial("{" + g.String() + "}"); err != nil || c.Status != domain.CardActive {
				t.Fatalf("round %d: card %s is %v (%v) after a press during a swap", i, g, c.Status, err)
			}
		}
		b.Remove()
		waitState(t, stn, station.Ready)
	}
}

// runStation runs a station called name on store and pnl, watching vpcd's
// first reader through pcscd and reading a card again at the press as
// serve does; stop ends it.
func runStation(t *testing.T, name string, store *storage.Store, pnl interface {
	station.Lights
	Presses() <-chan time.Time
}) (*station.Station, func()) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	events, err := pcsc.Watch(ctx, pcsc.Options{Readers: []string{pcscdtest.Reader0}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	reread := func(ctx context.Context, name string) reader.Event { return pcsc.Identify(ctx, name, 3*time.Second) }
	stn := station.New(station.Config{Name: name, Logger: quiet, Reread: reread}, store, pnl)
	done := make(chan error)
	go func() { done <- stn.Run(ctx, events, pnl.Presses()) }()
	return stn, func() { cancel(); <-done }
}
