// Command vcard inserts a virtual smartcard into a real pcscd through the
// vsmartcard vpcd reader driver, answers it until SIGINT/SIGTERM or the
// hold time, then removes it. For tests and for trying the station
// without hardware; vpcd must never be installed on the appliance.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/guid"
)

const usage = `usage: vcard [--addr 127.0.0.1:35963] (--piv-guid GUID | --uid HEX | --atr-only | --mute) [--hold DURATION]

Inserts a virtual card into vpcd's reader ("Virtual PCD 00 00" on port 35963,
"Virtual PCD 00 01" on 35964) until Ctrl-C or the hold time.

examples:
  vcard --piv-guid bc88f13f-83ba-4037-8262-46eba1291c6e --hold 5s
  vcard --uid 04A224B2C35E80
  vcard --atr-only --addr 127.0.0.1:35964
  vcard --mute --hold 10s
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("vcard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage, "\nflags:\n"); fs.PrintDefaults() }
	addr := fs.String("addr", vcard.DefaultAddr, "vpcd's address (the reader slot)")
	pivGUID := fs.String("piv-guid", "", "a PIV card whose CHUID holds this GUID")
	uid := fs.String("uid", "", "a contactless card with this UID (hex)")
	atrOnly := fs.Bool("atr-only", false, "a card that answers to nothing but reset")
	mute := fs.Bool("mute", false, "a card that answers reset, then never answers a command (a broken card)")
	hold := fs.Duration("hold", 0, "remove the card after this long (default: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	card, err := pickCard(*pivGUID, *uid, *atrOnly, *mute)
	if err != nil || fs.NArg() != 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		}
		fmt.Fprintln(stderr, "vcard:", err)
		fs.Usage()
		return 2
	}
	if *hold > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *hold)
		defer cancel()
	}
	in, err := vcard.Insert(ctx, *addr, card)
	if err != nil {
		fmt.Fprintln(stderr, "vcard:", err, "(is pcscd running with vsmartcard-vpcd installed?)")
		return 1
	}
	fmt.Fprintf(stderr, "vcard: card inserted at %s\n", *addr)
	start := time.Now()
	<-in.Done()
	if err := in.Err(); err != nil {
		fmt.Fprintln(stderr, "vcard:", err)
		return 1
	}
	fmt.Fprintf(stderr, "vcard: card removed after %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}

func pickCard(pivGUID, uid string, atrOnly, mute bool) (vcard.Card, error) {
	n := 0
	for _, set := range []bool{pivGUID != "", uid != "", atrOnly, mute} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one of --piv-guid, --uid, --atr-only, --mute")
	}
	switch {
	case pivGUID != "":
		g, err := guid.Parse(pivGUID)
		if err != nil {
			return nil, fmt.Errorf("--piv-guid: %w", err)
		}
		return &vcard.PIV{GUID: g}, nil
	case uid != "":
		b, err := hex.DecodeString(strings.ReplaceAll(uid, ":", ""))
		if err != nil || len(b) == 0 || len(b) > 10 {
			return nil, fmt.Errorf("--uid must be 1 to 10 bytes in hex, not %q", uid)
		}
		return &vcard.Contactless{UID: b}, nil
	case mute:
		return vcard.Mute{}, nil
	}
	return vcard.ATROnly{}, nil
}
