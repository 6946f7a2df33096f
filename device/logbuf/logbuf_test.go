package logbuf

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// dest counts the writes that reach it.
type dest struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	err    error
}

func (d *dest) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.writes++
	d.buf.Write(p)
	return len(p), d.err
}

func (d *dest) state() (string, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String(), d.writes
}

func TestLinesWaitAtMostDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &dest{}
		w := New(d)
		log := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn))
		for i := range 100 {
			log.Info("http", "n", i)
		}
		if got, n := d.state(); n != 0 || got != "" {
			t.Fatalf("written before the delay: %d writes", n)
		}
		time.Sleep(Delay - time.Millisecond)
		synctest.Wait()
		if _, n := d.state(); n != 0 {
			t.Fatalf("written before the delay: %d writes", n)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		got, n := d.state()
		if n != 1 || strings.Count(got, "\n") != 100 || !strings.Contains(got, "n=99\n") {
			t.Fatalf("after the delay: %d writes of %d lines; want 1 of 100", n, strings.Count(got, "\n"))
		}
	})
}

func TestWarningsAreWrittenAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &dest{}
		w := New(d)
		log := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("service", "cardstop")
		log.Info("before")
		log.Error("the disk is full")
		got, n := d.state()
		if n != 1 || !strings.Contains(got, "msg=before") || !strings.Contains(got, "the disk is full") || !strings.Contains(got, "service=cardstop") {
			t.Fatalf("after an error: %d writes: %q", n, got)
		}
	})
}

func TestBurstIsWrittenWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := &dest{}
		w := New(d)
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for range maxBuffered / len(line) {
			w.Write(line)
		}
		synctest.Wait() // no time passes: the flush does not wait for Delay
		if got, n := d.state(); n != 1 || len(got) != maxBuffered {
			t.Fatalf("a full buffer: %d writes of %d bytes; want one of %d", n, len(got), maxBuffered)
		}
	})
}

// TestSlowDestinationHoldsWriters: at four times maxBuffered a Write waits
// for the destination rather than gather without end.
func TestSlowDestinationHoldsWriters(t *testing.T) {
	d := &dest{}
	w := New(d)
	d.mu.Lock() // the destination hangs
	line := []byte(strings.Repeat("y", 1023) + "\n")
	wrote := make(chan int)
	go func() {
		n := 0
		for ; n < 8*maxBuffered/len(line); n++ {
			w.Write(line)
		}
		wrote <- n
	}()
	select {
	case n := <-wrote:
		t.Fatalf("%d lines gathered while the destination hung", n)
	case <-time.After(200 * time.Millisecond):
	}
	d.mu.Unlock()
	<-wrote
	w.Flush()
	if got, _ := d.state(); len(got) != 8*maxBuffered {
		t.Fatalf("%d bytes written; want %d", len(got), 8*maxBuffered)
	}
}

func TestWriteErrorIsReported(t *testing.T) {
	d := &dest{err: errors.New("journal gone")}
	w := New(d)
	w.Write([]byte("a\n"))
	if err := w.Flush(); err == nil {
		t.Fatal("Flush hid the destination's error")
	}
	if _, err := w.Write([]byte("b\n")); err == nil {
		t.Fatal("Write hid the earlier error")
	}
}
