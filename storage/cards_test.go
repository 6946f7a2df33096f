package storage_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

func TestImportCardsAllOrNothing(t *testing.T) {
	const serial = "D1EF5A7C-0000-4AA9-A822-346554DDD3C9"
	ok1 := newCard(1, "{"+serial+"}", domain.CardActive)
	ok2 := newCard(2, "0badcafe", domain.CardNew)
	tests := []struct {
		name  string
		third storage.Smartcard
		want  error
	}{
		{"duplicate serial, lower case without braces", newCard(3, strings.ToLower(serial), domain.CardActive), domain.ErrConflict},
		{"duplicate serial, spaces", newCard(3, "  {"+serial+"} ", domain.CardActive), domain.ErrConflict},
		{"duplicate serial of card 2 in upper case", newCard(3, "{0BADCAFE}", domain.CardActive), domain.ErrConflict},
		{"zero Uuid", func() storage.Smartcard { c := newCard(3, "fresh", domain.CardActive); c.Uuid = guid.Nil; return c }(), domain.ErrInvalid},
		{"duplicate Uuid", newCard(1, "fresh", domain.CardActive), domain.ErrConflict},
		{"no serial", newCard(3, "  ", domain.CardActive), domain.ErrInvalid},
		{"empty braces", newCard(3, "{}", domain.CardActive), domain.ErrInvalid},
		{"status 7", newCard(3, "fresh", domain.CardStatus(7)), domain.ErrInvalid},
		{"serial too long", newCard(3, strings.Repeat("a", 129), domain.CardActive), domain.ErrInvalid},
		{"comment too long", func() storage.Smartcard {
			c := newCard(3, "fresh", domain.CardActive)
			c.Comment = strings.Repeat("c", 1025)
			return c
		}(), domain.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			err := s.ImportCards(context.Background(), admin, []storage.Smartcard{ok1, ok2, tt.third, newCard(4, "last", domain.CardActive)})
			if !errors.Is(err, tt.want) {
				t.Fatalf("ImportCards: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), "card 3") {
				t.Errorf("message %q does not name card 3", err)
			}
			if got, err := s.Cards(storage.CardFilter{}); err != nil || len(got) != 0 {
				t.Errorf("Cards after failed import = %d cards, %v; want none", len(got), err)
			}
			if _, err := s.CardBySerial(serial); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("CardBySerial after failed import: %v, want ErrNotFound", err)
			}
			active := domain.CardActive
			if got, _ := s.Cards(storage.CardFilter{Status: &active}); len(got) != 0 {
				t.Errorf("status index holds %d cards after failed import", len(got))
			}
			if got, _ := s.Cards(storage.CardFilter{AssignedUser: ok1.AssignedUserUuid}); len(got) != 0 {
				t.Errorf("user index holds %d cards after failed import", len(got))
			}
			if evs := allEvents(t, s); len(evs) != 0 {
				t.Errorf("%d events after failed import, want 0", len(evs))
			}
			// The same set without the bad card goes in whole.
			if err := s.ImportCards(context.Background(), admin, []storage.Smartcard{ok1, ok2}); err != nil {
				t.Fatalf("ImportCards of the good cards: %v", err)
			}
			if evs := allEvents(t, s); len(evs) != 2 || evs[0].Seq != 1 {
				t.Errorf("events after good import: %+v", evs)
			}
			checkStore(t, s)
		})
	}
}

func TestImportCardsAgainstStored(t *testing.T) {
	s := newStore(t)
	importCards(t, s, newCard(1, "{ABC}", domain.CardActive))
	tests := []struct {
		name string
		card storage.Smartcard
		want error
	}{
		{"same serial", newCard(2, "abc", domain.CardActive), domain.ErrConflict},
		{"same uuid", newCard(1, "def", domain.CardActive), domain.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ImportCards(context.Background(), admin, []storage.Smartcard{tt.card})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "card 1") {
				t.Errorf("ImportCards: %v, want %v naming card 1", err, tt.want)
			}
			if got, _ := s.Cards(storage.CardFilter{}); len(got) != 1 {
				t.Errorf("%d cards, want 1", len(got))
			}
			if evs := allEvents(t, s); len(evs) != 1 {
				t.Errorf("%d events, want 1", len(evs))
			}
		})
	}
	checkStore(t, s)
}

func TestImportKeepsFields(t *testing.T) {
	s := newStore(t)
	c := newCard(1, "{D1EF5A7C-0000-4AA9-A822-346554DDD3C9}", domain.CardAssigned)
	c.Atr = "3B8D0180FBA000000397425446590301C8"
	c.Comment = "desk 12"
	c.Flags = 4
	importCards(t, s, c)
	got := mustCard(t, s, c.Uuid)
	want := c
	want.Atr = strings.ToLower(c.Atr) // Atr is lowercase hex on the wire
	if !reflect.DeepEqual(got, want) {
		t.Errorf("imported card:\n got %+v\nwant %+v", got, want)
	}
	evs := allEvents(t, s)
	if len(evs) != 1 || evs[0].Action != storage.ActionCardImport || evs[0].CardUuid != c.Uuid || evs[0].NewStatus != "Assigned" {
		t.Errorf("import events: %+v", evs)
	}
	checkStore(t, s)
}

