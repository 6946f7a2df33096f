package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestListingDropsTheFilesPages lists every card of a file bigger than
// the listings' trim interval, twice at once, and checks that the pages
// read did not stay resident: without the trim the process would keep the
// cards' part of the file mapped (issue 14: 8 full lists of 100,000 cards
// left 120 MB of the file resident).
func TestListingDropsTheFilesPages(t *testing.T) {
	s, size := bigStore(t)
	before := rssFile(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			read := 0
			err := s.EachCard(context.Background(), storage.CardFilter{}, func(storage.Smartcard) error { read++; return nil })
			if err == nil && read != bigCards {
				err = fmt.Errorf("listed %d cards; want %d", read, bigCards)
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	growth := rssFile(t) - before
	t.Logf("file %d KiB; resident file pages grew by %d KiB while listing %d cards twice", size>>10, growth>>10, bigCards)
	if limit := size / 8; growth > limit {
		t.Errorf("resident file pages grew by %d KiB while listing; want under %d KiB (an eighth of the file)", growth>>10, limit>>10)
	}
}

// TestChangesDropTheFilesPages: changes to cards all over a file leave
// no more of it resident than a few trims' worth (issue 14's budget).
func TestChangesDropTheFilesPages(t *testing.T) {
	s, size := bigStore(t)
	before := rssFile(t)
	const changes, writers = 4_000, 32
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			var err error
			for i := w; i < changes && err == nil; i += writers {
				// Every tenth card: the changes fall on pages all over the file.
				card := manyCardsFrom(i*bigCards/changes, 1)[0]
				_, err = s.Apply(context.Background(), admin, domain.Command{Card: card.Uuid, Action: domain.Retire, Reason: "expired", Via: domain.ViaPage})
			}
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	growth := rssFile(t) - before
	t.Logf("file %d KiB; resident file pages grew by %d KiB over %d changes", size>>10, growth>>10, changes)
	if limit := size / 8; growth > limit {
		t.Errorf("resident file pages grew by %d KiB over the changes; want under %d KiB (an eighth of the file)", growth>>10, limit>>10)
	}
}

// bigCards is how many cards bigStore holds: a file of about 60 MB.
const bigCards = 40_000

// bigStore fills a store with bigCards cards and opens it again, so that
// none of its file is resident yet, and returns it with the file's size.
func bigStore(t *testing.T) (*storage.Store, int64) {
	t.Helper()
	dir := t.TempDir()
	s := openStore(t, dir)
	for b := 0; b < bigCards; b += 10_000 {
		importCards(t, s, manyCardsFrom(b, 10_000)...)
	}
	s.Close()
	fi, err := os.Stat(filepath.Join(dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return openStore(t, dir), fi.Size()
}

// rssFile is the test process's resident file-backed memory.
func rssFile(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "RssFile:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
