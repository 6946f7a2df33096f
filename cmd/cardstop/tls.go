package main

import (
	"fmt"
	"io"

	"github.com/cardstop/cardstop/web/tlscert"
)

// tlsFingerprint prints the SHA-256 fingerprint of the certificate serve
// uses off loopback, making the self-signed one if it does not exist yet,
// so that it can be compared with what a browser shows on first contact.
func tlsFingerprint(args []string, stdout, stderr io.Writer) error {
	c, so := serveCommand(stderr)
	c.fs.Init("cardstop tls fingerprint", c.fs.ErrorHandling())
	if err := c.parse(args, 0); err != nil {
		return err
	}
	cert, err := tlscert.Load(tlscert.Source{CertFile: *so.tlsCert, KeyFile: *so.tlsKey, Dir: *c.dataDir, Names: tlscert.HostNames()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "SHA256 Fingerprint=%s\n", tlscert.Fingerprint(cert))
	return nil
}