func TestCardsFilter(t *testing.T) {
	s := newStore(t)
	alice, bob := testID(0x50), testID(0x51)
	cards := []storage.Smartcard{
		newCard(1, "s1", domain.CardActive),
		newCard(2, "s2", domain.CardDisabled),
		newCard(3, "s3", domain.CardActive),
		newCard(4, "s4", domain.CardNew),
		newCard(5, "s5", domain.CardActive),
	}
	cards[0].AssignedUserUuid = alice
	cards[1].AssignedUserUuid = alice
	cards[2].AssignedUserUuid = bob
	cards[3].AssignedUserUuid = guid.Nil
	cards[4].AssignedUserUuid = alice
	// Import out of order: the result is ordered by uuid all the same.
	importCards(t, s, cards[4], cards[2], cards[0], cards[3], cards[1])

	// Disable card 1 so the indexes must follow a change.
	req := createRequest(t, s, operator, domain.TypeDisable, cards[0].Uuid)
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: cards[0].Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}

	status := func(s domain.CardStatus) *domain.CardStatus { return &s }
	tests := []struct {
		name string
		f    storage.CardFilter
		want []byte // card numbers
	}{
		{"all", storage.CardFilter{}, []byte{1, 2, 3, 4, 5}},
		{"alice", storage.CardFilter{AssignedUser: alice}, []byte{1, 2, 5}},
		{"bob", storage.CardFilter{AssignedUser: bob}, []byte{3}},
		{"nobody", storage.CardFilter{AssignedUser: testID(0x52)}, []byte{}},
		{"active", storage.CardFilter{Status: status(domain.CardActive)}, []byte{3, 5}},
		{"disabled", storage.CardFilter{Status: status(domain.CardDisabled)}, []byte{1, 2}},
		{"new", storage.CardFilter{Status: status(domain.CardNew)}, []byte{4}},
		{"retired", storage.CardFilter{Status: status(domain.CardRetired)}, []byte{}},
		{"none", storage.CardFilter{Status: status(domain.CardNone)}, []byte{}},
		{"alice active", storage.CardFilter{AssignedUser: alice, Status: status(domain.CardActive)}, []byte{5}},
		{"alice disabled", storage.CardFilter{AssignedUser: alice, Status: status(domain.CardDisabled)}, []byte{1, 2}},
		{"bob disabled", storage.CardFilter{AssignedUser: bob, Status: status(domain.CardDisabled)}, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Cards(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("Cards returned nil; want an empty slice")
			}
			var ids []guid.GUID
			for _, c := range got {
				ids = append(ids, c.Uuid)
			}
			var want []guid.GUID
			for _, n := range tt.want {
				want = append(want, testID(n))
			}
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("Cards = %v, want %v", ids, want)
			}
		})
	}
	checkStore(t, s)
}

func TestCardBySerial(t *testing.T) {
	s := newStore(t)
	braced := newCard(1, "{D1EF5A7C-0000-4AA9-A822-346554DDD3C9}", domain.CardActive)
	plain := newCard(2, "04a1b2c3d4e5f6", domain.CardActive)
	importCards(t, s, braced, plain)
	tests := []struct {
		in   string
		want guid.GUID // Nil: not found
	}{
		{"{D1EF5A7C-0000-4AA9-A822-346554DDD3C9}", braced.Uuid},
		{"{d1ef5a7c-0000-4aa9-a822-346554ddd3c9}", braced.Uuid},
		{"D1EF5A7C-0000-4AA9-A822-346554DDD3C9", braced.Uuid},
		{"d1ef5a7c-0000-4aa9-a822-346554ddd3c9", braced.Uuid},
		{" d1ef5a7c-0000-4aa9-a822-346554ddd3c9\t", braced.Uuid},
		{"04A1B2C3D4E5F6", plain.Uuid},
		{"{04a1b2c3d4e5f6}", plain.Uuid},
		{"04a1b2c3d4e5f6", plain.Uuid},
		{"04a1b2c3d4e5", guid.Nil},
		{"{d1ef5a7c-0000-4aa9-a822-346554ddd3c9", guid.Nil},
		{"", guid.Nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := s.CardBySerial(tt.in)
			if tt.want.IsNil() {
				if !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("CardBySerial(%q) = %v, %v; want ErrNotFound", tt.in, got.Uuid, err)
				}
				return
			}
			if err != nil || got.Uuid != tt.want {
				t.Errorf("CardBySerial(%q) = %v, %v; want %v", tt.in, got.Uuid, err, tt.want)
			}
		})
	}
	// The serial is kept as imported, braces and case included.
	if c, _ := s.CardBySerial("d1ef5a7c-0000-4aa9-a822-346554ddd3c9"); c.SerialNumber != braced.SerialNumber {
		t.Errorf("SerialNumber %q, want %q", c.SerialNumber, braced.SerialNumber)
	}
	if _, err := s.Card(testID(9)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Card(unknown): %v, want ErrNotFound", err)
	}
}

