// Package tlscert provides the certificate the service speaks TLS with:
// the one configured, or a self-signed ECDSA P-256 certificate made on
// first start and kept in the data directory.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The self-signed certificate's files in the data directory.
const (
	CertFile = "tls-cert.pem"
	KeyFile  = "tls-key.pem"
)

// validity of a self-signed certificate. Browsers do not cap the lifetime
// of certificates they were told to trust by hand; rotate by deleting the
// two files and restarting.
const validity = 10 * 365 * 24 * time.Hour

// Source says where a certificate comes from.
type Source struct {
	CertFile, KeyFile string // configured files; both empty: self-signed in Dir
	Dir               string
	Names             []string // DNS names and IP addresses for a new self-signed certificate
}

// files returns the certificate and key paths in use.
func (s Source) files() (string, string, bool) {
	if s.CertFile != "" || s.KeyFile != "" {
		return s.CertFile, s.KeyFile, false
	}
	return filepath.Join(s.Dir, CertFile), filepath.Join(s.Dir, KeyFile), true
}

// Load returns the certificate, making the self-signed one if it does not
// exist yet, or renewing it when it has expired or expires within
// renewBefore. It trusts the clock: the service uses a Manager, which
// makes certificates only from a synchronised clock.
func Load(s Source) (tls.Certificate, error) {
	m := &Manager{src: s, now: time.Now, synced: func() bool { return true }, log: slog.New(slog.DiscardHandler)}
	cert, err := m.ensure()
	if err != nil {
		return tls.Certificate{}, err
	}
	return *cert, nil
}

// ErrNoCertificate is Existing's answer while the self-signed certificate
// has not been made.
var ErrNoCertificate = errors.New("no certificate yet")

// Existing returns the certificate as it is on disk, and makes nothing:
// the configured one, or the self-signed one in Dir, or ErrNoCertificate.
// Unlike Load it may return one that has expired; its dates are in Leaf.
func Existing(s Source) (tls.Certificate, error) {
	certPath, keyPath, selfSigned := s.files()
	if _, err := os.Stat(certPath); selfSigned && errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, ErrNoCertificate
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w", certPath, keyPath, err)
	}
	return cert, nil
}

// renewBefore is how long before it expires a self-signed certificate is
// made again at start.
const renewBefore = 30 * 24 * time.Hour

// Manager serves the service's certificate (tls.Config.GetCertificate).
// A self-signed certificate takes its dates from the clock, so one is made
// (or an expired one renewed) only once the clock is synchronised: a Pi
// without a real-time clock starts in 1970, and a certificate made then
// would be expired. Until then no TLS handshake succeeds.
type Manager struct {
	src    Source
	now    func() time.Time
	synced func() bool
	log    *slog.Logger

	mu   sync.Mutex
	cert *tls.Certificate
}

// NewManager loads what can be loaded now: a configured certificate (an
// expired or soon expiring one is logged, and served all the same), or a
// self-signed one that is valid; it makes or renews a self-signed one
// when the clock is synchronised. A configured certificate that cannot be
// read is an error.
func NewManager(s Source, now func() time.Time, synced func() bool, log *slog.Logger) (*Manager, error) {
	m := &Manager{src: s, now: now, synced: synced, log: log}
	_, _, selfSigned := s.files()
	cert, err := m.ensure()
	if err != nil && !selfSigned {
		return nil, err
	}
	if err != nil {
		log.Warn("no TLS certificate yet: the clock is not synchronised, and a certificate made now would carry a wrong date; TLS answers nothing until it is", "why", err)
	}
	if cert != nil && !selfSigned {
		if left := cert.Leaf.NotAfter.Sub(now()); left < renewBefore {
			log.Warn("the configured TLS certificate expires soon or has expired: replace it", "not_after", cert.Leaf.NotAfter, "file", s.CertFile)
		}
	}
	return m, nil
}

// errClockNotSynced is why no self-signed certificate is made yet.
var errClockNotSynced = errors.New("the clock is not synchronised yet")

// GetCertificate is for tls.Config: the certificate, made the moment the
// clock is synchronised.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return m.ensure()
}

// Fingerprint is the served certificate's fingerprint, "" while there is
// none.
func (m *Manager) Fingerprint() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert == nil {
		return ""
	}
	return Fingerprint(*m.cert)
}

