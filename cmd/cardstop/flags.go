package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"text/tabwriter"

	"github.com/cardstop/cardstop/device/clock"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// command is a subcommand's flag set with the flags every database command
// shares: --data-dir and --config.
type command struct {
	fs      *flag.FlagSet
	dataDir *string
	config  *string
	sources map[string]string // where each option's value came from, after parse
}

func newCommand(name, args string, stderr io.Writer, example string) command {
	fs := flag.NewFlagSet("cardstop "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := command{fs: fs,
		dataDir: fs.String("data-dir", "./var", "the directory of the database"),
		config:  fs.String("config", defaultConfig(), "the configuration file (TOML; keys are the long flag names)"),
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: cardstop %s [--data-dir DIR] [--config FILE] %s\n\n", name, args)
		fmt.Fprintf(stderr, "Every flag can also be set in the configuration file, or as CARDSTOP_<NAME> in the\n"+
			"environment (CARDSTOP_DATA_DIR for --data-dir); flags win over the environment, which wins\n"+
			"over the file.\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexample:\n  %s\n", example)
	}
	return c
}

// parse reads the flags, checks that exactly nargs arguments follow, and
// fills what the command line left unset from the environment and the
// configuration file.
func (c *command) parse(args []string, nargs int) error {
	if err := parseFlags(c.fs, args, nargs); err != nil {
		return err
	}
	var err error
	c.sources, err = applyConfig(c.fs, *c.config, os.LookupEnv)
	return err
}

// parseFlags reads flags before and after the arguments ("user add NAME
// --role admin") and checks that exactly nargs arguments were given; they
// are then fs.Args(). A negative nargs takes any number.
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
	if nargs >= 0 && fs.NArg() != nargs {
		fs.Usage()
		return fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, fs.Name(), nargs, fs.NArg())
	}
	return nil
}

// withStore parses the flags, opens the database and runs fn with it.
func (c *command) withStore(args []string, nargs int, fn func(st *storage.Store) error) error {
	if err := c.parse(args, nargs); err != nil {
		return err
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// printNamed lists names with their role and creation time: tokens, users.
func printNamed(w io.Writer, rows [][3]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r[0], r[1], r[2])
	}
	return tw.Flush()
}

// open opens the database, failing fast when a server holds it.
func (c command) open() (*storage.Store, error) {
	st, err := storage.Open(*c.dataDir, storage.Options{ClockSynced: clock.Synced})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// cliOrigin is who a command acts as in the audit log: the local account
// that ran it, with every right, since it can read the file anyway.
func cliOrigin() domain.Origin {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return domain.Origin{Actor: "cli", Role: domain.RoleAdmin, Source: "local:" + name, CorrelationID: guid.New()}
}
