package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

func userCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: user needs add, passwd, list or remove", errUsage)
	}
	switch args[0] {
	case "add":
		return userAdd(ctx, args[1:], stdin, stdout, stderr)
	case "passwd":
		return userPasswd(ctx, args[1:], stdin, stdout, stderr)
	case "list":
		return userList(args[1:], stdout, stderr)
	case "remove":
		return userRemove(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown user command %q; use add, passwd, list or remove", errUsage, args[0])
}

// readPassword asks twice without echo on a terminal; otherwise it reads
// one line, so that scripts can pipe a password in.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "password: ")
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "again: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("no password on standard input; nothing was changed")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func userAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("user add", "NAME --role ROLE", stderr, "cardstop user add --data-dir ./var alice --role operator")
	role := c.fs.String("role", "", "viewer, operator or admin (required)")
	if err := c.parse(args, 1); err != nil {
		return err
	}
	r, err := domain.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	return c.use(func(st *storage.Store) error {
		if err := st.AddUser(ctx, cliOrigin(), c.fs.Arg(0), r, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s %q\n", r, c.fs.Arg(0))
		return nil
	})
}

func userPasswd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := newCommand("user passwd", "NAME", stderr, "cardstop user passwd --data-dir ./var alice")
	if err := c.parse(args, 1); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	return c.useWith(storage.Options{Existing: true}, func(st *storage.Store) error {
		if err := st.SetPassword(ctx, cliOrigin(), c.fs.Arg(0), pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "changed the password of %q; its sessions have ended\n", c.fs.Arg(0))
		return nil
	})
}

func userList(args []string, stdout, stderr io.Writer) error {
	c := newCommand("user list", "", stderr, "cardstop user list --data-dir ./var")
	return c.withReadStore(args, 0, func(st *storage.Store) error {
		users, err := st.Users()
		return printNamed(stdout, users, err, func(u storage.User) (string, domain.Role, time.Time) { return u.Name, u.Role, u.Created })
	})
}

func userRemove(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("user remove", "NAME", stderr, "cardstop user remove --data-dir ./var alice")
	return c.withExistingStore(args, 1, func(st *storage.Store) error {
		if err := st.RemoveUser(ctx, cliOrigin(), c.fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed user %q; its sessions have ended\n", c.fs.Arg(0))
		return nil
	})
}
