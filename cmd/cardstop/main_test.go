package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage"
)

var binary string

// TestMain builds the real binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	if body := os.Getenv("CARDSTOP_BARE_SERVER_BODY"); body != "" {
		bareServer(body) // the performance test's comparison server, in a process of its own
		return
	}
	dir, err := os.MkdirTemp("", "cardstop-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "cardstop")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cardstop runs the binary and returns its exit status, stdout and stderr.
func cardstop(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "CARDSTOP_DATA_DIR=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

var examples = filepath.Join("..", "..", "docs", "examples", "cards.json")

func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	// A database to refuse things in: revoke and remove never create one.
	if code, _, stderr := cardstop(t, "", "token", "create", "--data-dir", dir, "--role", "viewer", "--name", "seed"); code != 0 {
		t.Fatalf("token create: %d %s", code, stderr)
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("Uuid,SerialNumber,Status\n17cf063d-e337-4aa9-a822-346554ddd3c9,{a},Active\nnot-a-guid,{b},Active\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"token without verb", []string{"token"}, 2, "create, list or revoke"},
		{"token create without role", []string{"token", "create", "--data-dir", dir, "--name", "x"}, 2, "needs --role and --name"},
		{"token create bad role", []string{"token", "create", "--data-dir", dir, "--name", "x", "--role", "root"}, 2, `unknown role "root"`},
		{"unknown flag", []string{"export", "--data-dir", dir, "--colour"}, 2, "flag provided but not defined"},
		{"import without file", []string{"import", "--data-dir", dir}, 2, "takes 1 argument"},
		{"import missing file", []string{"import", "--data-dir", dir, filepath.Join(dir, "nope.json")}, 1, "no such file"},
		{"import bad row", []string{"import", "--data-dir", dir, bad}, 1, "line 3: uuid must be a GUID"},
		{"revoke unknown token", []string{"token", "revoke", "--data-dir", dir, "ghost"}, 1, `no token is named "ghost"`},
		{"serve with a missing TLS key", []string{"serve", "--data-dir", dir, "--listen", "0.0.0.0:0", "--tls-cert", filepath.Join(dir, "c.pem")}, 1, "TLS certificate"},
		{"help", []string{"serve", "--help"}, 0, "usage: cardstop serve"},
		{"upstream without a token", []string{"serve", "--data-dir", dir, "--upstream", "https://hub:8443/CertificateManagement/api/v1.0"}, 2, "needs --upstream-token-file"},
		{"upstream that is no URL", []string{"serve", "--data-dir", dir, "--upstream", "hub", "--upstream-token-file", bad}, 2, "want the API base"},
		{"token file without upstream", []string{"serve", "--data-dir", dir, "--upstream-token-file", bad}, 2, "need --upstream"},
		{"webhook without a secret", []string{"serve", "--data-dir", dir, "--webhook", "https://siem.example/hook"}, 2, "needs --webhook-secret-file"},
		{"webhook in plain http", []string{"serve", "--data-dir", dir, "--webhook", "http://siem.example/hook", "--webhook-secret-file", bad}, 2, "plain http only to a loopback address"},
		{"user without verb", []string{"user"}, 2, "add, passwd, list or remove"},
		{"user add without role", []string{"user", "add", "--data-dir", dir, "ann"}, 2, `unknown role ""`},
		{"user add without password", []string{"user", "add", "--data-dir", dir, "ann", "--role", "viewer"}, 1, "no password on standard input"},
		{"user passwd unknown", []string{"user", "passwd", "--data-dir", dir, "ghost"}, 1, "no password"},
		{"user remove unknown", []string{"user", "remove", "--data-dir", dir, "ghost"}, 1, `no user is named "ghost"`},
		{"version with an argument", []string{"version", "extra"}, 2, "takes 0 argument"},
		{"check with a file", []string{"check", "--data-dir", dir, "some.db"}, 2, "takes no file but -"},
		{"check of an image that is none", []string{"check", "-"}, 3, "not a readable database"},
		{"internal-check without a file", []string{"internal-check"}, 2, "internal-check PATH [--audit]"},
		{"internal-check with a wrong flag", []string{"internal-check", bad, "--all"}, 2, "internal-check PATH [--audit]"},
		{"audit verify of a file that is no log", []string{"audit", "verify", bad}, 1, "line 1 is not an audit event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cardstop(t, "", tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
		})
	}
	// The bad import changed nothing.
	if code, out, stderr := cardstop(t, "", "export", "--data-dir", dir); code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("export after failed import: %d %q %q", code, out, stderr)
	}
}

func TestUserCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out, stderr := cardstop(t, "a long passphrase\n", "user", "add", "--data-dir", dir, "ann", "--role", "operator"); code != 0 || !strings.Contains(out, `added operator "ann"`) {
		t.Fatalf("user add: %d %q %q", code, out, stderr)
	}
	if code, _, stderr := cardstop(t, "short\n", "user", "add", "--data-dir", dir, "bob", "--role", "viewer"); code != 1 || !strings.Contains(stderr, "at least 10 characters") {
		t.Fatalf("user add with a short password: %d %q", code, stderr)
	}
	if code, _, stderr := cardstop(t, "another long one\n", "user", "passwd", "--data-dir", dir, "ann"); code != 0 {
		t.Fatalf("user passwd: %d %q", code, stderr)
	}
	if code, out, _ := cardstop(t, "", "user", "list", "--data-dir", dir); code != 0 || !strings.Contains(out, "ann   operator") || strings.Contains(out, "argon2") {
		t.Fatalf("user list: %d %q", code, out)
	}
	if code, _, stderr := cardstop(t, "", "user", "remove", "--data-dir", dir, "ann"); code != 0 {
		t.Fatalf("user remove: %d %q", code, stderr)
	}
}

// server is a running `cardstop serve`.
type server struct {
	cmd  *exec.Cmd
	base string
	log  logBuffer     // what serve logged, shown when the test fails
	eof  chan struct{} // closed when serve's stderr is read to its end
}

// logBuffer collects the first MiB of a server's log while the test
// reads it: enough for start-up and the requests of a functional test,
// bounded under a load test's access log.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 1<<20 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startServer(t *testing.T, dir string, extra ...string) *server {
	t.Helper()
	return startServerEnv(t, nil, dir, extra...)
}

// startServerEnv is startServer with more environment variables (env,
// "NAME=value" each) for serve.
func startServerEnv(t *testing.T, env []string, dir string, extra ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dir, "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, eof: make(chan struct{})}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("serve's log:\n%s", s.log.String())
		}
	})
	lines := bufio.NewScanner(io.TeeReader(stderr, &s.log))
	url := regexp.MustCompile(`"url":"(https?://[0-9.:\[\]]+)`) // serve logs JSON when stderr is no terminal
	for lines.Scan() {
		if m := url.FindStringSubmatch(lines.Text()); m != nil {
			s.base = m[1]
			break
		}
	}
	go func() { io.Copy(&s.log, stderr); close(s.eof) }()
	if s.base == "" {
		t.Fatal("the server did not say where it listens")
	}
	return s
}

// waitLog waits for a log line holding one of the words and returns it.
func (s *server) waitLog(t *testing.T, limit time.Duration, words ...string) string {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(s.log.String(), "\n") {
			for _, w := range words {
				if strings.Contains(line, w) {
					return line
				}
			}
		}
	}
	t.Fatalf("serve logged none of %q in %v", words, limit)
	return ""
}

func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	<-s.eof // Wait closes the pipe: read it to its end first
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("serve did not stop cleanly on SIGTERM: %v", err)
	}
}

