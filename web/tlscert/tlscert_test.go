package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestSelfSigned(t *testing.T) {
	dir := t.TempDir()
	src := Source{Dir: dir, Names: []string{"station-1", "station-1.local", "192.0.2.10", "127.0.0.1"}}
	cert, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	x, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := x.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", x.PublicKey)
	}
	if !slices.Contains(x.DNSNames, "station-1.local") || len(x.IPAddresses) != 2 {
		t.Fatalf("names %v %v", x.DNSNames, x.IPAddresses)
	}
	if err := x.VerifyHostname("192.0.2.10"); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v; want mode 0600", info.Mode(), err)
	}
	// A second start uses the same certificate.
	again, err := Load(src)
	if err != nil || Fingerprint(again) != Fingerprint(cert) {
		t.Fatalf("second load: %v, fingerprint changed", err)
	}
	if fp := Fingerprint(cert); len(fp) != 95 {
		t.Fatalf("fingerprint %q", fp)
	}
}

func TestConfiguredFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(Source{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	src := Source{CertFile: filepath.Join(dir, CertFile), KeyFile: filepath.Join(dir, KeyFile), Dir: t.TempDir()}
	if _, err := Load(src); err != nil {
		t.Fatalf("configured files: %v", err)
	}
	if _, err := Load(Source{CertFile: filepath.Join(dir, "missing.pem"), KeyFile: filepath.Join(dir, KeyFile)}); err == nil {
		t.Fatal("a missing configured certificate was accepted")
	}
	if err := os.WriteFile(filepath.Join(dir, CertFile), []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Source{Dir: dir}); err == nil {
		t.Fatal("a damaged certificate was accepted")
	}
}
