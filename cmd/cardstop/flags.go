package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cardstop/cardstop/device/clock"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// command is a subcommand's flag set, and the one way every subcommand
// declares and reads its command line: newCommand for the commands that
// open the database (they share --data-dir and --config), newToolCommand
// for the others; then parse, or parseArgs and configure.
type command struct {
	fs      *flag.FlagSet
	dataDir *string           // nil for a tool command
	config  *string           // nil for a tool command
	sources map[string]string // where each option's value came from, after configure
}

// newCommand returns a database command: --data-dir and --config, and a
// usage that says how the configuration file and the environment set
// every flag.
func newCommand(name, args string, stderr io.Writer, example string) command {
	fs := flag.NewFlagSet("cardstop "+name, flag.ContinueOnError)
	fs.SetOutput(twoDashes{stderr})
	c := command{fs: fs,
		dataDir: fs.String("data-dir", "./var", "the directory of the database"),
		config:  fs.String("config", defaultConfig(), "the configuration file (TOML; keys are the long flag names)"),
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\n", strings.TrimSpace("usage: cardstop "+name+" [--data-dir DIR] [--config FILE] "+args))
		fmt.Fprintf(stderr, "Every flag can also be set in the configuration file, or as CARDSTOP_<NAME> in the\n"+
			"environment (CARDSTOP_DATA_DIR for --data-dir); flags win over the environment, which wins\n"+
			"over the file.\n\nflags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nexample:\n  %s\n", example)
	}
	return c
}

// newToolCommand returns a command that opens no database (reader list,
// version, ...): only its own flags, read from the command line alone.
// about, when not empty, is a paragraph under the usage line.
func newToolCommand(name, args, about string, stderr io.Writer, example string) command {
	fs := flag.NewFlagSet("cardstop "+name, flag.ContinueOnError)
	fs.SetOutput(twoDashes{stderr})
	line := "usage: cardstop " + name
	if args != "" {
		line += " " + args
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\n", line)
		if about != "" {
			fmt.Fprintf(stderr, "%s\n\n", about)
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(stderr, "flags:\n")
			fs.PrintDefaults()
			fmt.Fprintln(stderr)
		}
		fmt.Fprintf(stderr, "example:\n  %s\n", example)
	}
	return command{fs: fs}
}

// twoDashes writes what package flag writes (the help's flag list, its
// refusals) with two dashes before a flag's name, as the README and the
// examples write them; flag takes either.
type twoDashes struct{ w io.Writer }

func (t twoDashes) Write(p []byte) (int, error) {
	if _, err := t.w.Write(singleDash.ReplaceAll(p, []byte("${1}--"))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// singleDash finds a flag's name where flag's messages write it: at the
// start of PrintDefaults' lines, and after "flag" in its errors. Each of
// those is one Write.
var singleDash = regexp.MustCompile(`(?m)(^  |flag )-`)

// durationValue is a time.Duration flag whose refusal says what a
// duration looks like: flag.Duration's says only "parse error".
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil { // flag asks the zero value, to tell a default apart
		return "0s"
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration like 10s or 1m30s")
	}
	*v.d = d
	return nil
}

// durationFlag defines a duration flag; usage should name its type in
// backquotes, as flag.UnquoteUsage reads it for the help.
func durationFlag(fs *flag.FlagSet, name string, value time.Duration, usage string) *time.Duration {
	d := value
	fs.Var(durationValue{&d}, name, usage)
	return &d
}

// parse reads the flags, checks that exactly nargs arguments follow, and
// fills what the command line left unset from the environment and the
// configuration file.
func (c *command) parse(args []string, nargs int) error {
	if err := c.parseArgs(args, nargs); err != nil {
		return err
	}
	return c.configure()
}

// parseArgs reads the command line alone: flags before and after the
// arguments ("user add NAME --role admin"), and checks that exactly nargs
// arguments were given; they are then c.fs.Args(). A negative nargs takes
// any number. A mistake is errUsage; --help is flag.ErrHelp.
func (c *command) parseArgs(args []string, nargs int) error {
	fs := c.fs
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %s", errUsage, singleDash.ReplaceAllString(err.Error(), "${1}--"))
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

// configure fills the flags the command line left unset from the
// environment and the configuration file; a tool command has neither.
func (c *command) configure() error {
	if c.config == nil {
		return nil
	}
	var err error
	c.sources, err = applyConfig(c.fs, *c.config, os.LookupEnv)
	return err
}

// withStore parses the flags, opens the database and runs fn with it.
func (c *command) withStore(args []string, nargs int, fn func(st *storage.Store) error) error {
	if err := c.parse(args, nargs); err != nil {
		return err
	}
	return c.use(fn)
}

// withReadStore is withStore for a command that only reads: it opens an
// existing database read-only, and creates nothing when there is none.
func (c *command) withReadStore(args []string, nargs int, fn func(st *storage.Store) error) error {
	if err := c.parse(args, nargs); err != nil {
		return err
	}
	return c.useWith(storage.Options{ReadOnly: true}, fn)
}

// withExistingStore is withStore for a command that changes records that
// must already be there: it never creates a database.
func (c *command) withExistingStore(args []string, nargs int, fn func(st *storage.Store) error) error {
	if err := c.parse(args, nargs); err != nil {
		return err
	}
	return c.useWith(storage.Options{Existing: true}, fn)
}

// use opens the database, runs fn with it and closes it.
func (c *command) use(fn func(st *storage.Store) error) error {
	return c.useWith(storage.Options{}, fn)
}

func (c *command) useWith(opt storage.Options, fn func(st *storage.Store) error) error {
	st, err := c.openWith(opt)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}

// printNamed lists credentials, tokens or users, with their role and
// creation time: the columns of named's answer.
func printNamed[T any](w io.Writer, items []T, err error, named func(T) (name string, role domain.Role, created time.Time)) error {
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, it := range items {
		name, role, created := named(it)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, role, created.Format(time.RFC3339))
	}
	return tw.Flush()
}

// open opens the database, failing fast when a server holds it.
func (c command) open() (*storage.Store, error) { return c.openWith(storage.Options{}) }

// openWith is open with options beyond the clock's. A file that cannot be
// read as a database is a storage.DamageError (exit status 3); with
// opt.ReadOnly, a missing one is an error that names the directory.
func (c command) openWith(opt storage.Options) (*storage.Store, error) {
	opt.ClockSynced = clock.Synced
	st, err := storage.Open(*c.dataDir, opt)
	if errors.Is(err, storage.ErrNoDatabase) {
		return nil, noDatabase(*c.dataDir)
	}
	return st, err
}

// noDatabase is the error of a command that only reads, run where there
// is no database: most often a wrong --data-dir.
func noDatabase(dir string) error {
	return fmt.Errorf("no database at %s (is --data-dir right?)", dir)
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
