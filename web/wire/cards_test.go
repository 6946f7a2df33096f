package wire

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// readCards calls ReadSmartcards and turns a panic into a failure, so one
// bad input does not stop the rest of the table.
func readCards(t *testing.T, input []byte) (cards []Smartcard, err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("ReadSmartcards(%q) panicked: %v", input, p)
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return ReadSmartcards(bytes.NewReader(input))
}

func mustGUID(s string) guid.GUID {
	g, err := guid.Parse(s)
	if err != nil {
		panic(err)
	}
	return g
}

const (
	uuid1   = "17cf063d-e337-4aa9-a822-346554ddd3c9"
	uuid2   = "438d1b30-f3b4-4bed-85fa-285e08605ba7"
	serial1 = "{bc88f13f-83ba-4037-8262-46eba1291c6e}"
	serial2 = "{d1ef6869-5517-42a0-8f05-16ca1a0b834d}"
	user    = "8f1590dc-d932-4b66-8e68-2e91c5880780"
	profile = "a039b4d0-5ce8-4eff-8651-181c6576fda3"
	atr     = "3b8d0180fba000000397425446590301c8"
	bom     = "\xef\xbb\xbf"
)

// docCard1 is the documentation's first example card, as every format
// below describes it.
var docCard1 = Smartcard{
	Uuid: mustGUID(uuid1), Status: domain.CardAssigned, Flags: 1,
	AssignedUserUuid: mustGUID(user), ProfileTemplateUuid: mustGUID(profile), ProfileTemplateVersion: 46,
	SerialNumber: serial1, Middleware: "MSBaseCSP", Atr: atr,
}

