package systemd

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// listen makes a notify socket for the test and points NOTIFY_SOCKET at it.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func read(t *testing.T, conn *net.UnixConn, limit time.Duration) (string, bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(limit))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

func TestNotify(t *testing.T) {
	conn := listen(t)
	if err := Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
	if got, ok := read(t, conn, 5*time.Second); !ok || got != "READY=1" {
		t.Fatalf("the manager heard %q (%v); want READY=1", got, ok)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Notify("READY=1"); err != nil {
		t.Fatalf("outside systemd Notify must do nothing: %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tt := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"15000000", "", 15 * time.Second},
		{"15000000", strconv.Itoa(os.Getpid()), 15 * time.Second},
		{"15000000", "1", 0},
		{"", "", 0},
		{"-5", "", 0},
		{"soon", "", 0},
	} {
		t.Setenv("WATCHDOG_USEC", tt.usec)
		t.Setenv("WATCHDOG_PID", tt.pid)
		if got := WatchdogInterval(); got != tt.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v; want %v", tt.usec, tt.pid, got, tt.want)
		}
	}
}

// TestWatchdogOnlyWhileAlive: keep-alives go out while the service
// answers, and stop when it does not.
func TestWatchdogOnlyWhileAlive(t *testing.T) {
	conn := listen(t)
	var healthy = make(chan bool, 1)
	healthy <- true
	alive := func(context.Context) error {
		ok := <-healthy
		healthy <- ok
		if !ok {
			return errors.New("stuck")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Watchdog(ctx, 30*time.Millisecond, alive)
	if got, ok := read(t, conn, 5*time.Second); !ok || got != "WATCHDOG=1" {
		t.Fatalf("no keep-alive while alive: %q", got)
	}
	<-healthy
	healthy <- false
	// What was sent before the change drains; then nothing comes.
	for i := 0; ; i++ {
		if _, ok := read(t, conn, 500*time.Millisecond); !ok {
			break
		}
		if i == 100 {
			t.Fatal("keep-alives go on while the service does not answer")
		}
	}
}
