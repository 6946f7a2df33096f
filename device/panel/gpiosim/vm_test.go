package gpiosim

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
	"strconv"
	"strings"
	"testing"
	"time"
)

// kernelEnv names the bzImage to boot; `make test-gpiosim` sets it.
const kernelEnv = "CARDSTOP_GPIOSIM_KERNEL"

// Host files copied into the guest.
const (
	busybox    = "/bin/busybox" // busybox-static
	pcscd      = "/usr/sbin/pcscd"
	vpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	vpcdConf   = "/etc/reader.conf.d/vpcd"
)

// requireVM returns the kernel's path, or skips the test when something
// it needs is missing; under CI=true it fails instead, so that CI cannot
// pass without running it.
func requireVM(t *testing.T) string {
	t.Helper()
	kernel := os.Getenv(kernelEnv)
	var missing []string
	if kernel == "" {
		missing = append(missing, kernelEnv+" (the test kernel)")
	} else if _, err := os.Stat(kernel); err != nil {
		missing = append(missing, err.Error())
	}
	for _, tool := range []string{"qemu-system-x86_64", "cpio", "ldd", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, f := range []string{busybox, pcscd, vpcdDriver, vpcdConf} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ") + "; `make test-gpiosim` builds the kernel, installs the rest and runs this test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return kernel
}

// guest is the booted VM, driven through the command loop (testdata/ctl.sh)
// on its second serial port.
type guest struct {
	conn    net.Conn
	r       *bufio.Reader
	n       int
	broken  error  // the loop stopped answering: every later command fails
	partial string // a line begun when a read timed out
	resent  int    // lines that lost bytes on the way in and were sent again
	console string
	token   string // a viewer token of /data1
}

// boot builds the initramfs (busybox, pcscd with vpcd, cardstop built
// with cgo, vcard, two data directories) and boots it. The VM is killed
// when the test ends.
func boot(t *testing.T, kernel string) *guest {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "proc", "sys", "dev", "tmp", "run", "root", "etc/reader.conf.d"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	cardstop := filepath.Join(root, "usr/local/bin/cardstop")
	goBuild(t, cardstop, "../../../cmd/cardstop", "1")
	goBuild(t, filepath.Join(root, "usr/local/bin/vcard"), "../../../cmd/vcard", "0")
	if libs := copyWithLibs(t, root, cardstop); !strings.Contains(libs, "libpcsclite") {
		t.Fatalf("cardstop was built without PC/SC (no libpcsclite among %s): is cgo working?", libs)
	}
	copyWithLibs(t, root, busybox)
	// glibc loads libgcc_s itself when a thread exits (pcscd's do).
	libc := regexp.MustCompile(`(/\S+/)libc\.so\.6`).FindStringSubmatch(copyWithLibs(t, root, pcscd))
	if libc == nil {
		t.Fatal("ldd pcscd names no libc.so.6")
	}
	copyFile(t, libc[1]+"libgcc_s.so.1", filepath.Join(root, libc[1], "libgcc_s.so.1"), 0o755)
	copyWithLibs(t, root, vpcdDriver)
	copyFile(t, vpcdConf, filepath.Join(root, vpcdConf), 0o644)
	copyFile(t, "testdata/init", filepath.Join(root, "init"), 0o755)
	copyFile(t, "testdata/ctl.sh", filepath.Join(root, "ctl.sh"), 0o644)

	// The databases are made on the host with the same binary: the cards
	// and a viewer token in /data1; /data2 is for a second service.
	g := &guest{console: filepath.Join(dir, "console.log")}
	data1, data2 := filepath.Join(root, "data1"), filepath.Join(root, "data2")
	host(t, cardstop, "import", "--data-dir", data1, "testdata/cards.csv")
	out := host(t, cardstop, "token", "create", "--data-dir", data1, "--role", "viewer", "--name", "gpiosim")
	g.token = strings.TrimSpace(out)
	host(t, cardstop, "token", "create", "--data-dir", data2, "--role", "viewer", "--name", "gpiosim")

	initrd := filepath.Join(dir, "initrd.cpio") // uncompressed: nothing to unpack slowly under TCG
	pack := exec.Command("sh", "-c", "find . | cpio -o -H newc -R 0:0 --quiet > "+initrd)
	pack.Dir = root
	if out, err := pack.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}

	// qemu connects to the test's socket as the guest's ttyS1.
	sock := filepath.Join(dir, "ctl.sock")
	ln, err := net.Listen("unix", sock)
	must(t, err)
	defer ln.Close()
	qlog, err := os.Create(filepath.Join(dir, "qemu.log"))
	must(t, err)
	qemu := exec.Command("qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "2",
		"-nodefaults", "-display", "none", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1",
		"-serial", "file:"+g.console, "-chardev", "socket,id=ctl,path="+sock, "-serial", "chardev:ctl")
	qemu.Stdout, qemu.Stderr = qlog, qlog
	must(t, qemu.Start())
	exited := make(chan struct{})
	go func() { _ = qemu.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = qemu.Process.Kill()
		<-exited
		qlog.Close()
	})
	must(t, ln.(*net.UnixListener).SetDeadline(time.Now().Add(30*time.Second)))
	if g.conn, err = ln.Accept(); err != nil {
		q, _ := os.ReadFile(qlog.Name())
		t.Fatalf("qemu did not connect to %s: %v\n%s", sock, err, q)
	}
	g.r = bufio.NewReader(g.conn)
	t.Cleanup(func() { g.conn.Close() })

	// On failure, show the end of the console and of the guest's logs.
	t.Cleanup(func() {
		if g.resent > 0 {
			t.Logf("%d command lines lost bytes on the way into the guest and were sent again", g.resent)
		}
		if !t.Failed() {
			return
		}
		if c, err := os.ReadFile(g.console); err == nil {
			t.Logf("guest console (end):\n%s", tail(string(c), 60))
		}
		if g.broken == nil {
			if out, _ := g.try(t, "for f in /tmp/*.log; do echo \"== $f\"; tail -n 25 $f; done", 20*time.Second); out != "" {
				t.Logf("guest logs:\n%s", out)
			}
		}
	})

	// Boot takes a few seconds of TCG; the loop says @@READY.
	start := time.Now()
	must(t, g.conn.SetReadDeadline(time.Now().Add(3*time.Minute)))
	for {
		line, err := g.r.ReadString('\n')
		if err != nil {
			g.broken = err
			t.Fatalf("the guest did not start its command loop: %v", err)
		}
		if strings.TrimSpace(line) == "@@READY" {
			break
		}
	}
	t.Logf("guest booted in %v", time.Since(start).Round(time.Millisecond))
	return g
}

