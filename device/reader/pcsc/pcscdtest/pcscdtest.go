// Package pcscdtest gives tests a real pcscd with the vsmartcard vpcd
// reader. `make test` starts pcscd (or reuses a running one) and names the
// PID file of the one it started in CARDSTOP_PCSCD_PIDFILE; tests may stop
// and start only that one.
package pcscdtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader/pcsc"
)

// The vpcd readers, as Debian's vsmartcard-vpcd names them.
const (
	Reader0 = "Virtual PCD 00 00"
	Reader1 = "Virtual PCD 00 01"
)

// The card ports of the two readers: 35963 and 35964, as Debian's
// vsmartcard-vpcd sets them up, unless VPCDPortEnv names another first
// port (a private pcscd, whose socket PCSCLITE_CSOCK_NAME names).
var Addr0, Addr1 = vpcdAddrs()

// VPCDPortEnv names the variable that holds the first vpcd port of a
// pcscd other than the system's.
const VPCDPortEnv = "CARDSTOP_VPCD_PORT"

func vpcdAddrs() (string, string) {
	port := 35963
	if p, err := strconv.Atoi(os.Getenv(VPCDPortEnv)); err == nil && p > 0 && p < 65535 {
		port = p
	}
	return "127.0.0.1:" + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port+1)
}

// PIDFileEnv names the variable that holds the PID file of the pcscd that
// `make test` started.
const PIDFileEnv = "CARDSTOP_PCSCD_PIDFILE"

// unavailable fails the test in CI, where pcscd must be there, and skips
// it elsewhere, saying how to get it.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI needs it: run the tests through make test", why)
	}
	t.Skipf("%s; make test installs and starts it", why)
}

// Require waits up to 5 s for pcscd to list the vpcd readers.
func Require(t testing.TB) {
	t.Helper()
	names, err := waitReaders(5 * time.Second)
	if err != nil {
		unavailable(t, "pcscd with the vpcd reader is not available: "+err.Error())
	}
	if !slices.Contains(names, Reader0) || !slices.Contains(names, Reader1) {
		unavailable(t, "pcscd does not list the vpcd readers (is vsmartcard-vpcd installed?); it lists "+strings.Join(names, ", "))
	}
}

func waitReaders(limit time.Duration) ([]string, error) {
	deadline := time.Now().Add(limit)
	for {
		names, err := pcsc.List()
		if err == nil && len(names) > 0 || errors.Is(err, pcsc.ErrNotBuiltIn) || time.Now().After(deadline) {
			return names, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pidFile returns the PID file of a pcscd this test run may stop.
func pidFile(t testing.TB) string {
	t.Helper()
	f := os.Getenv(PIDFileEnv)
	if f == "" {
		unavailable(t, "this test stops and starts pcscd, and may do so only with the one make test started ("+PIDFileEnv+" is not set)")
	}
	return f
}

// Stop ends the pcscd that make test started and waits until it is gone.
// Should the test end without calling Start, its cleanup starts pcscd, so
// the tests after it find one.
func Stop(t testing.TB) {
	t.Helper()
	f := pidFile(t)
	t.Cleanup(func() {
		if _, err := pcsc.List(); err != nil {
			Start(t)
		}
	})
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("PID file %s: %v", f, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("stop pcscd %d: %v", pid, err)
	}
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("pcscd %d did not end", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start starts pcscd again, records its PID where make test will find it,
// and waits until it lists the readers.
func Start(t testing.TB) {
	t.Helper()
	f := pidFile(t)
	log, err := os.OpenFile(filepath.Join(filepath.Dir(f), "pcscd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command("/usr/sbin/pcscd", "--foreground")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this test binary; make test stops it
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait() // reap it should it end while we run
	if _, err := waitReaders(5 * time.Second); err != nil {
		t.Fatalf("pcscd did not come back: %v", err)
	}
}
