package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage"
)

// seed makes a data directory with an admin token and n active cards.
func seed(t *testing.T, dir string, n int) string {
	t.Helper()
	_, token, _ := cardstop(t, "", "token", "create", "--data-dir", dir, "--role", "admin", "--name", "admin")
	var b strings.Builder
	b.WriteString("Uuid,SerialNumber,Status\n")
	for i := range n {
		fmt.Fprintf(&b, "%08x-0000-4000-8000-000000000000,{%08x-1111-4111-8111-111111111111},Active\n", i+1, i+1)
	}
	if code, _, stderr := cardstop(t, b.String(), "import", "--data-dir", dir, "-"); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	return strings.TrimSpace(token)
}

func cardID(i int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", i+1) }

// disable runs the two calls of a disable: create the request, change the card.
func (s *server) disable(t *testing.T, token string, i int) (int, string) {
	t.Helper()
	code, body := s.call(t, token, "POST", "/CertificateManagement/api/v1.0/requests", `{"type":"Disable","smartcard":"`+cardID(i)+`"}`)
	if code != 201 {
		return code, body
	}
	var uri string
	_ = json.Unmarshal([]byte(body), &uri)
	return s.call(t, token, "PUT", "/CertificateManagement/api/v1.0/"+strings.TrimPrefix(uri, "api/v1.0/")+"/smartcards/"+cardID(i), `{"status":"Disabled"}`)
}

// TestDamagedDatabase: the start-up check finds a damaged file; the
// service says so and refuses every change rather than guess.
func TestDamagedDatabase(t *testing.T) {
	dir := t.TempDir()
	token := seed(t, dir, 400)
	path := filepath.Join(dir, storage.FileName)
	// Damage the audit log's root page, which the check must read: its
	// header's page number and flags.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	db.View(func(tx *bolt.Tx) error {
		root, pageSize = int64(tx.Bucket([]byte("audit")).Root()), int64(db.Info().PageSize)
		return nil
	})
	db.Close()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x55, 0xaa}, root*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// bbolt's check panics on this page; cardstop check says so in one
	// line, with exit status 3, and restore refuses it as a backup.
	code, _, stderr := cardstop(t, "", "check", "--data-dir", dir)
	if code != 3 || !strings.HasPrefix(stderr, "cardstop: the database is damaged: ") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("cardstop check of a damaged file: exit %d, %q", code, stderr)
	}
	empty := filepath.Join(t.TempDir(), "new")
	code, _, stderr = cardstop(t, "", "restore", "--data-dir", empty, path)
	if code != 1 || !strings.Contains(stderr, "cannot be used; nothing was changed") || !strings.Contains(stderr, path) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("restore of a damaged backup: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(empty); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused restore made the data directory: %v", err)
	}
	srv := startServer(t, dir)
	// The check runs beside serving: wait for its verdict.
	if line := srv.waitLog(t, time.Minute, "database check", "DATABASE FAILED"); !strings.Contains(line, "DATABASE FAILED") {
		t.Fatalf("the start-up check's verdict on a damaged file: %s", line)
	}
	code, body := srv.call(t, token, "GET", "/readyz", "")
	if code != 503 || !strings.Contains(body, `"database":"damaged`) {
		t.Fatalf("readyz of a damaged database: %d %s", code, body)
	}
	code, body = srv.disable(t, token, 0)
	if code != 503 || !strings.Contains(body, "changes are refused") || !strings.Contains(body, "CorrelationId") {
		t.Fatalf("a change on a damaged database: %d %s", code, body)
	}
}