func TestReadSmartcards(t *testing.T) {
	minimal := func(id, serial string) Smartcard { return Smartcard{Uuid: mustGUID(id), SerialNumber: serial} }
	withStatus := func(c Smartcard, s domain.CardStatus) Smartcard { c.Status = s; return c }
	withComment := func(c Smartcard, s string) Smartcard { c.Comment = s; return c }
	fullJSON := `{"Uuid":"` + uuid1 + `","Status":2,"Flags":1,` +
		`"ParentSmartcardUuid":"00000000-0000-0000-0000-000000000000",` +
		`"PrimarySmartcardUuid":"00000000-0000-0000-0000-000000000000",` +
		`"PermanentSmartcardUuid":"00000000-0000-0000-0000-000000000000",` +
		`"AssignedUserUuid":"` + user + `","ProfileTemplateUuid":"` + profile + `","ProfileTemplateVersion":46,` +
		`"Comment":"","SerialNumber":"` + serial1 + `","Middleware":"MSBaseCSP","Atr":"` + atr + `"}`
	for _, tc := range []struct {
		name  string
		input string
		want  []Smartcard
	}{
		// JSON arrays.
		{"json documented card", `[` + fullJSON + `]`, []Smartcard{docCard1}},
		{"json empty array", `[]`, []Smartcard{}},
		{"json minimal", `[{"Uuid":"` + uuid1 + `","SerialNumber":"` + serial1 + `"}]`, []Smartcard{minimal(uuid1, serial1)}},
		{"json two cards", `[{"Uuid":"` + uuid1 + `","SerialNumber":"a"},{"Uuid":"` + uuid2 + `","SerialNumber":"b","Status":3}]`,
			[]Smartcard{minimal(uuid1, "a"), withStatus(minimal(uuid2, "b"), domain.CardActive)}},
		{"json keys in any case", `[{"UUID":"` + uuid1 + `","serialnumber":"a","sTaTuS":"4"}]`,
			[]Smartcard{withStatus(minimal(uuid1, "a"), domain.CardDisabled)}},
		{"json status by name in any case", `[{"Uuid":"` + uuid1 + `","SerialNumber":"a","Status":"suspended"}]`,
			[]Smartcard{withStatus(minimal(uuid1, "a"), domain.CardSuspended)}},
		{"json null and empty status", `[{"Uuid":"` + uuid1 + `","SerialNumber":"a","Status":null},` +
			`{"Uuid":"` + uuid2 + `","SerialNumber":"b","Status":""}]`,
			[]Smartcard{minimal(uuid1, "a"), minimal(uuid2, "b")}},
		{"json guids uppercase and braced", `[{"Uuid":"{17CF063D-E337-4AA9-A822-346554DDD3C9}","SerialNumber":"a","AssignedUserUuid":" ` + strings.ToUpper(user) + `"}]`,
			[]Smartcard{{Uuid: mustGUID(uuid1), SerialNumber: "a", AssignedUserUuid: mustGUID(user)}}},
		{"json numbers as strings", `[{"Uuid":"` + uuid1 + `","SerialNumber":"a","Flags":"1","ProfileTemplateVersion":"46"}]`,
			[]Smartcard{{Uuid: mustGUID(uuid1), SerialNumber: "a", Flags: 1, ProfileTemplateVersion: 46}}},
		{"json with BOM and space", bom + " \r\n\t[" + fullJSON + "]\n\n", []Smartcard{docCard1}},
		{"json null strings", `[{"Uuid":"` + uuid1 + `","SerialNumber":"a","Comment":null,"Atr":null}]`, []Smartcard{minimal(uuid1, "a")}},

		// CSV.
		{"csv all columns", "Uuid,Status,Flags,ParentSmartcardUuid,PrimarySmartcardUuid,PermanentSmartcardUuid," +
			"AssignedUserUuid,ProfileTemplateUuid,ProfileTemplateVersion,Comment,SerialNumber,Middleware,Atr\n" +
			uuid1 + ",2,1,,,," + user + "," + profile + ",46,," + serial1 + ",MSBaseCSP," + atr + "\n",
			[]Smartcard{docCard1}},
		{"csv header in any case and order", "SERIALNUMBER,uuid,sTaTuS\n" + serial1 + "," + uuid1 + ",Assigned\n",
			[]Smartcard{withStatus(minimal(uuid1, serial1), domain.CardAssigned)}},
		{"csv header with spaces", " Uuid , SerialNumber \n" + uuid1 + ",a\n",
			[]Smartcard{minimal(uuid1, "a")}},
		{"csv BOM", bom + "Uuid,SerialNumber\n" + uuid1 + ",a\n", []Smartcard{minimal(uuid1, "a")}},
		{"csv empty cells are absent", "Uuid,Status,Comment,AssignedUserUuid,Flags,SerialNumber\n" + uuid1 + ",,,,,a\n",
			[]Smartcard{minimal(uuid1, "a")}},
		{"csv CRLF and no final newline", "Uuid,SerialNumber\r\n" + uuid1 + ",a\r\n" + uuid2 + ",b",
			[]Smartcard{minimal(uuid1, "a"), minimal(uuid2, "b")}},
		{"csv quoted cell with comma and newline", "Uuid,SerialNumber,Comment\n" + uuid1 + ",a,\"lost, then\nfound \"\"again\"\"\"\n",
			[]Smartcard{withComment(minimal(uuid1, "a"), "lost, then\nfound \"again\"")}},
		{"csv status number and padded", "Uuid,SerialNumber,Status\n" + uuid1 + ",a, 6 \n" + uuid2 + ",b,retired\n",
			[]Smartcard{withStatus(minimal(uuid1, "a"), domain.CardRetired), withStatus(minimal(uuid2, "b"), domain.CardRetired)}},
		{"csv blank lines between records", "Uuid,SerialNumber\n\n" + uuid1 + ",a\n\n\n" + uuid2 + ",b\n",
			[]Smartcard{minimal(uuid1, "a"), minimal(uuid2, "b")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readCards(t, []byte(tc.input))
			if err != nil {
				t.Fatalf("ReadSmartcards(%q): %v", tc.input, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ReadSmartcards(%q)\n got %+v\nwant %+v", tc.input, got, tc.want)
			}
			// Whatever was read exports and imports back to the same cards.
			var buf bytes.Buffer
			if err := WriteSmartcards(&buf, got); err != nil {
				t.Fatal(err)
			}
			again, err := readCards(t, buf.Bytes())
			if err != nil {
				t.Fatalf("reading the export back: %v\n%s", err, buf.Bytes())
			}
			if !reflect.DeepEqual(again, got) {
				t.Errorf("round trip changed the cards\n got %+v\nwant %+v", again, got)
			}
		})
	}
}

func TestReadSmartcardsRefuses(t *testing.T) {
	rec := func(fields string) string { return `{"Uuid":"` + uuid1 + `","SerialNumber":"a"` + fields + `}` }
	ok2 := `{"Uuid":"` + uuid2 + `","SerialNumber":"b"}`
	head := "Uuid,SerialNumber,Status\n"
	row := uuid1 + ",a,Active\n"
	for _, tc := range []struct {
		name, input string
		want        []string // substrings of the error
	}{
		{"empty", "", []string{"the file is empty"}},
		{"only space", " \r\n\t\n", []string{"the file is empty"}},
		{"only BOM", bom, []string{"the file is empty"}},

		// JSON.
		{"json unterminated", `[` + rec(""), []string{"not a JSON array of objects"}},
		{"json array of numbers", `[1,2]`, []string{"record 1", "JSON object"}},
		{"json object not array", `[{"Uuid":1}`, []string{"not a JSON array of objects"}},
		{"json array of arrays", `[[]]`, []string{"record 1", "JSON object"}},
		{"json second value", `[] []`, []string{"more than one JSON value"}},
		{"json trailing object", `[]{}`, []string{"more than one JSON value"}},
		{"json trailing bracket", `[` + rec("") + `]]`, []string{"more than one JSON value"}},
		{"json trailing brace", `[` + rec("") + `]}`, []string{"more than one JSON value"}},
		{"json null record", `[` + ok2 + `,null]`, []string{"record 2", "JSON object"}},
		{"json string record", `["card"]`, []string{"record 1", "JSON object"}},
		{"json missing uuid", `[` + ok2 + `,{"SerialNumber":"a"}]`, []string{"record 2", `"uuid" is required`}},
		{"json missing serial", `[{"Uuid":"` + uuid1 + `"}]`, []string{"record 1", `"serialnumber" is required`}},
		{"json bad uuid", `[` + ok2 + `,{"Uuid":"card-1","SerialNumber":"a"}]`, []string{"record 2", `uuid must be a GUID, not "card-1"`}},
		{"json bad user", `[` + rec(`,"AssignedUserUuid":"bob"`) + `]`, []string{"record 1", "assigneduseruuid must be a GUID"}},
		{"json unknown key", `[` + ok2 + `,` + ok2 + `,` + rec(`,"Colour":"red"`) + `]`, []string{"record 3", `unknown key "Colour"`}},
		{"json duplicate key", `[` + rec(`,"UUID":"`+uuid2+`"`) + `]`, []string{"record 1", `"uuid" appears more than once`}},
		{"json bad status", `[` + ok2 + `,` + rec(`,"Status":"Frozen"`) + `]`, []string{"record 2", `smartcard status "Frozen"`}},
		{"json status out of range", `[` + rec(`,"Status":7`) + `]`, []string{"record 1", `smartcard status "7"`}},
		{"json status bool", `[` + rec(`,"Status":true`) + `]`, []string{"record 1", "status must be a string or a number"}},
		{"json bad flags", `[` + rec(`,"Flags":"many"`) + `]`, []string{"record 1", `flags must be a whole number, not "many"`}},
		{"json bad version", `[` + rec(`,"ProfileTemplateVersion":4.5`) + `]`, []string{"record 1", "profiletemplateversion must be a whole number"}},
		{"json comment not string", `[` + rec(`,"Comment":5`) + `]`, []string{"record 1", "comment must be a string"}},
		{"json atr not string", `[` + rec(`,"Atr":["3b"]`) + `]`, []string{"record 1", "atr must be a string"}},

		// CSV.
		{"csv not a header", "hello world\n", []string{"line 1", `unknown column "hello world"`}},
		{"csv unknown column", "Uuid,Colour,SerialNumber\n", []string{"line 1", `unknown column "colour"`}},
		{"csv duplicate column", "Uuid,SerialNumber,UUID\n", []string{"line 1", `the column "uuid" appears twice`}},
		{"csv header only", head, []string{"header but no cards"}},
		{"csv header cannot be read", "Uuid,\"Serial\n", []string{"the CSV header cannot be read"}},
		{"csv missing serial", head + row + uuid2 + ",,Active\n", []string{"line 3", `"serialnumber" is required`}},
		{"csv missing uuid", head + ",a,Active\n", []string{"line 2", `"uuid" is required`}},
		{"csv bad uuid", head + row + "card-2,b,Active\n", []string{"line 3", "uuid must be a GUID"}},
		{"csv bad status", head + row + row + uuid2 + ",b,Frozen\n", []string{"line 4", `smartcard status "Frozen"`}},
		{"csv bad user", "Uuid,SerialNumber,AssignedUserUuid\n" + uuid1 + ",a,bob\n", []string{"line 2", "assigneduseruuid must be a GUID"}},
		{"csv bad flags", "Uuid,SerialNumber,Flags\n" + uuid1 + ",a,1.5\n", []string{"line 2", "flags must be a whole number"}},
		{"csv too few cells", head + row + uuid2 + ",b\n", []string{"line 3", "wrong number of fields"}},
		{"csv too many cells", head + uuid2 + ",b,Active,extra\n", []string{"line 2", "wrong number of fields"}},
		{"csv line after multi-line cell", "Uuid,SerialNumber,Comment\n" + uuid1 + ",a,\"two\nlines\"\n" + uuid2 + ",b,\"x\"y\n",
			[]string{"line 4", "quoted-field"}},
		{"csv bare quote in a later cell", head + row + uuid2 + ",b\"c,Active\n", []string{"line 3", "bare \""}},
		{"csv bare quote in the first cell", head + row + "x\"y,b,Active\n", []string{"line 3", "bare \""}},
		{"csv line numbers count leading blank lines", "\n\n" + head + row + "card-2,b,Active\n", []string{"line 5", "uuid must be a GUID"}},
		{"csv unterminated quote in the first cell", head + "\"" + uuid2 + ",b,Active\n", []string{"line 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cards, err := readCards(t, []byte(tc.input))
			if err == nil {
				t.Fatalf("ReadSmartcards(%q) = %+v, want an error", tc.input, cards)
			}
			if strings.HasPrefix(err.Error(), "panic: ") {
				return // readCards has reported it
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestExampleCardsRoundTrip exports what the documented example file
// imports and gets the file back, byte for byte.
func TestExampleCardsRoundTrip(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "examples", "cards.json"))
	if err != nil {
		t.Fatal(err)
	}
	cards, err := readCards(t, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 2 || !reflect.DeepEqual(cards[0], docCard1) {
		t.Fatalf("the example file reads as %+v", cards)
	}
	var buf bytes.Buffer
	if err := WriteSmartcards(&buf, cards); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("the export differs from the example file\n got: %s\nwant: %s", buf.Bytes(), data)
	}
	again, err := readCards(t, buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, cards) {
		t.Errorf("export then import changed the cards\n got %+v\nwant %+v", again, cards)
	}
}

func TestWriteSmartcardsNil(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSmartcards(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "[]\n" {
		t.Errorf("WriteSmartcards(nil) = %q, want %q", got, "[]\n")
	}
}

// FuzzReadSmartcards feeds outside bytes to the import parser: it must
// never panic, must refuse only with ErrInvalid, and what it accepts must
// export and import back to the same cards.
func FuzzReadSmartcards(f *testing.F) {
	f.Add([]byte("Uuid,SerialNumber\n" + uuid1 + ",a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cards, err := ReadSmartcards(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ReadSmartcards(%q): %v is not ErrInvalid", data, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteSmartcards(&buf, cards); err != nil {
			t.Fatalf("WriteSmartcards of what ReadSmartcards(%q) gave: %v", data, err)
		}
		again, err := ReadSmartcards(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("reading back the export of %q: %v\n%s", data, err, buf.Bytes())
		}
		if !reflect.DeepEqual(again, cards) {
			t.Fatalf("round trip of %q changed the cards\n got %+v\nwant %+v", data, again, cards)
		}
	})
}
