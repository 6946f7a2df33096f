// Package systemd tells the service manager how the service is: ready,
// and alive (sd_notify's READY=1 and WATCHDOG=1), when it runs as a unit
// of Type=notify. Outside systemd every call does nothing.
package systemd

import (
	"context"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (e.g. "READY=1") to the service manager; without
// NOTIFY_SOCKET it does nothing.
func Notify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// WatchdogInterval is how often the manager wants to hear WATCHDOG=1
// (WatchdogSec=, passed as WATCHDOG_USEC); zero when it wants nothing.
func WatchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid, err := strconv.Atoi(os.Getenv("WATCHDOG_PID")); err == nil && pid != os.Getpid() {
		return 0 // meant for another process
	}
	return time.Duration(usec) * time.Microsecond
}

// Watchdog sends WATCHDOG=1 three times per interval for as long as alive
// says the service works, until ctx ends. A service that hangs (stopped,
// deadlocked, its database stuck) stops sending, and the manager restarts
// it after the interval.
func Watchdog(ctx context.Context, interval time.Duration, alive func(context.Context) error) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check, cancel := context.WithTimeout(ctx, interval/3)
			err := alive(check)
			cancel()
			if err == nil {
				_ = Notify("WATCHDOG=1")
			}
		}
	}
}
