package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// damage overwrites the header of a page in the middle of the file, as a
// torn write or a failing SD card would.
func damage(t *testing.T, dir string, page int64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, storage.FileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte{0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x55, 0xaa}, page*4096); err != nil {
		t.Fatal(err)
	}
}

// checkChildEnv names the image a child of this test binary checks; see
// TestCheckChild.
const checkChildEnv = "CARDSTOP_TEST_CHECK_IMAGE"

// TestCheckChild is not a test: it is the child process that checkImage
// starts, which runs storage.CheckFile as `cardstop internal-check` does
// (a problem on stdout and exit status 3; it may crash).
func TestCheckChild(t *testing.T) {
	path := os.Getenv(checkChildEnv)
	if path == "" {
		t.Skip("the child process of checkImage")
	}
	if err := storage.CheckFile(path); err != nil {
		fmt.Println(err)
		os.Exit(3)
	}
	os.Exit(0)
}

// checkImage checks the store as serve's start-up check does: a snapshot
// written with Backup, checked by CheckFile in a child process, since
// bbolt's check may panic on a damaged page in a goroutine of its own. It
// returns the problem found, or "" when the file passed.
func checkImage(t *testing.T, s *storage.Store) string {
	t.Helper()
	image := filepath.Join(t.TempDir(), "image.db")
	f, err := os.Create(image)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckChild$")
	cmd.Env = append(os.Environ(), checkChildEnv+"="+image)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case bytes.Contains(stderr.Bytes(), []byte("panic: ")) || bytes.Contains(stderr.Bytes(), []byte("unexpected fault address")):
		line, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		return "the check stopped on a damaged page: " + line
	case err == nil:
		return ""
	case errors.As(err, &exit) && exit.ExitCode() == 3:
		return strings.TrimSpace(stdout.String())
	}
	t.Fatalf("the check could not run: %v\n%s%s", err, stdout.String(), stderr.String())
	return ""
}

// TestDamagedFileRefusesChanges: a file that fails its check is not
// written to; reads go on.
func TestDamagedFileRefusesChanges(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	var cards []storage.Smartcard
	for i := range 300 {
		cards = append(cards, storage.Smartcard{Uuid: guid.New(), SerialNumber: fmt.Sprintf("{%08d-0000-4000-8000-000000000000}", i), Status: domain.CardActive})
	}
	importCards(t, s, cards...)
	if why := checkImage(t, s); why != "" {
		t.Fatalf("the intact file failed its check: %s", why)
	}
	s.Close()
	info, _ := os.Stat(filepath.Join(dir, storage.FileName))
	damage(t, dir, info.Size()/4096/2)

	// As serve at start-up: the check finds the damage, and the store is
	// told to refuse changes; reads go on.
	s = openStore(t, dir)
	why := checkImage(t, s)
	if why == "" {
		t.Fatal("the check passed a damaged file")
	}
	t.Logf("the check found: %s", why)
	s.RefuseChanges(why)
	if s.Damaged() != why {
		t.Fatalf("the store says it is damaged because %q; want %q", s.Damaged(), why)
	}
	_, err := s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeDisable})
	if !errors.Is(err, storage.ErrDamaged) {
		t.Fatalf("a change on a damaged file: %v; want ErrDamaged", err)
	}
	if err := s.Ping(); err != nil {
		t.Fatalf("reads stop on a damaged file: %v", err)
	}
}

// TestInjectedCommitFailure: a commit that fails leaves nothing behind and
// the next one works.
func TestInjectedCommitFailure(t *testing.T) {
	dir := t.TempDir()
	fail := errors.New("injected: fsync failed")
	var next error
	s, err := storage.Open(dir, storage.Options{Now: clock, InjectFault: func() error { return next }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	card := newCard(1, "{aa}", domain.CardActive)
	importCards(t, s, card)
	before := allEvents(t, s)
	next = fail
	if _, err := s.Apply(context.Background(), operator, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); !errors.Is(err, fail) {
		t.Fatalf("Apply with a failing commit: %v", err)
	}
	if c := mustCard(t, s, card.Uuid); c.Status != domain.CardActive || len(allEvents(t, s)) != len(before) {
		t.Fatal("a failed commit left a change behind")
	}
	if reqs, _ := s.Requests(storage.RequestFilter{}); len(reqs) != 0 {
		t.Fatal("a failed commit left a request behind")
	}
	next = nil
	if _, err := s.Apply(context.Background(), operator, domain.Command{Card: card.Uuid, Action: domain.Disable, Reason: "lost", Via: domain.ViaPage}); err != nil {
		t.Fatalf("the write after a failed one: %v", err)
	}
	checkStore(t, s)
}