func TestNormalizeSerial(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{ABC}", "abc"},
		{"abc", "abc"},
		{"  {AbC}  ", "abc"},
		{"{abc", "{abc"},
		{"abc}", "abc}"},
		{"{}", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := storage.NormalizeSerial(tt.in); got != tt.want {
			t.Errorf("NormalizeSerial(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSearchCards: a search lists the cards in serial order, with or
// without a status, and ignores braces and case, even one brace of a part.
// TestSearchSeesNewSerials: the search's copy of the serial index (kept
// between searches) follows the index: a card imported after a search is
// found by the next.
func TestSearchSeesNewSerials(t *testing.T) {
	s := newStore(t)
	importCards(t, s, newCard(1, "{AA000001}", domain.CardActive))
	for i, serial := range []string{"{BB000002}", "{CC000003}"} {
		if _, total, err := s.SearchCards(storage.CardSearch{}); err != nil || total != i+1 {
			t.Fatalf("before import %d: total %d, %v", i+1, total, err)
		}
		importCards(t, s, newCard(byte(i+2), serial, domain.CardDisabled))
		cards, total, err := s.SearchCards(storage.CardSearch{Text: serial[1:3]})
		if err != nil || total != 1 || cards[0].SerialNumber != serial {
			t.Fatalf("after import %d: %d found (%v)", i+1, total, err)
		}
		if _, total, _ := s.SearchCards(storage.CardSearch{}); total != i+2 {
			t.Fatalf("after import %d the whole list has %d cards; want %d", i+1, total, i+2)
		}
	}
}

// TestSearchSerialParts: a part of a serial is found once a card however
// often the serial holds it, and never across two serials that follow
// each other in the index.
func TestSearchSerialParts(t *testing.T) {
	s := newStore(t)
	importCards(t, s, newCard(1, "{ABAB01}", domain.CardActive), newCard(2, "{ABAB02}", domain.CardActive), newCard(3, "{CD03}", domain.CardActive))
	for _, tt := range []struct {
		text string
		want int
	}{{"ab", 2}, {"bab0", 2}, {"b02", 1}, {"02cd", 0}, {"1ab", 0}, {"03", 1}, {"ab01ab", 0}} {
		if _, total, err := s.SearchCards(storage.CardSearch{Text: tt.text}); err != nil || total != tt.want {
			t.Errorf("search %q: %d found (%v); want %d", tt.text, total, err, tt.want)
		}
	}
}

func TestSearchCards(t *testing.T) {
	s := newStore(t)
	// Their uuids run against their serials: an order by uuid shows.
	importCards(t, s,
		newCard(3, "{AA000001-0000-4000-8000-000000000000}", domain.CardActive),
		newCard(2, "{BB000002-0000-4000-8000-000000000000}", domain.CardDisabled),
		newCard(1, "{CC000003-0000-4000-8000-000000000000}", domain.CardActive))
	active, disabled := domain.CardActive, domain.CardDisabled
	tests := []struct {
		name  string
		q     storage.CardSearch
		want  []string // serials' first two letters, in order
		total int
	}{
		{"all", storage.CardSearch{}, []string{"AA", "BB", "CC"}, 3},
		{"a page of all", storage.CardSearch{Offset: 1, Limit: 1}, []string{"BB"}, 3},
		{"past the end", storage.CardSearch{Offset: 3}, nil, 3},
		{"status", storage.CardSearch{Status: &active}, []string{"AA", "CC"}, 2},
		{"status, second page", storage.CardSearch{Status: &active, Offset: 1, Limit: 1}, []string{"CC"}, 2},
		{"status and text", storage.CardSearch{Status: &disabled, Text: "0000"}, []string{"BB"}, 1},
		{"opening brace", storage.CardSearch{Text: "{bb0000"}, []string{"BB"}, 1},
		{"closing brace", storage.CardSearch{Text: "000000000000}"}, []string{"AA", "BB", "CC"}, 3},
		{"whole serial in braces", storage.CardSearch{Text: " {cc000003-0000-4000-8000-000000000000} "}, []string{"CC"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cards, total, err := s.SearchCards(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cards {
				got = append(got, c.SerialNumber[1:3])
			}
			if !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("found %v of %d, want %v of %d", got, total, tt.want, tt.total)
			}
		})
	}
}
