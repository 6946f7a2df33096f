//go:build cgo

package pcsc_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ebfe/scard"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/reader/pcsc"
	"github.com/cardstop/cardstop/device/reader/pcsc/pcscdtest"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// eventWait bounds every wait for an event: pcscd polls readers every
// 400 ms, and emulated builds are slower still.
const eventWait = 3 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// watch starts a watcher on the reader matching name and waits until it
// reports that reader.
func watch(t *testing.T, name string) <-chan reader.Event {
	t.Helper()
	return watchWith(t, pcsc.Options{Readers: []string{name}})
}

// watchWith is watch with more options.
func watchWith(t *testing.T, opt pcsc.Options) <-chan reader.Event {
	t.Helper()
	pcscdtest.Require(t)
	ctx, cancel := context.WithCancel(context.Background())
	opt.Logger, opt.Backoff = quiet, 100*time.Millisecond
	events, err := pcsc.Watch(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		for range events { // the channel must close once ctx ends
		}
	})
	expect(t, events, reader.ReaderAppeared) // more readers may follow while settling
	// pcscd may still report a card of an earlier test for up to one poll
	// after its removal: let such events pass.
	for quiet := time.After(600 * time.Millisecond); ; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("the watcher stopped")
			}
			if e.Kind != reader.Inserted && e.Kind != reader.Pulled && e.Kind != reader.Removed && e.Kind != reader.ReaderAppeared {
				t.Fatalf("unexpected %s event while settling", e.Kind)
			}
		case <-quiet:
			return events
		}
	}
}

// expect returns the next event, which must be of the given kind.
func expect(t *testing.T, events <-chan reader.Event, kind reader.EventKind) reader.Event {
	t.Helper()
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatalf("the watcher stopped; want %s", kind)
		}
		if e.Kind != kind {
			t.Fatalf("got %s event %+v; want %s", e.Kind, e, kind)
		}
		return e
	case <-time.After(eventWait):
		t.Fatalf("no %s event within %s", kind, eventWait)
	}
	panic("unreachable")
}

func insert(t *testing.T, addr string, card vcard.Card) *vcard.Inserted {
	t.Helper()
	in, err := vcard.Insert(context.Background(), addr, card)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Remove)
	return in
}

func TestIdentities(t *testing.T) {
	g := guid.New()
	tests := []struct {
		name string
		card vcard.Card
		want reader.Identity
		atr  string
	}{
		{"piv", &vcard.PIV{GUID: g}, reader.Identity{Kind: reader.KindPIV, Serial: "{" + g.String() + "}"}, "3B80800101"},
		{"contactless", &vcard.Contactless{UID: []byte{0x04, 0xA2, 0x24, 0xB2, 0xC3, 0x5E, 0x80}}, reader.Identity{Kind: reader.KindUID, Serial: "04A224B2C35E80"}, "3B8F8001804F0CA000000306030001000000006A"},
		{"unknown", vcard.ATROnly{}, reader.Identity{Kind: reader.KindUnknown, Reason: reader.ReasonNoIdentifier}, "3B80800101"},
	}
	events := watch(t, pcscdtest.Reader0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := insert(t, pcscdtest.Addr0, tt.card)
			e := expect(t, events, reader.Inserted)
			if e.Identity != tt.want || e.Reader != pcscdtest.Reader0 || !strings.EqualFold(hexString(e.ATR), tt.atr) {
				t.Fatalf("inserted %+v; want identity %+v, ATR %s", e, tt.want, tt.atr)
			}
			in.Remove()
			expect(t, events, reader.Removed)
		})
	}
}