// TestWriteFailures: when the disk refuses a write, a change fails with a
// 500 and a correlation id, and nothing is half-written; once the disk
// works again so do changes; every change answered 200 is on the device,
// the file passes its check and the audit chain is intact. Two failures,
// both real:
//   - disk full: the data directory on a small tmpfs, filled; the
//     commit's write fails with ENOSPC, and once there is room the same
//     server goes on;
//   - fsync fails: the data directory on ext4 (with its journal, and
//     errors=remount-ro as on the appliance) in a loop device whose
//     backing file sits on a small tmpfs, filled: the commit's writes land
//     in the page cache and its fdatasync fails when the loop device
//     cannot write. ext4 then turns read-only, so every change fails until
//     it is mounted again, as at the next boot; after that a new server
//     goes on. What is checked is read from the device, after mounting it
//     again, not from the page cache.
//
// Both need root (mount, loop devices).
func TestWriteFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cause string // a regexp of the error the log gives for the first failed change
		// mount prepares a data directory and returns it, the directory to
		// fill, and for a device of its own, how to mount it again.
		mount func(t *testing.T) (data, fill string, remount func())
	}{
		{"disk full", `"err":"[a-z ]+: write /\S+: no space left on device"`, // the write's error
			func(t *testing.T) (string, string, func()) {
				mnt := mountTmpfs(t, "2m")
				return filepath.Join(mnt, "data"), mnt, nil
			}},
		{"fsync fails", `"err":"[a-z ]+: (no space left on device|input/output error)"`, // a bare errno: fdatasync's, as a write's names the file
			func(t *testing.T) (string, string, func()) {
				outer := mountTmpfs(t, "16m")
				backing := filepath.Join(outer, "ext4.img")
				if out, err := exec.Command("truncate", "-s", "64M", backing).CombinedOutput(); err != nil {
					t.Fatalf("truncate: %v %s", err, out)
				}
				if out, err := exec.Command("mkfs.ext4", "-q", "-F", backing).CombinedOutput(); err != nil {
					t.Fatalf("mkfs.ext4: %v %s", err, out)
				}
				inner := t.TempDir()
				mount := func() error {
					out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", backing, inner).CombinedOutput()
					if err != nil {
						return fmt.Errorf("mount a loop device: %v %s", err, out)
					}
					return nil
				}
				if err := mount(); err != nil {
					needRoot(t, err)
				}
				t.Cleanup(func() { exec.Command("umount", inner).Run() }) // before the outer tmpfs's
				return filepath.Join(inner, "data"), outer, func() {
					if out, err := exec.Command("umount", inner).CombinedOutput(); err != nil {
						t.Fatalf("umount: %v %s", err, out)
					}
					if err := mount(); err != nil {
						t.Fatal(err)
					}
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, fill, remount := tc.mount(t)
			token := seed(t, dir, 50)
			srv := startServer(t, dir)
			if code, body := srv.disable(t, token, 0); code != 200 {
				t.Fatalf("a change with room: %d %s", code, body)
			}
			filler := filepath.Join(fill, "filler")
			out, _ := exec.Command("dd", "if=/dev/zero", "of="+filler, "bs=4k").CombinedOutput()
			if !strings.Contains(string(out), "No space left") {
				t.Fatalf("could not fill %s: %s", fill, out)
			}
			failed := -1
			for i := 1; i < 50 && failed < 0; i++ {
				code, body := srv.disable(t, token, i)
				switch {
				case code == 500:
					if !strings.Contains(body, "CorrelationId") || strings.Contains(body, "no space") {
						t.Fatalf("the 500 says %s; want a correlation id and no internals", body)
					}
					failed = i
				case code != 200 && code != 201:
					t.Fatalf("change %d on a full disk: %d %s", i, code, body)
				}
			}
			if failed < 0 {
				t.Fatal("no change failed")
			}
			if line := srv.waitLog(t, 10*time.Second, `"request failed"`); !regexp.MustCompile(tc.cause).MatchString(line) {
				t.Fatalf("the log says %s; want %q", line, tc.cause)
			}
			if code, body := srv.call(t, token, "GET", "/CertificateManagement/api/v1.0/smartcards/"+cardID(failed), ""); code != 200 || !strings.Contains(body, `"Status":3`) {
				t.Fatalf("the card whose change failed: %d %s", code, body)
			}
			os.Remove(filler)
			if remount != nil {
				if code, body := srv.disable(t, token, failed); code != 500 {
					t.Fatalf("a change on the file system that turned read-only: %d %s", code, body)
				}
				srv.stop(t)
				remount() // as the next boot would
				srv = startServer(t, dir)
			}
			if code, body := srv.disable(t, token, failed); code != 200 || !strings.Contains(body, `"Status":4`) {
				t.Fatalf("the change once the disk works again: %d %s", code, body)
			}
			srv.stop(t)
			if remount != nil {
				remount() // read what reached the device, not the page cache
			}
			if code, out, stderr := cardstop(t, "", "check", "--data-dir", dir); code != 0 {
				t.Fatalf("check after the failure: %s %s", out, stderr)
			}
			if code, out, stderr := cardstop(t, "", "audit", "verify", "--data-dir", dir); code != 0 {
				t.Fatalf("audit after the failure: %s %s", out, stderr)
			}
			// Every change that was answered 200 is there.
			_, export, _ := cardstop(t, "", "export", "--data-dir", dir)
			var cards []struct {
				Uuid   string
				Status int
			}
			if err := json.Unmarshal([]byte(export), &cards); err != nil {
				t.Fatalf("export: %v", err)
			}
			disabled := map[string]bool{}
			for _, c := range cards {
				disabled[c.Uuid] = c.Status == 4 // Disabled
			}
			for i := 0; i <= failed; i++ {
				if !disabled[cardID(i)] {
					t.Errorf("card %d was answered 200 and is not Disabled in the file", i)
				}
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of the size on a new directory until the test ends.
func mountTmpfs(t *testing.T, size string) string {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		needRoot(t, fmt.Errorf("mount a tmpfs: %w", err))
	}
	t.Cleanup(func() { syscall.Unmount(mnt, 0) })
	return mnt
}

// needRoot fails in CI, which runs as root, and skips elsewhere.
func needRoot(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	t.Skipf("needs root: %v", err)
}

// TestGracefulStop: on SIGTERM, serve stops taking requests but finishes
// the one in flight, whose change is then on disk, and exits 0.
func TestGracefulStop(t *testing.T) {
	dir := t.TempDir()
	token := seed(t, dir, 3)
	srv := startServer(t, dir)
	code, body := srv.call(t, token, "POST", "/CertificateManagement/api/v1.0/requests", `{"type":"Disable","smartcard":"`+cardID(1)+`"}`)
	if code != 201 {
		t.Fatalf("create the request: %d %s", code, body)
	}
	var uri string
	json.Unmarshal([]byte(body), &uri)
	// A PUT whose body is half sent when the signal comes.
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /CertificateManagement/%s/smartcards/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 21\r\n\r\n{\"status\":", uri, cardID(1), strings.TrimPrefix(srv.base, "http://"), token)
	waitRead(t, conn)
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	srv.waitLog(t, 10*time.Second, "stopping: finishing requests in flight")
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.base, "http://"), time.Second); err == nil {
		t.Error("serve still accepts connections while stopping")
	}
	io.WriteString(conn, `"Disabled"}`)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(answer), `"Status":4`) {
		t.Fatalf("the request in flight: %d %s", resp.StatusCode, answer)
	}
	<-srv.eof
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("serve did not exit 0: %v", err)
	}
	if _, out, _ := cardstop(t, "", "export", "--data-dir", dir); !regexp.MustCompile(`"Uuid": "` + cardID(1) + `",\s+"Status": 4`).MatchString(out) {
		t.Fatalf("the change made while stopping is not in the file:\n%s", out)
	}
}

// waitRead waits until the server has read all that was sent on conn, a
// TCP connection to it over IPv4: its end of the connection, in the
// kernel's table, has nothing left to read. The request is then in the
// server's hands, not in the kernel's queue of connections to accept.
func waitRead(t *testing.T, conn net.Conn) {
	t.Helper()
	hexAddr := func(a net.Addr) string {
		ta, ok := a.(*net.TCPAddr)
		if !ok || ta.IP.To4() == nil {
			t.Fatalf("waitRead needs an IPv4 connection, not %v", a)
		}
		ip := ta.IP.To4()
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], ta.Port) // as /proc/net/tcp writes it
	}
	server, client := hexAddr(conn.RemoteAddr()), hexAddr(conn.LocalAddr())
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		table, err := os.ReadFile("/proc/net/tcp")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(table), "\n")[1:] {
			// sl local_address rem_address st tx_queue:rx_queue ...
			f := strings.Fields(line)
			if len(f) > 4 && f[1] == server && f[2] == client {
				if _, rx, _ := strings.Cut(f[4], ":"); strings.Trim(rx, "0") == "" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not read the request sent to it")
		}
	}
}