// ensure returns the certificate, loading, making or renewing it first
// when it may.
func (m *Manager) ensure() (*tls.Certificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cert != nil {
		return m.cert, nil
	}
	certPath, keyPath, selfSigned := m.src.files()
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	_, statErr := os.Stat(certPath)
	switch {
	case (!selfSigned || !errors.Is(statErr, os.ErrNotExist)) && err != nil:
		// A damaged file is not replaced: whoever trusted it should know.
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certPath, keyPath, err)
	case !selfSigned:
		m.cert = &cert
		return m.cert, nil
	case err == nil && !m.synced():
		m.cert = &cert // the clock cannot judge it; it was made from a good one
		return m.cert, nil
	case err == nil && cert.Leaf.NotAfter.Sub(m.now()) >= renewBefore && !m.now().Before(cert.Leaf.NotBefore):
		m.cert = &cert
		return m.cert, nil
	case !m.synced():
		return nil, errClockNotSynced
	}
	why := "none existed"
	if err == nil {
		why = fmt.Sprintf("the old one is valid from %s to %s", cert.Leaf.NotBefore.Format(time.RFC3339), cert.Leaf.NotAfter.Format(time.RFC3339))
	}
	if err := create(certPath, keyPath, m.src.Names, m.now()); err != nil {
		return nil, fmt.Errorf("make a self-signed certificate: %w", err)
	}
	cert, err = tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certPath, keyPath, err)
	}
	m.cert = &cert
	m.log.Info("made a self-signed TLS certificate", "why", why, "fingerprint_sha256", Fingerprint(cert), "not_after", cert.Leaf.NotAfter)
	return m.cert, nil
}

// Suites are the TLS 1.2 cipher suites offered: forward secret and AEAD
// only (TLS 1.3's are all AEAD).
var Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// Fingerprint is the SHA-256 of a certificate, as browsers show it.
func Fingerprint(cert tls.Certificate) string {
	sum := sha256.Sum256(cert.Certificate[0])
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

func create(certPath, keyPath string, names []string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Cardstop station", Organization: []string{"Cardstop"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if n != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(certPath), 0o700); err != nil {
		return err
	}
	// The key first: a certificate without its key would be used next time.
	if err := writeFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile writes through a temporary file and a rename, fsync'd, so a
// power cut leaves the old file or the new one, never half of one.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// HostNames are the names a station on this machine is reached by: its
// hostname (also with .local, for mDNS), localhost, and the addresses of
// its interfaces.
func HostNames() []string {
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h, h+".local")
	}
	for _, ip := range addresses() {
		if !ip.IsLinkLocalUnicast() {
			names = append(names, ip.String())
		}
	}
	return names
}

// addresses are the interfaces' addresses. Go asks the kernel over
// netlink, which a unit's RestrictAddressFamilies may forbid; then they
// are read from /proc/net instead.
func addresses() []net.IP {
	var out []net.IP
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				out = append(out, ipn.IP)
			}
		}
		return out
	}
	if data, err := os.ReadFile("/proc/net/fib_trie"); err == nil {
		out = append(out, localIPv4(string(data))...)
	}
	if data, err := os.ReadFile("/proc/net/if_inet6"); err == nil {
		out = append(out, localIPv6(string(data))...)
	}
	return out
}

// localIPv4 reads the local addresses from /proc/net/fib_trie: a line
// "|-- 10.0.0.2" followed by "/32 host LOCAL".
func localIPv4(trie string) []net.IP {
	var out []net.IP
	var last string
	for line := range strings.SplitSeq(trie, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "|--":
			last = f[1]
		case strings.Contains(line, "/32 host LOCAL"):
			if ip := net.ParseIP(last).To4(); ip != nil && !containsIP(out, ip) {
				out = append(out, ip)
			}
		}
	}
	return out
}

// localIPv6 reads /proc/net/if_inet6: the address as 32 hex digits first.
func localIPv6(table string) []net.IP {
	var out []net.IP
	for line := range strings.SplitSeq(table, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || len(f[0]) != 32 {
			continue
		}
		b, err := hex.DecodeString(f[0])
		if err != nil {
			continue
		}
		if ip := net.IP(b); !containsIP(out, ip) {
			out = append(out, ip)
		}
	}
	return out
}

func containsIP(ips []net.IP, ip net.IP) bool {
	for _, x := range ips {
		if x.Equal(ip) {
			return true
		}
	}
	return false
}