func hexString(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// pullingCard is a PIV card that is pulled out when asked for its CHUID.
type pullingCard struct{ vcard.PIV }

func (c *pullingCard) Process(apdu []byte) []byte {
	if len(apdu) > 1 && apdu[1] == 0xCB {
		return nil
	}
	return c.PIV.Process(apdu)
}

func TestCardPulledMidRead(t *testing.T) {
	events := watch(t, pcscdtest.Reader0)
	insert(t, pcscdtest.Addr0, &pullingCard{vcard.PIV{GUID: guid.New()}})
	e := expect(t, events, reader.Pulled)
	if e.Identity != (reader.Identity{}) {
		t.Fatalf("a pulled card has an identity: %+v", e)
	}
	expect(t, events, reader.Removed)
	// The reader is fine afterwards.
	g := guid.New()
	insert(t, pcscdtest.Addr0, &vcard.PIV{GUID: g})
	if e := expect(t, events, reader.Inserted); e.Identity.Serial != "{"+g.String()+"}" {
		t.Fatalf("after a pulled card: %+v", e)
	}
}

// TestMuteCard: a card that never answers a command is reported
// unreadable after ReadTimeout instead of stalling the reader; its
// removal is seen, the reader works afterwards, and the read that was
// given up on leaves nothing behind once the card is out.
func TestMuteCard(t *testing.T) {
	events := watchWith(t, pcsc.Options{Readers: []string{pcscdtest.Reader0}, ReadTimeout: 500 * time.Millisecond})
	noLeaks := leakCheck(t)
	in := insert(t, pcscdtest.Addr0, vcard.Mute{})
	e := expect(t, events, reader.Inserted)
	if e.Identity.Kind != reader.KindUnknown || !strings.Contains(e.Err, "did not answer within 500ms") {
		t.Fatalf("a mute card: %+v", e)
	}
	in.Remove()
	expect(t, events, reader.Removed)
	g := guid.New()
	in = insert(t, pcscdtest.Addr0, &vcard.PIV{GUID: g})
	if e := expect(t, events, reader.Inserted); e.Identity.Serial != "{"+g.String()+"}" {
		t.Fatalf("after a mute card: %+v", e)
	}
	in.Remove()
	expect(t, events, reader.Removed)
	noLeaks("a mute card")
}

func TestReaderNameFilter(t *testing.T) {
	events := watch(t, "00 01")
	insert(t, pcscdtest.Addr0, vcard.ATROnly{}) // the other reader: nothing to see
	g := guid.New()
	insert(t, pcscdtest.Addr1, &vcard.PIV{GUID: g})
	e := expect(t, events, reader.Inserted)
	if e.Reader != pcscdtest.Reader1 || e.Identity.Serial != "{"+g.String()+"}" {
		t.Fatalf("watching %q got %+v", pcscdtest.Reader1, e)
	}
}

// TestPcscdRestart: pcscd stopping and coming back, three times, is
// reported, a card is identified soon after, and the later restarts leave
// the watcher with no more goroutines or file descriptors than the first.
// (The first restart adds the test's own wait for the pcscd it started.)
func TestPcscdRestart(t *testing.T) {
	events := watch(t, pcscdtest.Reader0)
	var noLeaks func(string)
	for round := range 3 {
		if round == 1 {
			noLeaks = leakCheck(t)
		}
		pcscdtest.Stop(t)
		expect(t, events, reader.ReaderLost)
		expect(t, events, reader.ServiceLost)
		pcscdtest.Start(t)
		back := time.Now()
		expect(t, events, reader.ServiceBack)
		expect(t, events, reader.ReaderAppeared)
		g := guid.New()
		in := insert(t, pcscdtest.Addr0, &vcard.PIV{GUID: g})
		e := expect(t, events, reader.Inserted)
		if e.Identity.Serial != "{"+g.String()+"}" {
			t.Fatalf("after restart %d: %+v", round+1, e)
		}
		if d := time.Since(back); d > 2*time.Second {
			t.Fatalf("a card was identified %s after pcscd came back; want < 2 s", d)
		}
		in.Remove()
		expect(t, events, reader.Removed)
	}
	noLeaks("three restarts (counted from the first)")
}

func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// leakCheck notes the goroutines and file descriptors there are now; the
// function it returns fails the test when, after a moment for finished
// cards' goroutines to end, there are more.
func leakCheck(t *testing.T) func(after string) {
	t.Helper()
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	return func(after string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if g, f := runtime.NumGoroutine(), openFDs(t); g > goroutines || f > fds {
			t.Fatalf("after %s: %d goroutines (was %d), %d open files (was %d)", after, g, goroutines, f, fds)
		}
	}
}

// TestManyCycles: 50 insert/remove cycles leave no goroutine or file
// descriptor behind, and every card is identified.
func TestManyCycles(t *testing.T) {
	events := watch(t, pcscdtest.Reader0)
	// One cycle first, so that lazily opened descriptors are there before counting.
	in := insert(t, pcscdtest.Addr0, vcard.ATROnly{})
	expect(t, events, reader.Inserted)
	in.Remove()
	expect(t, events, reader.Removed)
	noLeaks := leakCheck(t)
	for i := range 50 {
		g := guid.New()
		in := insert(t, pcscdtest.Addr0, &vcard.PIV{GUID: g})
		if e := expect(t, events, reader.Inserted); e.Identity.Serial != "{"+g.String()+"}" {
			t.Fatalf("cycle %d: %+v", i, e)
		}
		in.Remove()
		expect(t, events, reader.Removed)
	}
	noLeaks("50 cycles")
}

// TestEveryReader: without a filter every reader is watched, and cards
// in both of vpcd's slots are seen, each with its reader.
func TestEveryReader(t *testing.T) {
	events := watchWith(t, pcsc.Options{})
	g0, g1 := guid.New(), guid.New()
	insert(t, pcscdtest.Addr0, &vcard.PIV{GUID: g0})
	insert(t, pcscdtest.Addr1, &vcard.PIV{GUID: g1})
	want := map[string]string{pcscdtest.Reader0: "{" + g0.String() + "}", pcscdtest.Reader1: "{" + g1.String() + "}"}
	for range 2 {
		e := expect(t, events, reader.Inserted)
		if want[e.Reader] != e.Identity.Serial {
			t.Fatalf("inserted %+v; want one of %v", e, want)
		}
		delete(want, e.Reader)
	}
}

// TestResetByAnotherProgram: another PC/SC client resets the card between
// our connection and our transaction; the read connects again and gets
// the identity.
func TestResetByAnotherProgram(t *testing.T) {
	events := watch(t, pcscdtest.Reader0)
	var calls atomic.Int32
	resetErr := make(chan error, 1)
	pcsc.SetTestHookConnected(func(name string) {
		if calls.Add(1) == 1 {
			resetErr <- resetCard(name)
		}
	})
	defer pcsc.SetTestHookConnected(nil)
	g := guid.New()
	insert(t, pcscdtest.Addr0, &vcard.PIV{GUID: g})
	e := expect(t, events, reader.Inserted)
	if err := <-resetErr; err != nil {
		t.Fatalf("the other client could not reset the card: %v", err)
	}
	if e.Identity.Serial != "{"+g.String()+"}" || calls.Load() != 2 {
		t.Fatalf("after a reset: %+v, %d connections; want the identity, read on the second", e, calls.Load())
	}
}

// resetCard resets the card in the named reader, as another program would.
func resetCard(name string) error {
	pc, err := scard.EstablishContext()
	if err != nil {
		return err
	}
	defer pc.Release()
	card, err := pc.Connect(name, scard.ShareShared, scard.ProtocolAny)
	if err != nil {
		return err
	}
	return card.Disconnect(scard.ResetCard)
}

// TestOpenSCSeesPIV: a standard tool names the virtual card a PIV card.
func TestOpenSCSeesPIV(t *testing.T) {
	pcscdtest.Require(t)
	if _, err := exec.LookPath("opensc-tool"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("opensc-tool is missing; make test installs the opensc package")
		}
		t.Skip("opensc-tool is missing; make test installs the opensc package")
	}
	insert(t, pcscdtest.Addr1, &vcard.PIV{GUID: guid.New()})
	var out []byte
	var err error
	for deadline := time.Now().Add(eventWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, err = exec.Command("opensc-tool", "--reader", "1", "--name").CombinedOutput()
		if err == nil {
			break
		}
	}
	if err != nil || !strings.Contains(string(out), "Personal Identity Verification Card") {
		t.Fatalf("opensc-tool --name: %v\n%s", err, out)
	}
}

