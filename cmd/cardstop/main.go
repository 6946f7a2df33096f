// Command cardstop is the walk-up smartcard disable station's one binary:
// the server and the tools that manage its database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cardstop/cardstop/storage"
)

// version is stamped by the Makefile with -ldflags "-X main.version=...".
var version = "dev"

const usage = `usage: cardstop <command> [flags]

commands:
  serve                              run the service (MIM CM API)
  token create --role R --name N     make an API token; prints only its secret
  token list                         list tokens (never their secrets)
  token revoke NAME                  delete a token
  user add NAME --role R             add a person's account (password from the terminal, or stdin)
  user passwd NAME | list | remove NAME
  outbox list                        what waits for the upstream and webhooks, and what they refused (parked)
  outbox retry|drop [--sink S] SEQ   send a parked change again, or give it up (server stopped)
  import FILE                        add cards from a JSON array or CSV file (- for stdin)
  export                             print every card as a JSON array (import reads it back)
  reader list                        list the readers pcscd knows
  reader watch [--reader S] [--json] print what happens at a reader (a diagnostic)
  config print                       the effective configuration, each value with its source
  check                              check the database file (read-only; also done at each start)
  backup FILE                        write a consistent copy of the database (- for stdout)
  restore FILE                       check a backup and put it in place (server stopped)
  audit export | verify [FILE]       the audit log as JSON Lines; check its numbering and hash chain
  tls fingerprint                    print the SHA-256 of the TLS certificate
  tls create                         make the self-signed TLS certificate from this clock (check the date)
  version                            print the version

Every command that opens the database takes --data-dir DIR right after its
command words (default $CARDSTOP_DATA_DIR, else ./var).
Run 'cardstop <command> --help' for a command's flags.

examples:
  cardstop token create --data-dir ./var --role admin --name alice > alice.token
  cardstop import --data-dir ./var docs/examples/cards.json
  cardstop serve --data-dir ./var --listen 127.0.0.1:8080
`

// errUsage marks a mistake in the command line; it exits with status 2.
var errUsage = errors.New("usage")

// errDamaged marks a database that failed its check; it exits with status
// 3, so that serve can tell it from a check that could not run. A file
// that cannot be opened as a database (storage.ErrDamaged) exits with 3 too.
var errDamaged = errors.New("the database is damaged")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "cardstop:", err)
		return 2
	case errors.Is(err, errDamaged), errors.Is(err, storage.ErrDamaged):
		fmt.Fprintln(stderr, "cardstop:", err)
		return 3
	default:
		fmt.Fprintln(stderr, "cardstop:", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	// A command group's help is its verbs' lines of the overview.
	if groups := map[string]bool{"token": true, "user": true, "reader": true, "audit": true, "tls": true, "config": true, "outbox": true}; groups[cmd] &&
		len(rest) > 0 && (rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help") {
		fmt.Fprint(stdout, groupUsage(cmd))
		return nil
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, stderr)
	case "token":
		if len(rest) == 0 {
			return fmt.Errorf("%w: token needs create, list or revoke", errUsage)
		}
		switch rest[0] {
		case "create":
			return tokenCreate(ctx, rest[1:], stdout, stderr)
		case "list":
			return tokenList(rest[1:], stdout, stderr)
		case "revoke":
			return tokenRevoke(ctx, rest[1:], stdout, stderr)
		}
		return fmt.Errorf("%w: unknown token command %q; use create, list or revoke", errUsage, rest[0])
	case "user":
		return userCommand(ctx, rest, stdin, stdout, stderr)
	case "outbox":
		return outboxCommand(ctx, rest, stdout, stderr)
	case "reader":
		return readerCommand(ctx, rest, stdout, stderr)
	case "tls":
		return tlsCommand(rest, stdout, stderr)
	case "import":
		return importCards(ctx, rest, stdin, stdout, stderr)
	case "export":
		return exportCards(rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "print" {
			return fmt.Errorf("%w: config needs print", errUsage)
		}
		return configPrint(rest[1:], stdout, stderr)
	case "check":
		return check(ctx, rest, stdin, stdout, stderr)
	case "internal-check": // check's own child; not for people
		return internalCheck(rest, stdout, stderr)
	case "backup":
		return backup(ctx, rest, stdout, stderr)
	case "restore":
		return restore(ctx, rest, stdout, stderr)
	case "audit":
		return auditCommand(rest, stdout, stderr)
	case "version":
		return printVersion(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// groupUsage is a command group's help: the overview's lines of its verbs,
// and the way to each verb's flags.
func groupUsage(group string) string {
	var verbs []string
	for line := range strings.Lines(usage) {
		if strings.HasPrefix(line, "  "+group+" ") {
			verbs = append(verbs, line)
		}
	}
	first := strings.Fields(verbs[0])[1]
	return fmt.Sprintf("usage: cardstop %s <verb> [flags]\n\nverbs:\n%s\nRun 'cardstop %s <verb> --help' for a verb's flags.\n\nexample:\n  cardstop %s %s --help\n",
		group, strings.Join(verbs, ""), group, group, first)
}

// printVersion is `cardstop version`: it takes no flags of its own.
func printVersion(args []string, stdout, stderr io.Writer) error {
	c := newToolCommand("version", "", "", stderr, "cardstop version")
	if err := c.parseArgs(args, 0); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "cardstop", version)
	return nil
}
