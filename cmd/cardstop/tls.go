package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cardstop/cardstop/web/tlscert"
)

func tlsCommand(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: tls needs fingerprint or create", errUsage)
	}
	switch args[0] {
	case "fingerprint":
		return tlsFingerprint(args[1:], stdout, stderr)
	case "create":
		return tlsCreate(args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown tls command %q; use fingerprint or create", errUsage, args[0])
}

// tlsFingerprint prints the SHA-256 fingerprint of the certificate serve
// uses off loopback, to compare with what a browser shows on first
// contact. It makes nothing: a certificate made here would take its dates
// from a clock that may not be set yet.
func tlsFingerprint(args []string, stdout, stderr io.Writer) error {
	c, so := serveFlags("tls fingerprint", "", "cardstop tls fingerprint --config /etc/cardstop/cardstop.toml", stderr)
	if err := c.parse(args, 0); err != nil {
		return err
	}
	cert, err := tlscert.Existing(tlscert.Source{CertFile: *so.tlsCert, KeyFile: *so.tlsKey, Dir: *c.dataDir})
	if errors.Is(err, tlscert.ErrNoCertificate) {
		return errors.New("no certificate yet: the service makes it once the clock is synchronised, or run `cardstop tls create`")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "SHA256 Fingerprint=%s\n", tlscert.Fingerprint(cert))
	return nil
}

// tlsCreate makes the self-signed certificate from the clock as it is, for
// an admin who has checked the date, and prints its fingerprint. One that
// exists and is valid is kept; one that expires within 30 days is made
// again, as serve would.
func tlsCreate(args []string, stdout, stderr io.Writer) error {
	c, so := serveFlags("tls create", "", "date && cardstop tls create --config /etc/cardstop/cardstop.toml", stderr)
	if err := c.parse(args, 0); err != nil {
		return err
	}
	if *so.tlsCert != "" || *so.tlsKey != "" {
		return fmt.Errorf("%w: --tls-cert and --tls-key name your own certificate; tls create makes only the self-signed one", errUsage)
	}
	src := tlscert.Source{Dir: *c.dataDir, Names: tlscert.HostNames()}
	old, oldErr := tlscert.Existing(src)
	cert, err := tlscert.Load(src)
	if err != nil {
		return err
	}
	fp := tlscert.Fingerprint(cert)
	until := cert.Leaf.NotAfter.UTC().Format(time.DateOnly)
	if oldErr == nil && tlscert.Fingerprint(old) == fp {
		fmt.Fprintf(stderr, "kept the certificate in %s, valid until %s; to make a new one, delete %s and %s first\n",
			*c.dataDir, until, tlscert.CertFile, tlscert.KeyFile)
	} else {
		fmt.Fprintf(stderr, "made a self-signed certificate in %s from this clock (%s), valid until %s\n",
			*c.dataDir, time.Now().UTC().Format(time.RFC3339), until)
	}
	fmt.Fprintf(stdout, "SHA256 Fingerprint=%s\n", fp)
	return nil
}
