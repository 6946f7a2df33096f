package nspawn

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The addresses of the veth pair between the test and the container: a
// network the test makes, and nothing else reaches.
const (
	hostAddr  = "10.231.7.1/30"
	guestIP   = "10.231.7.2"
	guestAddr = guestIP + "/30"
	port      = "8443"
)

// container is a booted systemd-nspawn container.
type container struct {
	init int // its PID 1, as the host sees it
}

// require returns the root file system and the .deb, or skips (fails
// with CI=true) when this machine cannot run the test.
func require(t *testing.T) (rootfs, deb string) {
	t.Helper()
	rootfs, deb = os.Getenv("CARDSTOP_NSPAWN_ROOTFS"), os.Getenv("CARDSTOP_DEB")
	why := ""
	switch {
	case rootfs == "" || deb == "":
		why = "CARDSTOP_NSPAWN_ROOTFS and CARDSTOP_DEB are not set (make test-systemd sets them)"
	case os.Geteuid() != 0:
		why = "booting a container needs root"
	}
	if _, err := exec.LookPath("systemd-nspawn"); why == "" && err != nil {
		why = "systemd-nspawn is missing (make test-systemd installs systemd-container)"
	}
	if why == "" {
		return rootfs, deb
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
	return "", ""
}

// boot copies the root file system, boots it with a veth to the host and
// waits until systemd has started everything.
func boot(t *testing.T, rootfs, deb string) *container {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "rootfs")
	if out, err := exec.Command("cp", "-a", "--reflink=auto", rootfs, root).CombinedOutput(); err != nil {
		t.Fatalf("copy the root file system: %v: %s", err, out)
	}
	if out, err := exec.Command("cp", deb, filepath.Join(root, "root", "cardstop.deb")).CombinedOutput(); err != nil {
		t.Fatalf("copy the package: %v: %s", err, out)
	}
	machine := fmt.Sprintf("cs%d", os.Getpid()%100000)
	console, err := os.Create(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	nsp := exec.Command("systemd-nspawn", "-D", root, "--register=no", "--keep-unit", "--boot", "--network-veth", "--machine="+machine)
	nsp.Stdout, nsp.Stderr = console, console
	if err := nsp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = nsp.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- nsp.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = nsp.Process.Kill()
			<-done
		}
		if t.Failed() {
			data, _ := os.ReadFile(console.Name())
			t.Logf("the container's console:\n%s", data)
		}
	})
	c := &container{}
	waitFor(t, time.Minute, "the container's systemd", func() bool {
		c.init = childNamed(nsp.Process.Pid, "systemd")
		return c.init != 0
	})
	waitFor(t, 2*time.Minute, "the container to finish booting", func() bool {
		out, _ := c.try("systemctl", "is-system-running")
		return out == "running" || out == "degraded"
	})
	veth := "ve-" + machine
	for _, args := range [][]string{{"addr", "add", hostAddr, "dev", veth}, {"link", "set", veth, "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	c.run(t, "ip", "addr", "add", guestAddr, "dev", "host0")
	c.run(t, "ip", "link", "set", "host0", "up")
	return c
}

// childNamed finds the child of pid whose command is name.
func childNamed(pid int, name string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(pid)+"\n") && strings.HasPrefix(string(status), "Name:\t"+name+"\n") {
			return child
		}
	}
	return 0
}

// try runs a command inside the container and returns its output, trimmed.
func (c *container) try(args ...string) (string, error) {
	ns := []string{"-t", strconv.Itoa(c.init), "-m", "-u", "-i", "-n", "-p", "--"}
	out, err := exec.Command("nsenter", append(ns, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// run is try that fails the test.
func (c *container) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.try(args...)
	if err != nil {
		t.Fatalf("in the container, %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *container) show(t *testing.T, prop string) string {
	return c.run(t, "systemctl", "show", "-p", prop, "--value", "cardstop")
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// client speaks to the service from the host; the certificate it saw is
// kept.
func client(seen *[]byte) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed: its fingerprint and names are checked instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			*seen = cs.PeerCertificates[0].Raw
			return nil
		}}}}
}