// try runs a shell command in the guest and returns its output and exit
// status. A guest that stops answering within timeout fails the test, and
// every later command with it.
func (g *guest) try(t *testing.T, cmd string, timeout time.Duration) (string, int) {
	t.Helper()
	if g.broken != nil {
		t.Fatalf("the guest stopped answering earlier (%v)", g.broken)
	}
	if strings.ContainsAny(cmd, "\n\r") {
		t.Fatalf("a guest command is one line: %q", cmd)
	}
	g.n++
	id := strconv.Itoa(g.n)
	line := fmt.Sprintf("%s %d %s\n", id, len(cmd), cmd)
	send := func() {
		if _, err := io.WriteString(g.conn, line); err != nil {
			g.broken = err
			t.Fatalf("guest: %q: %v", cmd, err)
		}
	}
	must(t, g.conn.SetWriteDeadline(time.Now().Add(timeout)))
	send()
	// Until the guest says it got the line, a silence means the line's end
	// was lost: a newline makes the guest answer @@BAD, and the line is sent
	// again.
	got := false
	var out strings.Builder
	for deadline := time.Now().Add(timeout); ; {
		wait := time.Until(deadline)
		if !got {
			wait = min(wait, 5*time.Second)
		}
		must(t, g.conn.SetReadDeadline(time.Now().Add(wait)))
		l, err := g.r.ReadString('\n')
		if err != nil && !got && time.Now().Before(deadline) && errors.Is(err, os.ErrDeadlineExceeded) {
			g.partial += l
			_, _ = io.WriteString(g.conn, "\n")
			continue
		}
		if err != nil {
			g.broken = err
			t.Fatalf("guest: %q: %v (output so far: %q)", cmd, err, out.String())
		}
		l, g.partial = g.partial+l, ""
		switch {
		case l == "@@BAD\n" && !got:
			g.resent++
			t.Logf("the guest got %q with bytes missing; sending it again", cmd)
			send()
		case l == "@@GOT "+id+"\n":
			got = true
		case strings.HasPrefix(l, "@@END "+id+" "):
			rc, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "@@END "+id+" ")))
			return strings.TrimRight(out.String(), "\n"), rc
		case got:
			out.WriteString(l)
		}
	}
}

// sh runs a command that must succeed and returns its output.
func (g *guest) sh(t *testing.T, cmd string) string {
	t.Helper()
	out, rc := g.try(t, cmd, time.Minute)
	if rc != 0 {
		t.Fatalf("guest: %q: exit %d: %s", cmd, rc, out)
	}
	return out
}

