package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
)

// TestDamagedFileEveryCommand replaces a good database file with one cut
// short, emptied, zeroed, or not a database at all, and runs every command
// that opens it. Each says so in one line and exits with status 3, never
// with a stack trace; nothing is created beside it and the file keeps its
// bytes. serve runs degraded on it (README, "A file that cannot be
// opened"): /healthz 200, /readyz 503 naming the damage, every other route
// 503 with the message, the file's lock held so that restore waits; once
// stopped, restore puts a backup in place and keeps the damaged file.
func TestDamagedFileEveryCommand(t *testing.T) {
	good := t.TempDir()
	token := seed(t, good, 1000)
	full, err := os.ReadFile(filepath.Join(good, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if len(full) <= 100<<10 {
		t.Fatalf("the seeded file has %d bytes: too few to cut at 100 KB", len(full))
	}
	backupFile := filepath.Join(t.TempDir(), "good.db")
	if err := os.WriteFile(backupFile, full, 0o600); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(filepath.Join("..", "..", "docs", "screenshots", "cards-800x480.png"))
	if err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 64<<10)
	r := rand.NewChaCha8([32]byte{14})
	_, _ = r.Read(random)

	files := []struct {
		name string
		data []byte
	}{
		{"cut at 100 KB", full[:100<<10]},
		{"cut at 4 KB", full[:4<<10]},
		{"empty", []byte{}},
		{"zeroed", make([]byte, len(full))},
		{"a text file", text},
		{"a PNG", png},
		{"random bytes", random},
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	commands := []struct {
		words []string // before --data-dir DIR
		rest  []string // after it
		stdin string
	}{
		{words: []string{"export"}},
		{words: []string{"token", "list"}},
		{words: []string{"user", "list"}},
		{words: []string{"audit", "export"}},
		{words: []string{"audit", "verify"}},
		{words: []string{"backup"}, rest: []string{out}},
		{words: []string{"backup"}, rest: []string{"-"}},
		{words: []string{"check"}},
		{words: []string{"import"}, rest: []string{examples}},
		{words: []string{"token", "create"}, rest: []string{"--role", "admin", "--name", "another"}},
		{words: []string{"token", "revoke"}, rest: []string{"admin"}},
		{words: []string{"user", "add"}, rest: []string{"ann", "--role", "viewer"}, stdin: "a long passphrase\n"},
		{words: []string{"user", "passwd"}, rest: []string{"ann"}, stdin: "a long passphrase\n"},
		{words: []string{"user", "remove"}, rest: []string{"ann"}},
	}
	noTrace := func(t *testing.T, what, text string) {
		t.Helper()
		if strings.Contains(text, "goroutine ") || strings.Contains(text, "panic:") {
			t.Fatalf("%s shows a stack trace:\n%s", what, text)
		}
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, storage.FileName)
			if err := os.WriteFile(path, f.data, 0o600); err != nil {
				t.Fatal(err)
			}
			unchanged := func(t *testing.T) {
				t.Helper()
				if data, err := os.ReadFile(path); err != nil || !bytes.Equal(data, f.data) {
					t.Fatalf("the file changed (%d bytes, was %d): %v", len(data), len(f.data), err)
				}
				entries, err := os.ReadDir(dir)
				if err != nil || len(entries) != 1 {
					t.Fatalf("the data directory holds %v (%v); want only %s", entries, err, storage.FileName)
				}
				if _, err := os.Stat(out); err == nil {
					t.Fatal("backup wrote a file of a damaged database")
				}
			}
			for _, c := range commands {
				args := slices.Concat(c.words, []string{"--data-dir", dir}, c.rest)
				t.Run(strings.Join(args[:len(c.words)], " ")+" "+strings.Join(c.rest, " "), func(t *testing.T) {
					code, stdout, stderr := cardstop(t, c.stdin, args...)
					noTrace(t, "stdout", stdout)
					noTrace(t, "stderr", stderr)
					if code != 3 || !strings.HasPrefix(stderr, "cardstop: the database is damaged: ") || strings.Count(stderr, "\n") != 1 ||
						!strings.Contains(stderr, path) {
						t.Fatalf("exit %d, stderr %q; want exit 3 and one line naming %s", code, stderr, path)
					}
					if stdout != "" && !(c.words[0] == "export" || c.words[0] == "backup") {
						t.Fatalf("stdout %q", stdout)
					}
					unchanged(t)
				})
			}

			t.Run("serve", func(t *testing.T) {
				srv := startServer(t, dir)
				for _, tt := range []struct {
					path string
					code int
					want string
				}{
					{"/healthz", 200, `"status":"ok"`},
					{"/readyz", 503, `"database":"damaged: ` + path + `: `},
					{"/CertificateManagement/api/v1.0/smartcards", 503, `"Message":"the database is damaged and cannot be opened`},
					{"/api/admin/backup", 503, "run cardstop restore"},
					{"/cards", 503, `<p data-testid="damaged">the database is damaged`},
				} {
					if code, body := srv.call(t, token, "GET", tt.path, ""); code != tt.code || !strings.Contains(body, tt.want) {
						t.Errorf("GET %s: %d %s; want %d with %q", tt.path, code, body, tt.code, tt.want)
					}
				}
				// The service holds the file: restore waits for it to stop.
				if code, _, stderr := cardstop(t, "", "restore", "--data-dir", dir, backupFile); code != 1 || !strings.Contains(stderr, "in use by another process") {
					t.Errorf("restore while serving: exit %d, %q", code, stderr)
				}
				srv.stop(t)
				log := srv.log.String()
				noTrace(t, "serve's log", log)
				if !strings.Contains(log, "THE DATABASE CANNOT BE OPENED") {
					t.Errorf("serve did not log the damage:\n%s", log)
				}
				unchanged(t)
			})

			t.Run("restore", func(t *testing.T) {
				code, stdout, stderr := cardstop(t, "", "restore", "--data-dir", dir, backupFile)
				if code != 0 || !strings.Contains(stdout, "restored") {
					t.Fatalf("restore over the damaged file: exit %d, %q %q", code, stdout, stderr)
				}
				kept, _ := filepath.Glob(path + ".before-restore-*")
				if len(kept) != 1 {
					t.Fatalf("kept %v; want the damaged file beside the restored one", kept)
				}
				if data, err := os.ReadFile(kept[0]); err != nil || !bytes.Equal(data, f.data) {
					t.Fatalf("the damaged file was not kept as it was: %v", err)
				}
				if code, stdout, stderr := cardstop(t, "", "export", "--data-dir", dir); code != 0 || strings.Count(stdout, `"Uuid"`) != 1000 {
					t.Fatalf("export after restore: exit %d, %d cards, %q", code, strings.Count(stdout, `"Uuid"`), stderr)
				}
			})
		})
	}
}
