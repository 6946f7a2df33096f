package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

func tokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("token create", "--role ROLE --name NAME", stderr,
		"cardstop token create --data-dir ./var --role operator --name soc-script > soc.token")
	role := c.fs.String("role", "", "viewer, operator, admin or station (required)")
	name := c.fs.String("name", "", "a name for the token, shown in the audit log (required)")
	if err := c.parse(args, 0); err != nil {
		return err
	}
	if *role == "" || *name == "" {
		c.fs.Usage()
		return fmt.Errorf("%w: token create needs --role and --name", errUsage)
	}
	r, err := domain.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return c.use(func(st *storage.Store) error {
		secret, _, err := st.CreateToken(ctx, cliOrigin(), *name, r)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, secret)
		fmt.Fprintf(stderr, "created %s token %q; the secret above is shown only now\n", r, *name)
		return nil
	})
}

func tokenList(args []string, stdout, stderr io.Writer) error {
	c := newCommand("token list", "", stderr, "cardstop token list --data-dir ./var")
	return c.withReadStore(args, 0, func(st *storage.Store) error {
		tokens, err := st.Tokens()
		return printNamed(stdout, tokens, err, func(t storage.Token) (string, domain.Role, time.Time) { return t.Name, t.Role, t.Created })
	})
}

func tokenRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommand("token revoke", "NAME", stderr, "cardstop token revoke --data-dir ./var soc-script")
	return c.withExistingStore(args, 1, func(st *storage.Store) error {
		if err := st.RevokeToken(ctx, cliOrigin(), c.fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked token %q\n", c.fs.Arg(0))
		return nil
	})
}