// get fetches an HTTP path from inside the guest, over loopback, with busybox
// nc (its wget crashes here with a timeout set). ok is false for an error or
// a status other than 200; body then says what happened.
func (g *guest) get(t *testing.T, port int, path string, auth bool) (body string, ok bool) {
	t.Helper()
	req := fmt.Sprintf(`GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n`, path, port)
	if auth {
		req += `Authorization: Bearer ` + g.token + `\r\n`
	}
	out, rc := g.try(t, fmt.Sprintf("printf '%s\\r\\n' | timeout 20 nc 127.0.0.1 %d", req, port), time.Minute)
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		return fmt.Sprintf("no HTTP answer (nc exit %d): %v: %q", rc, err, out), false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%s: %s", resp.Status, b), false
	}
	return string(b), true
}

// getJSON fetches a path that must answer 2xx with JSON.
func (g *guest) getJSON(t *testing.T, port int, path string, auth bool, v any) {
	t.Helper()
	body, ok := g.get(t, port, path, auth)
	if !ok {
		t.Fatalf("GET %s: %s", path, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %q", path, err, body)
	}
}

// poll calls f every 200 ms until it returns true or within has passed;
// it reports whether f did.
func poll(within time.Duration, f func() bool) bool {
	for deadline := time.Now().Add(within); ; time.Sleep(200 * time.Millisecond) {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// alive reports whether a guest process exists and is not a zombie.
func (g *guest) alive(t *testing.T, pid int) bool {
	t.Helper()
	_, rc := g.try(t, fmt.Sprintf("alive %d", pid), time.Minute)
	return rc == 0
}

// levels reads the green, amber and red lines once, e.g. "100".
func (g *guest) levels(t *testing.T) string {
	t.Helper()
	return strings.ReplaceAll(g.sh(t, "cat $(sim 17 value) $(sim 27 value) $(sim 22 value)"), "\n", "")
}

// service is a cardstop serve in the guest.
type service struct {
	name string
	pid  int
	port int
}

// serve starts `cardstop serve` in the background, its log in /tmp/NAME.log.
func (g *guest) serve(t *testing.T, name, dataDir string, port int, args ...string) *service {
	t.Helper()
	cmd := fmt.Sprintf("cardstop serve --data-dir %s --listen 127.0.0.1:%d --station-name gpiosim %s >/tmp/%s.log 2>&1 & echo $!",
		dataDir, port, strings.Join(args, " "), name)
	pid, err := strconv.Atoi(g.sh(t, cmd))
	must(t, err)
	return &service{name: name, pid: pid, port: port}
}

// up waits until the service answers /healthz; it fails at once when the
// process has ended.
func (g *guest) up(t *testing.T, s *service) {
	t.Helper()
	var answer string
	ok := poll(time.Minute, func() bool {
		if !g.alive(t, s.pid) {
			t.Fatalf("%s exited: %s", s.name, g.log(t, s))
		}
		var ok bool
		answer, ok = g.get(t, s.port, "/healthz", false)
		return ok
	})
	if !ok {
		t.Fatalf("%s does not answer /healthz (%s): %s", s.name, answer, g.log(t, s))
	}
}

// log returns the end of a service's log.
func (g *guest) log(t *testing.T, s *service) string {
	t.Helper()
	out, _ := g.try(t, "tail -n 15 /tmp/"+s.name+".log", time.Minute)
	return out
}

// stop sends a signal and waits until the process is gone.
func (g *guest) stop(t *testing.T, pid int, signal string) {
	t.Helper()
	g.try(t, fmt.Sprintf("kill -%s %d", signal, pid), time.Minute)
	if !poll(30*time.Second, func() bool { return !g.alive(t, pid) }) {
		t.Fatalf("process %d still runs 30 s after SIG%s", pid, signal)
	}
}

// insert puts a virtual card into vpcd's first reader: vcard ARGS in the
// background; stop(pid, "TERM") takes it out.
func (g *guest) insert(t *testing.T, args string) int {
	t.Helper()
	pid, err := strconv.Atoi(g.sh(t, "vcard --addr 127.0.0.1:35963 "+args+" >>/tmp/vcard.log 2>&1 & echo $!"))
	must(t, err)
	return pid
}

func goBuild(t *testing.T, out, pkg, cgo string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// copyWithLibs copies a host binary or library into the guest's root at
// the same path, with the shared libraries ldd names for it; it returns
// ldd's output.
func copyWithLibs(t *testing.T, root, path string) string {
	t.Helper()
	copyFile(t, path, filepath.Join(root, path), 0o755)
	out, err := exec.Command("ldd", path).CombinedOutput()
	if err != nil { // a static binary: "not a dynamic executable"
		return string(out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				copyFile(t, f, filepath.Join(root, f), 0o755)
				break
			}
		}
	}
	return string(out)
}

// copyFile copies what path points at (symbolic links followed).
func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.MkdirAll(filepath.Dir(to), 0o755))
	must(t, os.WriteFile(to, b, mode))
}

// host runs a command on the host that must succeed and returns its stdout.
func host(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