func (s *server) call(t *testing.T, token, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestREADMEWalkthrough follows the README: token, import, serve, the
// documented retire exchange, then restart and export/import round trip.
func TestREADMEWalkthrough(t *testing.T) {
	dir := t.TempDir()
	code, token, stderr := cardstop(t, "", "token", "create", "--data-dir", dir, "--role", "admin", "--name", "admin")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "cst_") || strings.Contains(token, "\n") {
		t.Fatalf("token create: %d %q %q", code, token, stderr)
	}
	if code, out, stderr := cardstop(t, "", "import", "--data-dir", dir, examples); code != 0 || !strings.Contains(out, "imported 2 cards") {
		t.Fatalf("import: %d %q %q", code, out, stderr)
	}

	srv := startServer(t, dir)
	if code, _, stderr := cardstop(t, "", "token", "list", "--data-dir", dir); code != 1 || !strings.Contains(stderr, "in use by another process") {
		t.Fatalf("token list while serving: exit %d, %q; want a quick 'in use' error", code, stderr)
	}
	const card = "17cf063d-e337-4aa9-a822-346554ddd3c9"
	code, body := srv.call(t, token, "GET", "/CertificateManagement/api/v1.0/smartcards?cardid=bc88f13f-83ba-4037-8262-46eba1291c6e", "")
	if code != 200 || !strings.Contains(body, `"Uuid":"`+card+`"`) {
		t.Fatalf("find card: %d %s", code, body)
	}
	code, body = srv.call(t, token, "POST", "/CertificateManagement/api/v1.0/requests",
		`{"type":"Retire","smartcard":"`+card+`","datacollection":[],"comment":"README"}`)
	var uri string
	if code != 201 || json.Unmarshal([]byte(body), &uri) != nil || !strings.HasPrefix(uri, "api/v1.0/requests/") {
		t.Fatalf("create request: %d %s", code, body)
	}
	req := strings.TrimPrefix(uri, "api/v1.0/requests/")
	code, body = srv.call(t, token, "PUT", "/certificatemanagement/api/v1.0/requests/"+req+"/smartcards/"+card, `{"status":"Retired"}`)
	want := `{"Uuid":"17cf063d-e337-4aa9-a822-346554ddd3c9","Status":6,"Flags":1,"ParentSmartcardUuid":"00000000-0000-0000-0000-000000000000","PrimarySmartcardUuid":"00000000-0000-0000-0000-000000000000","PermanentSmartcardUuid":"00000000-0000-0000-0000-000000000000","AssignedUserUuid":"8f1590dc-d932-4b66-8e68-2e91c5880780","ProfileTemplateUuid":"a039b4d0-5ce8-4eff-8651-181c6576fda3","ProfileTemplateVersion":46,"Comment":"","SerialNumber":"{bc88f13f-83ba-4037-8262-46eba1291c6e}","Middleware":"MSBaseCSP","Atr":"3b8d0180fba000000397425446590301c8"}`
	if code != 200 || body != want {
		t.Fatalf("retire: %d %s", code, body)
	}
	code, body = srv.call(t, token, "PUT", "/certificatemanagement/api/v1.0/requests/"+req, `{"status":"Completed"}`)
	if code != 200 || !strings.Contains(body, `"Status":8`) {
		t.Fatalf("complete: %d %s", code, body)
	}
	srv.stop(t)

	// After a restart the retirement is still there.
	srv = startServer(t, dir)
	if code, body := srv.call(t, token, "GET", "/CertificateManagement/api/v1.0/smartcards/"+card, ""); code != 200 || body != want {
		t.Fatalf("after restart: %d %s", code, body)
	}
	srv.stop(t)

	// export | import into a new directory | export gives the same bytes.
	code, exported, stderr := cardstop(t, "", "export", "--data-dir", dir)
	if code != 0 || !strings.Contains(exported, `"Status": 6`) {
		t.Fatalf("export: %d %q", code, stderr)
	}
	other := t.TempDir()
	if code, _, stderr := cardstop(t, exported, "import", "--data-dir", other, "-"); code != 0 {
		t.Fatalf("import from stdin: %d %q", code, stderr)
	}
	if _, again, _ := cardstop(t, "", "export", "--data-dir", other); again != exported {
		t.Fatalf("export after import differs:\n%s\n---\n%s", exported, again)
	}
}

// TestServeTLSOffLoopback: on any address but loopback the service speaks
// TLS with the certificate `tls create` made; plain HTTP only with
// --insecure-http. The test connects over loopback only.
func TestServeTLSOffLoopback(t *testing.T) {
	dir := t.TempDir()
	code, fp, stderr := cardstop(t, "", "tls", "create", "--data-dir", dir)
	if code != 0 || !strings.HasPrefix(fp, "SHA256 Fingerprint=") {
		t.Fatalf("tls create: %d %q %q", code, fp, stderr)
	}
	srv := startServer(t, dir, "--listen", "0.0.0.0:0")
	port := srv.base[strings.LastIndex(srv.base, ":")+1:]
	if !strings.HasPrefix(srv.base, "https://") {
		t.Fatalf("off loopback the server says %s", srv.base)
	}
	var seen string
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // self-signed: the fingerprint is checked instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			seen = strings.ToUpper(hex.EncodeToString(sum[:]))
			return nil
		}}}}
	resp, err := client.Get("https://127.0.0.1:" + port + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(fp), "SHA256 Fingerprint="), ":", ""); seen != want {
		t.Fatalf("the server's certificate %s is not the one tls create printed (%s)", seen, want)
	}
	if resp, err := http.Get("http://127.0.0.1:" + port + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP was answered off loopback")
	}
	srv.stop(t)

	insecure := startServer(t, dir, "--listen", "0.0.0.0:0", "--insecure-http")
	port = insecure.base[strings.LastIndex(insecure.base, ":")+1:]
	if resp, err := http.Get("http://127.0.0.1:" + port + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("--insecure-http: %v", err)
	}
}

