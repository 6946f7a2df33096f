package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/cardstop/cardstop/storage"
)

func tokenCreate(args []string, stdout, stderr io.Writer) error {
	c := newCommand("token create", "--role ROLE --name NAME", stderr,
		"cardstop token create --data-dir ./var --role operator --name soc-script > soc.token")
	role := c.fs.String("role", "", "viewer, operator or admin (required)")
	name := c.fs.String("name", "", "a name for the token, shown in the audit log (required)")
	if err := c.parse(args, 0); err != nil {
		return err
	}
	if *role == "" || *name == "" {
		c.fs.Usage()
		return fmt.Errorf("%w: token create needs --role and --name", errUsage)
	}
	r, err := storage.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	secret, _, err := st.CreateToken(cliOrigin(), *name, r)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	fmt.Fprintf(stderr, "created %s token %q; the secret above is shown only now\n", r, *name)
	return nil
}

func tokenList(args []string, stdout, stderr io.Writer) error {
	c := newCommand("token list", "", stderr, "cardstop token list --data-dir ./var")
	if err := c.parse(args, 0); err != nil {
		return err
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	tokens, err := st.Tokens()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED")
	for _, t := range tokens {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Role, t.Created.Format(time.RFC3339))
	}
	return tw.Flush()
}

func tokenRevoke(args []string, stdout, stderr io.Writer) error {
	c := newCommand("token revoke", "NAME", stderr, "cardstop token revoke --data-dir ./var soc-script")
	if err := c.parse(args, 1); err != nil {
		return err
	}
	st, err := c.open()
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.RevokeToken(cliOrigin(), c.fs.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked token %q\n", c.fs.Arg(0))
	return nil
}