// TestInstalledUnderSystemd installs the .deb into a booted container and
// checks the unit from outside: ready under Type=notify with its
// hardening, no certificate from a clock that is not synchronised, the
// clock's state read, the pages on the container's own address with a
// certificate that names it, the watchdog restarting a stopped service,
// the exposure score, and a clean purge.
func TestInstalledUnderSystemd(t *testing.T) {
	rootfs, deb := require(t)
	c := boot(t, rootfs, deb)
	c.run(t, "dpkg", "-i", "/root/cardstop.deb")
	waitFor(t, time.Minute, "the service to be active", func() bool { return c.show(t, "ActiveState") == "active" })
	if typ := c.show(t, "Type"); typ != "notify" {
		t.Fatalf("the unit's Type is %s; want notify", typ)
	}
	base := "https://" + net.JoinHostPort(guestIP, port)
	var seen []byte
	hc := client(&seen)

	t.Run("no certificate from an unsynchronised clock", func(t *testing.T) {
		if c.run(t, "timedatectl", "show", "--property=NTPSynchronized", "--value") == "yes" {
			t.Skip("this machine's clock is synchronised: the certificate is made at once")
		}
		if resp, err := hc.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Fatal("TLS answered with a certificate made from a clock that is not synchronised")
		}
		logs := c.run(t, "journalctl", "-u", "cardstop", "--no-pager")
		if !strings.Contains(logs, "no TLS certificate yet: the clock is not synchronised") {
			t.Errorf("the log does not say why TLS answers nothing:\n%s", logs)
		}
		// An admin who knows the date is right makes it by hand.
		c.run(t, "systemctl", "stop", "cardstop")
		c.run(t, "runuser", "-u", "cardstop", "--", "cardstop", "tls", "create", "--data-dir", "/var/lib/cardstop")
		c.run(t, "systemctl", "start", "cardstop")
	})

	t.Run("readyz, the page and the certificate on the container's own address", func(t *testing.T) {
		var ready map[string]string
		waitFor(t, time.Minute, "/readyz", func() bool {
			resp, err := hc.Get(base + "/readyz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			return json.NewDecoder(resp.Body).Decode(&ready) == nil && ready["database"] == "ok"
		})
		if clk := ready["clock"]; clk != "synchronised" && clk != "not synchronised since boot" {
			t.Errorf("/readyz clock %q: the unit keeps the service from reading the clock's state", clk)
		}
		resp, err := hc.Get(base + "/signin")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("the sign-in page on %s: %d %.200s; want 200 (the service must know its own address)", guestIP, resp.StatusCode, body)
		}
		resp, err = hc.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cert, err := x509Parse(seen)
		if err != nil {
			t.Fatal(err)
		}
		if !cert.names(guestIP) {
			t.Errorf("the certificate names %v; want %s among them", cert.ips, guestIP)
		}
		sum := sha256.Sum256(seen)
		t.Logf("served certificate %s, names %v", hex.EncodeToString(sum[:8]), cert.ips)
	})

	t.Run("exposure", func(t *testing.T) {
		out := c.run(t, "systemd-analyze", "security", "--no-pager", "cardstop.service")
		m := regexp.MustCompile(`Overall exposure level for cardstop\.service: ([0-9.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no exposure level in:\n%s", out)
		}
		score, _ := strconv.ParseFloat(m[1], 64)
		t.Logf("systemd-analyze security: exposure %.1f", score)
		if score > 2.0 {
			t.Errorf("exposure %.1f; want 2.0 or less:\n%s", score, out)
		}
	})

	t.Run("the watchdog restarts a stopped service", func(t *testing.T) {
		pid, restarts := c.show(t, "MainPID"), c.show(t, "NRestarts")
		c.run(t, "kill", "-STOP", pid)
		waitFor(t, 90*time.Second, "a restart by the watchdog", func() bool {
			return c.show(t, "MainPID") != pid && c.show(t, "ActiveState") == "active" && c.show(t, "NRestarts") != restarts
		})
		if logs := c.run(t, "journalctl", "-u", "cardstop", "--no-pager"); !strings.Contains(logs, "Watchdog timeout") {
			t.Errorf("the restart was not the watchdog's:\n%s", logs)
		}
	})

	t.Run("purge", func(t *testing.T) {
		c.run(t, "dpkg", "--purge", "cardstop")
		if out, err := c.try("dpkg", "-s", "cardstop"); err == nil {
			t.Errorf("cardstop is still installed after a purge:\n%s", out)
		}
		if out, _ := c.try("systemctl", "list-unit-files", "--no-legend", "cardstop.service"); out != "" {
			t.Errorf("the unit is still there after a purge: %s", out)
		}
		if resp, err := hc.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			t.Error("the service still answers after a purge")
		}
	})
}

// certNames is what the test reads of a certificate.
type certNames struct{ ips []string }

func (c certNames) names(ip string) bool {
	for _, x := range c.ips {
		if x == ip {
			return true
		}
	}
	return false
}

func x509Parse(der []byte) (certNames, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return certNames{}, err
	}
	var out certNames
	for _, ip := range cert.IPAddresses {
		out.ips = append(out.ips, ip.String())
	}
	return out, nil
}