// TestBackupRestoreAudit: a backup taken while serving and one taken
// offline restore to the same cards; the audit tools find tampering.
func TestBackupRestoreAudit(t *testing.T) {
	dir := t.TempDir()
	_, token, _ := cardstop(t, "", "token", "create", "--data-dir", dir, "--role", "admin", "--name", "admin")
	token = strings.TrimSpace(token)
	cardstop(t, "", "import", "--data-dir", dir, examples)
	srv := startServer(t, dir)
	req, err := http.NewRequest("GET", srv.base+"/api/admin/backup", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	online, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" || len(online) < 4096 {
		t.Fatalf("online backup: %d %s, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(online))
	}
	srv.stop(t)
	onlineFile := filepath.Join(t.TempDir(), "online.db")
	if err := os.WriteFile(onlineFile, online, 0o600); err != nil {
		t.Fatal(err)
	}
	offlineFile := filepath.Join(t.TempDir(), "offline.db")
	if code, _, stderr := cardstop(t, "", "backup", "--data-dir", dir, offlineFile); code != 0 {
		t.Fatalf("backup: %d %s", code, stderr)
	}
	_, want, _ := cardstop(t, "", "export", "--data-dir", dir)
	for _, file := range []string{onlineFile, offlineFile} {
		other := t.TempDir()
		if code, out, stderr := cardstop(t, "", "restore", "--data-dir", other, file); code != 0 || !strings.Contains(out, "restored") {
			t.Fatalf("restore %s: %d %s", file, code, stderr)
		}
		if _, got, _ := cardstop(t, "", "export", "--data-dir", other); got != want {
			t.Fatalf("export after restoring %s differs:\n%s\n---\n%s", file, got, want)
		}
		if code, out, _ := cardstop(t, "", "audit", "verify", "--data-dir", other); code != 0 || !strings.HasPrefix(out, "ok: ") {
			t.Fatalf("audit verify after restore: %d %s", code, out)
		}
	}
	// A file that is not a database is refused and changes nothing.
	junk := filepath.Join(t.TempDir(), "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o600)
	if code, _, stderr := cardstop(t, "", "restore", "--data-dir", dir, junk); code != 1 || !strings.Contains(stderr, "cannot be used; nothing was changed") {
		t.Fatalf("restore junk: %d %s", code, stderr)
	}

	// Export the log, then edit, remove and reorder events, or cut off the
	// newest: verify finds each, given the last hash the export printed.
	_, log, said := cardstop(t, "", "audit", "export", "--data-dir", dir)
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) < 3 {
		t.Fatalf("exported %d events", len(lines))
	}
	var newest storage.Event
	json.Unmarshal([]byte(lines[len(lines)-1]), &newest)
	if !strings.Contains(said, "--last "+newest.Hash) {
		t.Fatalf("audit export said %q; want the newest event's hash %s", said, newest.Hash)
	}
	for name, edit := range map[string][]string{
		"intact":    lines,
		"edited":    append(append([]string{}, lines[0], strings.Replace(lines[1], `"NewStatus":"`, `"NewStatus":"X`, 1)), lines[2:]...),
		"removed":   append(append([]string{}, lines[0]), lines[2:]...),
		"reordered": append(append([]string{}, lines[1], lines[0]), lines[2:]...),
		"cut short": lines[:len(lines)-1],
		"emptied":   {},
	} {
		f := filepath.Join(t.TempDir(), name+".jsonl")
		os.WriteFile(f, []byte(strings.Join(edit, "\n")+"\n"), 0o600)
		code, out, stderr := cardstop(t, "", "audit", "verify", "--last", newest.Hash, f)
		if (name == "intact") != (code == 0) || (name != "intact" && !strings.Contains(stderr, "NOT intact")) {
			t.Errorf("audit verify of the %s log: exit %d, %q %q", name, code, out, stderr)
		}
	}
}

// TestHelp: every command and command group answers --help with its usage
// and an example, and exits 0.
func TestHelp(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"help"}, {"serve", "--help"}, {"token", "--help"}, {"token", "create", "--help"}, {"token", "list", "--help"},
		{"token", "revoke", "--help"}, {"user", "--help"}, {"user", "add", "--help"}, {"user", "passwd", "--help"},
		{"user", "list", "--help"}, {"user", "remove", "--help"}, {"import", "--help"}, {"export", "--help"},
		{"reader", "--help"}, {"reader", "list", "--help"}, {"reader", "watch", "--help"}, {"check", "--help"},
		{"backup", "--help"}, {"restore", "--help"}, {"audit", "--help"}, {"audit", "export", "--help"},
		{"audit", "verify", "--help"}, {"tls", "--help"}, {"tls", "fingerprint", "--help"}, {"tls", "create", "--help"}, {"config", "--help"},
		{"config", "print", "--help"}, {"version", "--help"},
	} {
		code, out, stderr := cardstop(t, "", args...)
		if code != 0 || !strings.Contains(out+stderr, "usage") || !strings.Contains(out+stderr, "example") {
			t.Errorf("cardstop %s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
		}
	}
}

