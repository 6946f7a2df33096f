package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/reader/pcsc"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/web"
)

// stationFlags are serve's options for the reader, the panel and the station.
type stationFlags struct {
	reader      *string
	name        *string
	panel       *string
	pins        panel.Pins
	confirm     *time.Duration
	readTimeout *time.Duration
	activeLow   *bool
}

func addStationFlags(fs *flag.FlagSet) *stationFlags {
	host, _ := os.Hostname()
	f := &stationFlags{
		reader:      fs.String("reader", "", "watch the card readers whose names contain one of these comma-separated texts (default: every reader)"),
		name:        fs.String("station-name", host, "the station's name in the audit log (station:NAME)"),
		panel:       fs.String("panel", "auto", "the LEDs and button: gpio, simulated, or auto (GPIO when its lines exist, else simulated)"),
		confirm:     durationFlag(fs, "confirm-window", 10*time.Second, "how long after a card is found a press may disable it (a `duration` like 10s or 1m30s)"),
		readTimeout: durationFlag(fs, "read-timeout", pcsc.DefaultReadTimeout, "how long a card may take to say who it is before it counts as unreadable (a `duration`)"),
	}
	fs.StringVar(&f.pins.Green, "led-green", panel.DefaultPins.Green, "GPIO line of the green LED")
	fs.StringVar(&f.pins.Amber, "led-amber", panel.DefaultPins.Amber, "GPIO line of the amber LED")
	fs.StringVar(&f.pins.Red, "led-red", panel.DefaultPins.Red, "GPIO line of the red LED")
	fs.StringVar(&f.pins.Button, "button", panel.DefaultPins.Button, "GPIO line of the push button (wired to ground; pull-up)")
	f.activeLow = fs.Bool("led-active-low", false, "the LEDs are wired from 3.3 V to their lines: a low line lights them")
	return f
}

// thePanel is a GPIO, a simulated or a failed panel.
type thePanel interface {
	station.Lights
	Presses() <-chan time.Time
	Halt() error
	Fault() string
}

// openPanel picks the panel the flags ask for. auto falls back to the
// simulated panel only on a machine without GPIO lines; any other
// failure, and any failure with gpio, gives a failed panel: the service
// goes on without LEDs and button and says why (log, /readyz, the page),
// instead of exiting and being restarted for ever.
func (f *stationFlags) openPanel(log *slog.Logger) (thePanel, string, error) {
	switch *f.panel {
	case "simulated":
		return panel.NewSimulated(), "simulated", nil
	case "gpio", "auto":
		p, err := panel.OpenGPIO(f.pins, panel.Options{ActiveLow: *f.activeLow, Logger: log})
		switch {
		case err == nil:
			return p, "gpio", nil
		case *f.panel == "auto" && errors.Is(err, panel.ErrNoGPIO):
			log.Warn("panel = auto and this machine has no GPIO lines for the panel: simulating it; a station with LEDs and a button should say panel = gpio", "reason", err)
			return panel.NewSimulated(), "simulated", nil
		}
		log.Error("THE PANEL FAILED: the LEDs and the button do not work until the service is restarted; the API and the page go on", "err", err)
		return panel.NewFailed(err.Error()), "failed", nil
	}
	return nil, "", fmt.Errorf("%w: --panel must be gpio, simulated or auto, not %q", errUsage, *f.panel)
}

// startStation starts the reader watcher and the station; the returned
// function stops both and turns the LEDs off.
func (f *stationFlags) startStation(ctx context.Context, st station.Cards, log *slog.Logger) (web.Options, func(), error) {
	p, kind, err := f.openPanel(log)
	if err != nil {
		return web.Options{}, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	events, err := pcsc.Watch(ctx, pcsc.Options{Readers: splitList(*f.reader), ReadTimeout: *f.readTimeout, Logger: log})
	if err != nil {
		// Without PC/SC the station still runs and says "no reader".
		log.Warn("no card reader support", "err", err)
		events = make(chan reader.Event)
	}
	reread := func(ctx context.Context, name string) reader.Event { return pcsc.Identify(ctx, name, *f.readTimeout) }
	stn := station.New(station.Config{Name: *f.name, ConfirmWindow: *f.confirm, Logger: log, Reread: reread}, st, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = stn.Run(ctx, events, p.Presses())
	}()
	opt := web.Options{Station: stn, Panel: kind, PanelFault: p.Fault}
	if sim, ok := p.(*panel.Simulated); ok {
		opt.PressButton = sim.Press
	}
	stop := func() {
		cancel()
		<-done
		if err := p.Halt(); err != nil {
			log.Warn("panel halt", "err", err)
		}
	}
	return opt, stop, nil
}

// splitList splits a comma-separated option into its non-empty parts.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
