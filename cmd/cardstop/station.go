package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cardstop/cardstop/device/panel"
	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/reader/pcsc"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/web"
)

// stationFlags are serve's options for the reader, the panel and the station.
type stationFlags struct {
	reader  *string
	name    *string
	panel   *string
	pins    panel.Pins
	confirm *time.Duration
}

func addStationFlags(fs *flag.FlagSet) *stationFlags {
	host, _ := os.Hostname()
	f := &stationFlags{
		reader:  fs.String("reader", "", "watch the first card reader whose name contains this (default: the first reader)"),
		name:    fs.String("station-name", host, "the station's name in the audit log (station:NAME)"),
		panel:   fs.String("panel", "auto", "the LEDs and button: gpio, simulated, or auto (GPIO when its lines exist, else simulated)"),
		confirm: fs.Duration("confirm-window", 10*time.Second, "how long after a card is found a press may disable it"),
	}
	fs.StringVar(&f.pins.Green, "led-green", panel.DefaultPins.Green, "GPIO line of the green LED")
	fs.StringVar(&f.pins.Amber, "led-amber", panel.DefaultPins.Amber, "GPIO line of the amber LED")
	fs.StringVar(&f.pins.Red, "led-red", panel.DefaultPins.Red, "GPIO line of the red LED")
	fs.StringVar(&f.pins.Button, "button", panel.DefaultPins.Button, "GPIO line of the push button (wired to ground; pull-up)")
	return f
}

// thePanel is a GPIO or a simulated panel.
type thePanel interface {
	station.Lights
	Presses() <-chan time.Time
	Halt() error
}

// openPanel picks the panel the flags ask for; auto falls back to the
// simulated panel on a machine without the GPIO lines.
func (f *stationFlags) openPanel(log *slog.Logger) (thePanel, string, error) {
	switch *f.panel {
	case "simulated":
		return panel.NewSimulated(), "simulated", nil
	case "gpio", "auto":
		p, err := panel.OpenGPIO(f.pins)
		if err == nil {
			return p, "gpio", nil
		}
		if *f.panel == "auto" && errors.Is(err, panel.ErrNoGPIO) {
			log.Info("no GPIO lines for the panel: simulating it (see /api/station)", "reason", err)
			return panel.NewSimulated(), "simulated", nil
		}
		return nil, "", err
	}
	return nil, "", fmt.Errorf("%w: --panel must be gpio, simulated or auto, not %q", errUsage, *f.panel)
}

// startStation starts the reader watcher and the station; the returned
// function stops both and turns the LEDs off.
func (f *stationFlags) startStation(ctx context.Context, st *storage.Store, log *slog.Logger) (web.Options, func(), error) {
	p, kind, err := f.openPanel(log)
	if err != nil {
		return web.Options{}, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	events, err := pcsc.Watch(ctx, pcsc.Options{Reader: *f.reader, Logger: log})
	if err != nil {
		// Without PC/SC the station still runs and says "no reader".
		log.Warn("no card reader support", "err", err)
		events = make(chan reader.Event)
	}
	stn := station.New(station.Config{Name: *f.name, ConfirmWindow: *f.confirm, Logger: log}, st, p)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = stn.Run(ctx, events, p.Presses())
	}()
	opt := web.Options{Station: stn, Panel: kind}
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
