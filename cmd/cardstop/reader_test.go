//go:build cgo

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader/pcsc/pcscdtest"
	"github.com/cardstop/cardstop/device/vcard"
	"github.com/cardstop/cardstop/storage/guid"
)

func TestReaderList(t *testing.T) {
	pcscdtest.Require(t)
	code, out, stderr := cardstop(t, "", "reader", "list")
	if code != 0 || !strings.Contains(out, pcscdtest.Reader0+"\n"+pcscdtest.Reader1+"\n") {
		t.Fatalf("reader list: exit %d, %q, %q", code, out, stderr)
	}
}

// TestReaderWatchJSON: a site engineer's diagnostic prints one JSON object
// per event, and stops cleanly on Ctrl-C.
func TestReaderWatchJSON(t *testing.T) {
	pcscdtest.Require(t)
	cmd := exec.Command(binary, "reader", "watch", "--reader", "00 01", "--json")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan map[string]any)
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
	next := func(event string) map[string]any {
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
