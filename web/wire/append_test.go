package wire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// reflected is the card as encoding/json writes it in writeJSON.
func reflected(t testing.TB, c Smartcard) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func TestSmartcardAppendJSON(t *testing.T) {
	for _, text := range []string{"", "plain", `"quoted" \ back`, "tab\tnew\nline\rcr\x00\x01\x1f\x7f",
		"<html> & 'x'", "å ä ö — €", "\u2028\u2029", "bad \xff\xfe utf-8 \xe2\x82", "emoji 😀"} {
		c := Smartcard{Uuid: guid.New(), Status: domain.CardDisabled, Flags: -7, AssignedUserUuid: guid.New(),
			ProfileTemplateVersion: 46, Comment: text, SerialNumber: text + "1", Middleware: text, Atr: "3b8d"}
		if got, want := c.AppendJSON(nil), reflected(t, c); !bytes.Equal(got, want) {
			t.Errorf("%q:\n got %s\nwant %s", text, got, want)
		}
	}
}

// FuzzSmartcardJSON holds the hand-written encoding to encoding/json's.
func FuzzSmartcardJSON(f *testing.F) {
	f.Add("comment", "{serial}", 3, 1)
	f.Add("\xff\u2028\"\\\x00", "", -1, 1<<40)
	f.Fuzz(func(t *testing.T, comment, serial string, status, flags int) {
		c := Smartcard{Uuid: guid.New(), Status: domain.CardStatus(status), Flags: flags, Comment: comment, SerialNumber: serial, Atr: comment + serial}
		if got, want := c.AppendJSON(nil), reflected(t, c); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
