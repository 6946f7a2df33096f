package storage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// seeded returns the bytes of a database file with n cards.
func seeded(t *testing.T, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	s := openStore(t, dir)
	var cards []storage.Smartcard
	for i := range n {
		cards = append(cards, storage.Smartcard{Uuid: guid.New(), SerialNumber: fmt.Sprintf("{%08d-0000-4000-8000-000000000000}", i), Status: domain.CardActive})
	}
	importCards(t, s, cards...)
	s.Close()
	data, err := os.ReadFile(filepath.Join(dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestOpenDamagedFile: a file that cannot be opened as a database is a
// *DamageError saying why, for writing and for reading alike, and Open
// writes nothing to it; a read-only Open where there is no file creates
// nothing.
func TestOpenDamagedFile(t *testing.T) {
	full := seeded(t, 300)
	tests := []struct {
		name, data, problem string
	}{
		{"empty", "", "it is empty"},
		{"cut short", string(full[:64<<10]), fmt.Sprintf("it is cut short (%d bytes; its header says ", 64<<10)},
		{"cut within its header", string(full[:4<<10]), "bbolt cannot open it (file size too small 4096)"},
		{"zeroed", string(make([]byte, len(full))), "bbolt cannot open it (invalid database)"},
		{"text", string(bytes.Repeat([]byte("not a database\n"), 1000)), "bbolt cannot open it (invalid database)"},
	}
	for _, tt := range tests {
		for _, readOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/read-only=%t", tt.name, readOnly), func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, storage.FileName)
				if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
					t.Fatal(err)
				}
				s, err := storage.Open(dir, storage.Options{ReadOnly: readOnly})
				var damaged *storage.DamageError
				if err == nil {
					s.Close()
				}
				if !errors.As(err, &damaged) || !errors.Is(err, storage.ErrDamaged) || damaged.Path != path ||
					len(damaged.Problem) < len(tt.problem) || damaged.Problem[:len(tt.problem)] != tt.problem {
					t.Fatalf("Open: %v; want a DamageError for %s starting %q", err, path, tt.problem)
				}
				if data, _ := os.ReadFile(path); string(data) != tt.data {
					t.Fatal("Open changed the damaged file")
				}
			})
		}
	}

	missing := filepath.Join(t.TempDir(), "none")
	if _, err := storage.Open(missing, storage.Options{ReadOnly: true}); !errors.Is(err, storage.ErrNoDatabase) {
		t.Fatalf("read-only Open of no database: %v; want ErrNoDatabase", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only Open made %s: %v", missing, err)
	}
}

// TestDamageFoundWhileReading: a page that bbolt cannot read, found after
// the file opened, is an ErrDamaged error rather than a panic, whether
// bbolt panics on it (a zeroed page) or the read faults (the file cut
// short under the open store); from then on changes are refused.
func TestDamageFoundWhileReading(t *testing.T) {
	full := seeded(t, 300)
	cardsRoot := func(t *testing.T, path string) int64 {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var root int64
		db.View(func(tx *bolt.Tx) error { root = int64(tx.Bucket([]byte("cards")).Root()); return nil })
		return root * int64(db.Info().PageSize)
	}
	tests := []struct {
		name      string
		whileOpen bool // damage the file after Open, not before
		damage    func(t *testing.T, path string)
	}{
		{"a zeroed page", false, func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 4096), cardsRoot(t, path)); err != nil {
				t.Fatal(err)
			}
		}},
		{"the file cut short while open", true, func(t *testing.T, path string) {
			if err := os.Truncate(path, 16<<10); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, storage.FileName)
			if err := os.WriteFile(path, full, 0o600); err != nil {
				t.Fatal(err)
			}
			if !tt.whileOpen {
				tt.damage(t, path)
			}
			s := openStore(t, dir)
			if s.Damaged() != "" {
				t.Fatalf("damaged before any read: %s", s.Damaged())
			}
			if tt.whileOpen {
				tt.damage(t, path)
			}
			_, err := s.Cards(storage.CardFilter{})
			if !errors.Is(err, storage.ErrDamaged) {
				t.Fatalf("Cards on a damaged page: %v; want ErrDamaged", err)
			}
			t.Logf("Cards: %v", err)
			if s.Damaged() == "" {
				t.Fatal("the store did not note the damage")
			}
			_, err = s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeDisable})
			if !errors.Is(err, storage.ErrDamaged) {
				t.Fatalf("a change after the damage was found: %v; want ErrDamaged", err)
			}
		})
	}
}
