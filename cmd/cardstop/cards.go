package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/web/wire"
)

func importCards(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("import", "FILE", stderr, "cardstop import --data-dir ./var docs/examples/cards.json")
	if err := c.parse(args, 1); err != nil {
		return err
	}
	in := stdin
	if name := c.fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cards, err := wire.ReadSmartcards(in)
	if err != nil {
		return fmt.Errorf("%s: %w; nothing was imported", c.fs.Arg(0), err)
	}
	records := make([]storage.Smartcard, len(cards))
	for i, card := range cards {
		records[i] = card.Record()
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.ImportCards(ctx, cliOrigin(), records); err != nil {
		return fmt.Errorf("%s: %w; nothing was imported", c.fs.Arg(0), err)
	}
	noun := "cards"
	if len(records) == 1 {
		noun = "card"
	}
	fmt.Fprintf(stdout, "imported %d %s\n", len(records), noun)
	return nil
}

func exportCards(args []string, stdout, stderr io.Writer) error {
	c := newCommand("export", "", stderr, "cardstop export --data-dir ./var > cards.json")
	return c.withReadStore(args, 0, func(st *storage.Store) error {
		cards, err := st.Cards(storage.CardFilter{})
		if err != nil {
			return err
		}
		out := make([]wire.Smartcard, len(cards))
		for i, card := range cards {
			out[i] = wire.SmartcardFrom(card)
		}
		w := bufio.NewWriter(stdout)
		if err := wire.WriteSmartcards(w, out); err != nil {
			return err
		}
		return w.Flush()
	})
}
