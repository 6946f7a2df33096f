package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/guid"
)

// command is a subcommand's flag set with the flags every database command
// shares.
type command struct {
	fs      *flag.FlagSet
	dataDir *string
}

func newCommand(name, args string, stderr io.Writer, example string) command {
	fs := flag.NewFlagSet("cardstop "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := os.Getenv("CARDSTOP_DATA_DIR")
	if def == "" {
		def = "./var"
	}
	c := command{fs: fs, dataDir: fs.String("data-dir", def, "the directory of the database (env CARDSTOP_DATA_DIR)")}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: cardstop %s [--data-dir DIR] %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexample:\n  %s\n", example)
	}
	return c
}

// parse reads the flags and checks that exactly nargs arguments follow.
func (c command) parse(args []string, nargs int) error { return parseFlags(c.fs, args, nargs) }

// parseFlags reads flags before and after the arguments ("user add NAME
// --role admin") and checks that exactly nargs arguments were given; they
// are then fs.Args().
func parseFlags(fs *flag.FlagSet, args []string, nargs int) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != nargs {
		fs.Usage()
		return fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, fs.Name(), nargs, fs.NArg())
	}
	return nil
}

// open opens the database, failing fast when a server holds it.
func (c command) open() (*storage.Store, error) {
	st, err := storage.Open(*c.dataDir, storage.Options{})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// cliOrigin is who a command acts as in the audit log: the local account
// that ran it, with every right, since it can read the file anyway.
func cliOrigin() storage.Origin {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return storage.Origin{Actor: "cli", Role: storage.RoleAdmin, Source: "local:" + name, CorrelationID: guid.New()}
}