func TestList(t *testing.T) {
	pcscdtest.Require(t)
	names, err := pcsc.List()
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	if !slices.Contains(names, pcscdtest.Reader0) || !slices.Contains(names, pcscdtest.Reader1) {
		t.Fatalf("List = %q", names)
	}
}

// BenchmarkIdentityRead measures, per card, the time from the insert event
// to the identity (read), and from the card's insertion to pcscd's event
// (detect, bounded by pcscd's 400 ms poll). Run with -benchtime=30x.
func BenchmarkIdentityRead(b *testing.B) {
	pcscdtest.Require(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, err := pcsc.Watch(ctx, pcsc.Options{Readers: []string{pcscdtest.Reader0}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	var reads, detects []time.Duration
	for b.Loop() {
		// A random phase against pcscd's poll, or the loop locks onto it.
		time.Sleep(rand.N(400 * time.Millisecond))
		start := time.Now()
		in, err := vcard.Insert(ctx, pcscdtest.Addr0, &vcard.PIV{GUID: guid.New()})
		if err != nil {
			b.Fatal(err)
		}
		for e := range events {
			if e.Kind == reader.Inserted {
				reads = append(reads, e.ReadTime)
				detects = append(detects, e.Time.Sub(start)-e.ReadTime)
				break
			}
		}
		in.Remove()
		for e := range events {
			if e.Kind == reader.Removed {
				break
			}
		}
	}
	median := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(median(reads), "median-read-ms")
	b.ReportMetric(float64(reads[len(reads)-1].Microseconds())/1000, "max-read-ms")
	b.ReportMetric(median(detects), "median-detect-ms")
}
