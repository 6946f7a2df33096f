//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader/pcsc/pcscdtest"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

func TestReaderList(t *testing.T) {
	pcscdtest.Require(t)
	code, out, stderr := cardstop(t, "", "reader", "list")
	if code != 0 || !strings.Contains(out, pcscdtest.Reader0+"\n"+pcscdtest.Reader1+"\n") {
		t.Fatalf("reader list: exit %d, %q, %q", code, out, stderr)
	}
}

// watchLines runs `cardstop reader watch --json` with the given
// arguments and environment; next returns the next line of the named
// event, skipping others, and fails the test after 5 s without one.
func watchLines(t *testing.T, env []string, args ...string) (cmd *exec.Cmd, next func(event string) map[string]any) {
	t.Helper()
	cmd = exec.Command(binary, append([]string{"reader", "watch", "--json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("not a JSON line: %q", sc.Text())
			}
			lines <- m
		}
		close(lines)
	}()
	return cmd, func(event string) map[string]any {
		t.Helper()
		for {
			select {
			case m, ok := <-lines:
				if !ok {
					t.Fatalf("watch ended before %q", event)
				}
				if m["event"] == event {
					return m
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %q line within 5 s", event)
			}
		}
	}
}

// TestReaderWatchJSON: a site engineer's diagnostic prints one JSON object
// per event, and stops cleanly on Ctrl-C.
func TestReaderWatchJSON(t *testing.T) {
	pcscdtest.Require(t)
	cmd, next := watchLines(t, nil, "--reader", "00 01")
	next("reader-appeared")
	g := guid.New()
	in, err := vcard.Insert(context.Background(), pcscdtest.Addr1, &vcard.PIV{GUID: g})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Remove()
	m := next("inserted")
	id, _ := m["identity"].(map[string]any)
	if m["reader"] != pcscdtest.Reader1 || m["atr"] != "3b80800101" || id["kind"] != "piv" || id["serial"] != "{"+g.String()+"}" {
		t.Fatalf("inserted line: %v", m)
	}
	if ms, ok := m["read_ms"].(float64); !ok || ms <= 0 {
		t.Fatalf("read_ms = %v", m["read_ms"])
	}
	in.Remove()
	next("removed")
	_ = cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("watch did not stop cleanly on SIGINT: %v", err)
	}
}

// TestReaderWatchStalledDuringASwap: the watching process is stopped
// (SIGSTOP) while card A is taken out and card B put in, so pcscd's
// state goes from "present" to "present" again; once it runs on, it
// reports A removed and B inserted, by pcscd's event counter.
func TestReaderWatchStalledDuringASwap(t *testing.T) {
	pcscdtest.Require(t)
	cmd, next := watchLines(t, nil, "--reader", "00 01")
	next("reader-appeared")
	a, b := guid.New(), guid.New()
	in, err := vcard.Insert(context.Background(), pcscdtest.Addr1, &vcard.PIV{GUID: a})
	if err != nil {
		t.Fatal(err)
	}
	if m := next("inserted"); m["identity"].(map[string]any)["serial"] != "{"+a.String()+"}" {
		t.Fatalf("card A: %v", m)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	in.Remove()
	waitReaderState(t, pcscdtest.Reader1, false)
	in, err = vcard.Insert(context.Background(), pcscdtest.Addr1, &vcard.PIV{GUID: b})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Remove()
	waitReaderState(t, pcscdtest.Reader1, true)
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	next("removed")
	if m := next("inserted"); m["identity"].(map[string]any)["serial"] != "{"+b.String()+"}" {
		t.Fatalf("after the swap: %v; want card B", m)
	}
}

// waitReaderState waits until pcscd says the reader holds a card (or not).
func waitReaderState(t *testing.T, name string, present bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pcscdtest.CardPresent(t, name) == present {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pcscd does not say the card is present=%v in %s", present, name)
		}
	}
}

// TestWatcherIdleCPU: `cardstop reader watch` waits without spinning:
// under 2 % of a core over 10 s against a pcscd that has no reader at all
// (every boot before the reader is plugged in), and against one with the
// two vpcd readers and no card. The pcscd without readers is a private
// one, socket-activated in a mount namespace of its own so that it
// cannot touch the shared pcscd's files.
func TestWatcherIdleCPU(t *testing.T) {
	pcscdtest.Require(t)
	const window, limit = 10 * time.Second, 0.02
	private := privatePcscd(t)
	cases := []struct {
		name string
		env  []string
	}{
		{"no reader", []string{"PCSCLITE_CSOCK_NAME=" + private}},
		{"two readers", nil},
	}
	used := make([]time.Duration, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		cmd, _ := watchLines(t, c.env)
		wg.Go(func() {
			time.Sleep(time.Second) // start-up, and the first look at the readers
			before := cpuTime(t, cmd.Process.Pid)
			time.Sleep(window)
			used[i] = cpuTime(t, cmd.Process.Pid) - before
		})
	}
	wg.Wait()
	for i, c := range cases {
		share := used[i].Seconds() / window.Seconds()
		t.Logf("watcher CPU, %s: %s in %s (%.2f %% of a core)", c.name, used[i], window, 100*share)
		if share > limit {
			t.Errorf("watcher CPU, %s: %.1f %% of a core; want under %.0f %%", c.name, 100*share, 100*limit)
		}
	}
}

// cpuTime is the user and system time the process has used.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

// privatePcscd starts a pcscd without readers and returns its socket.
func privatePcscd(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	sock, conf := filepath.Join(dir, "pcscd.comm"), filepath.Join(dir, "readers.d")
	if err := os.Mkdir(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "sh", "-c",
		`mount -t tmpfs none /run/pcscd && exec systemd-socket-activate -l "$0" /usr/sbin/pcscd --foreground -c "$1"`, sock, conf)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("the private pcscd did not listen on %s:\n%s", sock, out.String())
		}
	}
}
