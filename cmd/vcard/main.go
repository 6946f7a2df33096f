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

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

const usage = `usage: vcard [--addr 127.0.0.1:35963] CARD [--t0] [--hold DURATION]
CARD is one of:
  --piv-guid GUID [--fascn DIGITS] [--chuid-size N]
  --zero-guid [--fascn DIGITS] [--chuid-size N]
  --uid HEX | --random-uid | --atr-only | --mute

Inserts a virtual card into vpcd's reader ("Virtual PCD 00 00" on port 35963,
"Virtual PCD 00 01" on 35964) until Ctrl-C or the hold time.

A PIV card's CHUID holds its GUID and a valid FASC-N: the 32 digits of
--fascn in field order (agency 4, system 4, credential 6, CS, ICI, PI 10, OC,
OI 4, POA; dashes allowed), else digits derived from the GUID. With
--zero-guid its GUID is all zero and the station knows it by its FASC-N
("fascn:" and the digits). --chuid-size pads the CHUID's signature to N
bytes (a real one is 2 to 3 KB): past 256 bytes the card gives it in parts,
through GET RESPONSE. --t0 makes the card speak T=0 only: 61xx before every
answer's data, 6Cxx for a wrong Le. --random-uid is a contactless card with
a new random UID (08xxxxxx) at every insertion, which identifies nothing.

examples:
  vcard --piv-guid bc88f13f-83ba-4037-8262-46eba1291c6e --hold 5s
  vcard --zero-guid --fascn 7099-1234-123456-1-1-0123456789-1-0042-1
  vcard --piv-guid bc88f13f-83ba-4037-8262-46eba1291c6e --chuid-size 2500 --t0
  vcard --uid 04A224B2C35E80
  vcard --random-uid
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
	var o cardOptions
	fs.StringVar(&o.pivGUID, "piv-guid", "", "a PIV card whose CHUID holds this GUID")
	fs.BoolVar(&o.zeroGUID, "zero-guid", false, "a PIV card whose CHUID's GUID is all zero, known by its FASC-N")
	fs.StringVar(&o.fascn, "fascn", "", "the PIV card's FASC-N: 32 digits in field order (default: derived from the GUID)")
	fs.IntVar(&o.chuidSize, "chuid-size", 0, "pad the PIV card's CHUID to this many bytes (up to 65000; over 256: GET RESPONSE chaining)")
	fs.StringVar(&o.uid, "uid", "", "a contactless card with this UID (hex)")
	fs.BoolVar(&o.randomUID, "random-uid", false, "a contactless card with a new random 4-byte UID (08xxxxxx) at every insertion")
	fs.BoolVar(&o.atrOnly, "atr-only", false, "a card that answers to nothing but reset")
	fs.BoolVar(&o.mute, "mute", false, "a card that answers reset, then never answers a command (a broken card)")
	fs.BoolVar(&o.t0, "t0", false, "the card speaks T=0 only (61xx and 6Cxx); not with --mute")
	hold := fs.Duration("hold", 0, "remove the card after this long (default: until Ctrl-C)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	card, err := o.card()
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
	if p := pivOf(card); p != nil {
		fmt.Fprintf(stderr, "vcard: PIV card, GUID {%s}, FASC-N %s\n", p.GUID, fascnOf(p))
	}
	start := time.Now()
	<-in.Done()
	if err := in.Err(); err != nil {
		fmt.Fprintln(stderr, "vcard:", err)
		return 1
	}
	fmt.Fprintf(stderr, "vcard: card removed after %s\n", time.Since(start).Round(time.Millisecond))
	return 0
}

// cardOptions are the flags that choose and shape the card.
type cardOptions struct {
	pivGUID, fascn, uid                    string
	zeroGUID, randomUID, atrOnly, mute, t0 bool
	chuidSize                              int
}

// maxCHUIDSize keeps the CHUID within one vpcd message and BER lengths of
// two bytes.
const maxCHUIDSize = 65000

// card builds the card the flags describe, or says what is wrong with them.
func (o cardOptions) card() (vcard.Card, error) {
	n := 0
	for _, set := range []bool{o.pivGUID != "", o.zeroGUID, o.uid != "", o.randomUID, o.atrOnly, o.mute} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, errors.New("give exactly one of --piv-guid, --zero-guid, --uid, --random-uid, --atr-only, --mute")
	}
	piv := o.pivGUID != "" || o.zeroGUID
	switch {
	case !piv && o.fascn != "":
		return nil, errors.New("--fascn is for PIV cards (--piv-guid, --zero-guid)")
	case !piv && o.chuidSize != 0:
		return nil, errors.New("--chuid-size is for PIV cards (--piv-guid, --zero-guid)")
	case o.chuidSize < 0 || o.chuidSize > maxCHUIDSize:
		return nil, fmt.Errorf("--chuid-size must be 0 to %d bytes, not %d", maxCHUIDSize, o.chuidSize)
	case o.t0 && o.mute:
		return nil, errors.New("--t0 makes no sense with --mute: a mute card answers nothing")
	}
	var card vcard.Card
	switch {
	case piv:
		p := &vcard.PIV{CHUIDSize: o.chuidSize}
		if o.pivGUID != "" {
			g, err := guid.Parse(o.pivGUID)
			if err != nil {
				return nil, fmt.Errorf("--piv-guid: %w", err)
			}
			p.GUID = g
		}
		if o.fascn != "" {
			f, err := reader.FASCNFromDigits(o.fascn)
			if err != nil {
				return nil, fmt.Errorf("--fascn: %w", err)
			}
			if p.FASCN, err = f.Encode(); err != nil {
				return nil, fmt.Errorf("--fascn: %w", err)
			}
		}
		card = p
	case o.uid != "":
		b, err := hex.DecodeString(strings.ReplaceAll(o.uid, ":", ""))
		if err != nil || len(b) == 0 || len(b) > 10 {
			return nil, fmt.Errorf("--uid must be 1 to 10 bytes in hex, not %q", o.uid)
		}
		card = &vcard.Contactless{UID: b}
	case o.randomUID:
		card = &vcard.Contactless{RandomUID: true}
	case o.mute:
		return vcard.Mute{}, nil
	default:
		card = vcard.ATROnly{}
	}
	if o.t0 {
		card = &vcard.T0{Card: card}
	}
	return card, nil
}

// pivOf returns the PIV card inside card, if it is one.
func pivOf(card vcard.Card) *vcard.PIV {
	if t, ok := card.(*vcard.T0); ok {
		card = t.Card
	}
	p, _ := card.(*vcard.PIV)
	return p
}

// fascnOf describes the FASC-N a PIV card carries, for people.
func fascnOf(p *vcard.PIV) string {
	if p.FASCN == nil {
		return vcard.DerivedFASCN(p.GUID).String()
	}
	f, err := reader.ParseFASCN(p.FASCN)
	if err != nil {
		return "invalid"
	}
	return f.String()
}