// TestHelpSaysItsOwnCommand: each command's help is its own, not serve's or
// the overview, and writes the flags with two dashes as the README does.
func TestHelpSaysItsOwnCommand(t *testing.T) {
	tests := []struct {
		args   []string
		want   []string
		absent []string
	}{
		{[]string{"config", "print", "--help"}, []string{"usage: cardstop config print [--data-dir DIR] [--config FILE]\n", "  --listen string"}, []string{"cardstop serve", "  -listen"}},
		{[]string{"tls", "fingerprint", "--help"}, []string{"usage: cardstop tls fingerprint", "  --tls-cert string"}, []string{"cardstop serve"}},
		{[]string{"tls", "create", "--help"}, []string{"usage: cardstop tls create"}, []string{"cardstop serve"}},
		{[]string{"token", "--help"}, []string{"usage: cardstop token <verb>", "  token revoke NAME", "cardstop token create --help"}, []string{"import FILE", "  user add"}},
		{[]string{"tls", "--help"}, []string{"  tls fingerprint", "  tls create"}, []string{"  token create"}},
		{[]string{"serve", "--help"}, []string{"  --confirm-window duration", "10s or 1m30s", "  --data-dir string"}, []string{"  -confirm-window", "  -data-dir"}},
		{[]string{"reader", "watch", "--help"}, []string{"  --reader string", "  --json"}, []string{"  -json"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, stderr := cardstop(t, "", tt.args...)
			for _, w := range tt.want {
				if code != 0 || !strings.Contains(out+stderr, w) {
					t.Errorf("exit %d, want %q in\n%s%s", code, w, out, stderr)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out+stderr, a) {
					t.Errorf("%q is there:\n%s%s", a, out, stderr)
				}
			}
		})
	}
}

// TestDurationErrors: a duration the flag cannot read says what one looks
// like, from the command line, the environment and the file alike.
func TestDurationErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cardstop.toml")
	if err := os.WriteFile(file, []byte("confirm-window = \"ten\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"flag", "", []string{"serve", "--data-dir", dir, "--confirm-window", "ten"}, `invalid value "ten" for flag --confirm-window: want a duration like 10s or 1m30s`},
		{"flag without a unit", "", []string{"config", "print", "--read-timeout", "5"}, "--read-timeout: want a duration like 10s or 1m30s"},
		{"environment", "CARDSTOP_CONFIRM_WINDOW=ten", []string{"config", "print"}, "CARDSTOP_CONFIRM_WINDOW: want a duration like 10s or 1m30s"},
		{"file", "", []string{"config", "print", "--config", file}, "confirm-window: want a duration like 10s or 1m30s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, tt.args...)
			cmd.Env = append(os.Environ(), "CARDSTOP_DATA_DIR=", tt.env)
			out, _ := cmd.CombinedOutput()
			if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
				t.Fatalf("exit %d, want 2 and %q in\n%s", cmd.ProcessState.ExitCode(), tt.want, out)
			}
		})
	}
}

// TestTLSFingerprintAndCreate: fingerprint only reads; create makes the
// certificate once and keeps it after; both print the same fingerprint.
func TestTLSFingerprintAndCreate(t *testing.T) {
	dir := t.TempDir()
	var fp string
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
		files  bool // the certificate's files exist afterwards
	}{
		{"fingerprint before any", []string{"tls", "fingerprint"}, 1, "no certificate yet: the service makes it once the clock is synchronised, or run `cardstop tls create`", false},
		{"create", []string{"tls", "create"}, 0, "made a self-signed certificate", true},
		{"create again", []string{"tls", "create"}, 0, "kept the certificate", true},
		{"fingerprint", []string{"tls", "fingerprint"}, 0, "", true},
		{"create for a configured certificate", []string{"tls", "create", "--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem")}, 2, "makes only the self-signed one", true},
		{"unknown verb", []string{"tls", "renew"}, 2, `unknown tls command "renew"`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := cardstop(t, "", append(tt.args, "--data-dir", dir)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.stderr)
			}
			if code == 0 {
				if !strings.HasPrefix(out, "SHA256 Fingerprint=") || (fp != "" && out != fp) {
					t.Fatalf("printed %q, before %q", out, fp)
				}
				fp = out
			}
			_, err := os.Stat(filepath.Join(dir, "tls-cert.pem"))
			if (err == nil) != tt.files {
				t.Fatalf("the certificate file exists: %v, want %v", err == nil, tt.files)
			}
		})
	}
}
