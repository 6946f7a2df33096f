package wire

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cardstop/cardstop/storage/domain"
)

// smartcardKeys are the Smartcard object's keys, lowercased, in order.
var smartcardKeys = []string{"uuid", "status", "flags", "parentsmartcarduuid", "primarysmartcarduuid",
	"permanentsmartcarduuid", "assigneduseruuid", "profiletemplateuuid", "profiletemplateversion",
	"comment", "serialnumber", "middleware", "atr"}

// smartcardFrom reads a Smartcard object; Uuid and SerialNumber are required.
func smartcardFrom(o Object) (Smartcard, error) {
	var c Smartcard
	if err := o.Require("uuid", "serialnumber"); err != nil {
		return c, err
	}
	var errs [13]error
	c.Uuid, errs[0] = o.GUID("uuid")
	var status string
	status, errs[1] = o.Text("status")
	c.Flags, errs[2] = o.Int("flags")
	c.ParentSmartcardUuid, errs[3] = o.GUID("parentsmartcarduuid")
	c.PrimarySmartcardUuid, errs[4] = o.GUID("primarysmartcarduuid")
	c.PermanentSmartcardUuid, errs[5] = o.GUID("permanentsmartcarduuid")
	c.AssignedUserUuid, errs[6] = o.GUID("assigneduseruuid")
	c.ProfileTemplateUuid, errs[7] = o.GUID("profiletemplateuuid")
	c.ProfileTemplateVersion, errs[8] = o.Int("profiletemplateversion")
	c.Comment, errs[9] = o.String("comment")
	c.SerialNumber, errs[10] = o.String("serialnumber")
	c.Middleware, errs[11] = o.String("middleware")
	c.Atr, errs[12] = o.String("atr")
	for _, err := range errs {
		if err != nil {
			return c, err
		}
	}
	if strings.TrimSpace(status) != "" {
		s, err := domain.ParseCardStatus(status)
		if err != nil {
			return c, err
		}
		c.Status = s
	}
	return c, nil
}

// ReadSmartcards reads an import file: a JSON array of Smartcard objects,
// or CSV whose header names the same keys (in any case and order). The
// first bad record fails the whole file, named by its place.
func ReadSmartcards(r io.Reader) ([]Smartcard, error) {
	br := bufio.NewReader(r)
	first, lines, err := firstNonSpace(br)
	if err != nil {
		return nil, invalid("the file is empty")
	}
	if first == '[' {
		return readJSONCards(br)
	}
	return readCSVCards(br, lines)
}

// firstNonSpace skips a byte-order mark and white space, and returns the
// first other byte (unread) and how many lines it skipped.
func firstNonSpace(br *bufio.Reader) (byte, int, error) {
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xef, 0xbb, 0xbf}) {
		_, _ = br.Discard(3) // as spreadsheet programs write
	}
	lines := 0
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, lines, err
		}
		if b == '\n' {
			lines++
		}
		if !strings.ContainsRune(" \t\r\n", rune(b)) {
			return b, lines, br.UnreadByte()
		}
	}
}

func readJSONCards(r io.Reader) ([]Smartcard, error) {
	var raws []json.RawMessage
	dec := json.NewDecoder(r)
	if err := dec.Decode(&raws); err != nil {
		return nil, invalid("the file is not a JSON array of objects: %s", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("the file holds more than one JSON value")
	}
	cards := make([]Smartcard, 0, len(raws))
	for i, raw := range raws {
		if len(raw) == 0 || raw[0] != '{' {
			return nil, invalid("record %d: must be a JSON object", i+1)
		}
		o, err := ParseObject(raw, smartcardKeys...)
		var c Smartcard
		if err == nil {
			c, err = smartcardFrom(o)
		}
		if err != nil {
			return nil, invalid("record %d: %s", i+1, err)
		}
		cards = append(cards, c)
	}
	return cards, nil
}

// readCSVCards reads CSV; skipped is the number of blank lines before it,
// so that line numbers in messages are the file's.
func readCSVCards(r io.Reader, skipped int) ([]Smartcard, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, invalid("line %d: the CSV header cannot be read: %s", skipped+1, csvErr(err))
	}
	for i := range header {
		header[i] = strings.ToLower(strings.TrimSpace(header[i]))
		if !contains(smartcardKeys, header[i]) {
			return nil, invalid("line %d: unknown column %q; the columns are the Smartcard keys: %s", skipped+1, clip(header[i]), strings.Join(smartcardKeys, ", "))
		}
		if contains(header[:i], header[i]) {
			return nil, invalid("line %d: the column %q appears twice", skipped+1, header[i])
		}
	}
	var cards []Smartcard
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, invalid("line %d: %s", skipped+pe.StartLine, csvErr(pe.Err))
		}
		if err != nil {
			return nil, invalid("the CSV file cannot be read: %s", err)
		}
		line, _ := cr.FieldPos(0)
		line += skipped
		// Build the same object a JSON record gives, so both formats take
		// one path; empty cells are absent keys.
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, cell := range rec {
			if cell == "" {
				continue
			}
			if buf.Len() > 1 {
				buf.WriteByte(',')
			}
			k, _ := json.Marshal(header[i])
			v, _ := json.Marshal(cell)
			buf.Write(k)
			buf.WriteByte(':')
			buf.Write(v)
		}
		buf.WriteByte('}')
		o, err := ParseObject(buf.Bytes(), smartcardKeys...)
		var c Smartcard
		if err == nil {
			c, err = smartcardFrom(o)
		}
		if err != nil {
			return nil, invalid("line %d: %s", line, err)
		}
		cards = append(cards, c)
	}
	if len(cards) == 0 {
		return nil, invalid("the CSV file has a header but no cards")
	}
	return cards, nil
}

func csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// WriteSmartcards writes cards as an indented JSON array that
// ReadSmartcards reads back to the same cards.
func WriteSmartcards(w io.Writer, cards []Smartcard) error {
	if cards == nil {
		cards = []Smartcard{}
	}
	data, err := json.MarshalIndent(cards, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
