package station

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// watchedPanel is the simulated panel, telling the benchmark when it is
// asked to show a signal.
type watchedPanel struct {
	*panel.Simulated
	shown chan panel.Signal
}

func (w watchedPanel) Show(s panel.Signal) {
	w.Simulated.Show(s)
	w.shown <- s
}

// timedCards measures the commit of each disable.
type timedCards struct {
	*storage.Store
	commits []time.Duration
}

func (c *timedCards) Apply(ctx context.Context, o domain.Origin, cmd domain.Command) (storage.Smartcard, error) {
	start := time.Now()
	card, err := c.Store.Apply(context.Background(), o, cmd)
	c.commits = append(c.commits, time.Since(start))
	return card, err
}

func medianMs(d []time.Duration) float64 {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return float64(d[len(d)/2].Microseconds()) / 1000
}

// BenchmarkStation measures, on a real bbolt file and the simulated panel:
// the insert event to the LEDs showing the lookup's result, and the press
// to the LEDs confirming the commit, with the commit itself (bbolt's
// fsync) reported beside it. (The card's way in, through pcscd and vcard,
// is BenchmarkIdentityRead's.)
func BenchmarkStation(b *testing.B) {
	st, err := storage.Open(b.TempDir(), storage.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 2000
	cards := make([]storage.Smartcard, n)
	for i := range cards {
		cards[i] = storage.Smartcard{Uuid: guid.New(), SerialNumber: fmt.Sprintf("{%s}", guid.New()), Status: domain.CardActive}
	}
	if err := st.ImportCards(context.Background(), domain.Origin{Actor: "bench", Role: domain.RoleAdmin}, cards); err != nil {
		b.Fatal(err)
	}
	lights := watchedPanel{panel.NewSimulated(), make(chan panel.Signal, 16)}
	tc := &timedCards{Store: st}
	var held readers // the card in the reader, for the re-read at the press
	s := New(Config{Name: "bench", Logger: quiet, Reread: held.reread}, tc, lights)
	events := make(chan reader.Event)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, events, lights.Presses())
	await := func(want panel.Signal) time.Time {
		for sig := range lights.shown {
			if sig == want {
				return time.Now()
			}
		}
		panic("unreachable")
	}
	events <- reader.Event{Kind: reader.ReaderAppeared, Reader: "bench"}
	await(Signal(Ready))
	var inserts, pressesToLED []time.Duration
	i := 0
	for b.Loop() {
		if i == n {
			b.Fatalf("more than %d iterations: raise n", n)
		}
		start := time.Now()
		id := reader.Identity{Kind: reader.KindPIV, Serial: cards[i].SerialNumber}
		held.put("bench", &id)
		events <- reader.Event{Kind: reader.Inserted, Reader: "bench", ATR: []byte{0x3b}, Identity: id, Time: start}
		inserts = append(inserts, await(Signal(Confirm)).Sub(start))
		start = time.Now()
		lights.Press()
		pressesToLED = append(pressesToLED, await(Signal(Disabled)).Sub(start))
		events <- reader.Event{Kind: reader.Removed, Reader: "bench"}
		await(Signal(Ready))
		i++
	}
	b.ReportMetric(medianMs(inserts), "insert-to-led-ms")
	b.ReportMetric(medianMs(pressesToLED), "press-to-led-ms")
	b.ReportMetric(medianMs(tc.commits), "commit-ms")
}
