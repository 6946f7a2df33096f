package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
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

// TestNoCertificateFromAnUnsynchronisedClock: a station that starts in
// 1970 (no real-time clock, no time saved yet) serves no certificate
// until the clock is synchronised, and then makes one dated from it.
func TestNoCertificateFromAnUnsynchronisedClock(t *testing.T) {
	dir := t.TempDir()
	now, synced := time.Unix(0, 0), false
	m, err := NewManager(Source{Dir: dir, Names: []string{"192.0.2.7"}}, func() time.Time { return now }, func() bool { return synced }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := m.GetCertificate(nil); err == nil || c != nil {
		t.Fatalf("a certificate from a clock at 1970: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, CertFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a certificate file was made from a clock at 1970: %v", err)
	}
	now, synced = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), true
	c, err := m.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Leaf.NotBefore.Before(now) || c.Leaf.NotAfter.Before(now.Add(365*24*time.Hour)) || len(c.Leaf.IPAddresses) != 1 {
		t.Fatalf("the certificate is valid from %v to %v for %v; want from before %v for years, for 192.0.2.7", c.Leaf.NotBefore, c.Leaf.NotAfter, c.Leaf.IPAddresses, now)
	}
}

// TestExpiredCertificateRenewed: a self-signed certificate that expired or
// expires within 30 days is made again at start, once the clock can be
// trusted; one that is fine is kept.
func TestExpiredCertificateRenewed(t *testing.T) {
	made := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		now     time.Time
		synced  bool
		renewed bool
	}{
		{"fine", made.Add(24 * time.Hour), true, false},
		{"expired", made.Add(validity + time.Hour), true, true},
		{"expires within 30 days", made.Add(validity - 10*24*time.Hour), true, true},
		{"expired, but the clock cannot tell", made.Add(validity + time.Hour), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := create(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), nil, made); err != nil {
				t.Fatal(err)
			}
			old, err := tls.LoadX509KeyPair(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
			if err != nil {
				t.Fatal(err)
			}
			m, err := NewManager(Source{Dir: dir}, func() time.Time { return tt.now }, func() bool { return tt.synced }, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			c, err := m.GetCertificate(nil)
			if err != nil {
				t.Fatal(err)
			}
			if renewed := Fingerprint(*c) != Fingerprint(old); renewed != tt.renewed {
				t.Fatalf("renewed %v; want %v (valid to %v)", renewed, tt.renewed, c.Leaf.NotAfter)
			}
		})
	}
}

// TestAddressesFromProc reads the local addresses from /proc/net, as
// a unit that forbids netlink sockets makes the service do.
func TestAddressesFromProc(t *testing.T) {
	trie := `Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 10.231.0.0/30 2 0 2
           |-- 10.231.0.0
              /30 link UNICAST
           |-- 10.231.0.2
              /32 host LOCAL
Local:
           |-- 10.231.0.2
              /32 host LOCAL
`
	if got := fmt.Sprint(localIPv4(trie)); got != "[127.0.0.1 10.231.0.2]" {
		t.Errorf("IPv4 %s; want [127.0.0.1 10.231.0.2]", got)
	}
	inet6 := "00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000002 02 40 20 80     eth0\nbad\n"
	if got := fmt.Sprint(localIPv6(inet6)); got != "[::1 fe80::2]" {
		t.Errorf("IPv6 %s; want [::1 fe80::2]", got)
	}
}

// TestExisting: Existing reads what is there and never makes a
// certificate; a damaged file is an error, not ErrNoCertificate.
func TestExisting(t *testing.T) {
	made := t.TempDir()
	want, err := Load(Source{Dir: made})
	if err != nil {
		t.Fatal(err)
	}
	damaged := t.TempDir()
	if err := os.WriteFile(filepath.Join(damaged, CertFile), []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		src     Source
		noCert  bool // ErrNoCertificate
		failed  bool // another error
		created bool // a certificate file exists afterwards
	}{
		{"none yet", Source{Dir: t.TempDir()}, true, false, false},
		{"self-signed", Source{Dir: made}, false, false, true},
		{"damaged", Source{Dir: damaged}, false, true, true},
		{"configured but missing", Source{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem", Dir: t.TempDir()}, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cert, err := Existing(tt.src)
			if errors.Is(err, ErrNoCertificate) != tt.noCert || (err != nil && !errors.Is(err, ErrNoCertificate)) != tt.failed {
				t.Fatalf("Existing: %v", err)
			}
			if err == nil && Fingerprint(cert) != Fingerprint(want) {
				t.Fatal("Existing read another certificate than Load made")
			}
			if _, err := os.Stat(filepath.Join(tt.src.Dir, CertFile)); (err == nil) != tt.created {
				t.Fatalf("a certificate file exists: %v, want %v", err == nil, tt.created)
			}
		})
	}
}
