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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
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
// exist yet.
func Load(s Source) (tls.Certificate, error) {
	certPath, keyPath, selfSigned := s.files()
	if selfSigned {
		if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
			if err := create(certPath, keyPath, s.Names); err != nil {
				return tls.Certificate{}, fmt.Errorf("make a self-signed certificate: %w", err)
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w", certPath, keyPath, err)
	}
	return cert, nil
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

func create(certPath, keyPath string, names []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
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
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				names = append(names, ipn.IP.String())
			}
		}
	}
	return names
}
