// Package wire holds the MIM CM JSON shapes and the strict, lenient parser
// for what clients send: keys match in any case, values come in the forms
// MIM CM's own documentation uses (GUIDs in any case or in braces, numbers
// as strings, data collections as arrays or as strings holding one), but a
// key the endpoint does not know is refused by name, so a typo never passes.
package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// Object is a JSON object whose keys have been checked and lowercased.
type Object struct {
	fields map[string]json.RawMessage
}

// ParseObject reads one JSON object. It refuses anything else, trailing
// data, a key given twice (in any case), and keys not in allowed (given
// in lowercase).
//
// A leading UTF-8 byte order mark is skipped: PowerShell and Notepad
// write one, and it says nothing. A UTF-16 one is refused by name, since
// the body must be UTF-8.
func ParseObject(data []byte, allowed ...string) (Object, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return Object{}, invalid("the body starts with a UTF-16 byte order mark; send it as UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	o, err := decodeObject(dec, allowed)
	if err != nil {
		return Object{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Object{}, invalid("the body holds more than one JSON value")
	}
	return o, nil
}

func decodeObject(dec *json.Decoder, allowed []string) (Object, error) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return Object{}, invalid("the body must be a JSON object")
	}
	o := Object{fields: map[string]json.RawMessage{}}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return Object{}, invalid("the body is not valid JSON")
		}
		key := strings.ToLower(tok.(string)) // inside an object every token here is a key
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return Object{}, invalid("the body is not valid JSON")
		}
		if _, dup := o.fields[key]; dup {
			return Object{}, invalid("the key %q appears more than once", clip(key))
		}
		if !contains(allowed, key) {
			return Object{}, invalid("unknown key %q; this takes only: %s", clip(tok.(string)), strings.Join(allowed, ", "))
		}
		o.fields[key] = raw
	}
	if _, err := dec.Token(); err != nil {
		return Object{}, invalid("the body is not valid JSON")
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Has reports whether the object has key (lowercase).
func (o Object) Has(key string) bool {
	_, ok := o.fields[key]
	return ok
}

// Require fails naming the first of keys that is missing.
func (o Object) Require(keys ...string) error {
	for _, k := range keys {
		if !o.Has(k) {
			return invalid("the key %q is required", k)
		}
	}
	return nil
}

// String returns a string value; a missing key or null is "".
func (o Object) String(key string) (string, error) {
	raw, ok := o.fields[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("%s must be a string", key)
	}
	return s, nil
}

// Text returns a string, or a number's digits: MIM CM clients send enums
// and priorities either way.
func (o Object) Text(key string) (string, error) {
	raw, ok := o.fields[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("%s must be a string or a number", key)
	}
	return s, nil
}

// Int returns a whole number given as a number or as a string of digits;
// a missing key, null or "" is 0.
func (o Object) Int(key string) (int, error) {
	t, err := o.Text(key)
	if err != nil || strings.TrimSpace(t) == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 32)
	if err != nil {
		return 0, invalid("%s must be a whole number, not %q", key, clip(t))
	}
	return int(n), nil
}

// GUID returns a GUID given in any case, with or without braces; a missing
// key, null or "" is the all-zero GUID.
func (o Object) GUID(key string) (guid.GUID, error) {
	s, err := o.String(key)
	if err != nil || strings.TrimSpace(s) == "" {
		return guid.Nil, err
	}
	g, err := guid.Parse(s)
	if err != nil {
		return guid.Nil, invalid("%s must be a GUID, not %q", key, clip(s))
	}
	return g, nil
}

// DataCollection reads MIM CM's data collection: an array of one-key
// objects ({"city":"seattle"}) or of {"name":..,"value":..} pairs, or a
// string holding such an array ("[]").
func (o Object) DataCollection(key string) ([]storage.DataItem, error) {
	raw, ok := o.fields[key]
	if !ok || string(raw) == "null" {
		return []storage.DataItem{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
		if strings.TrimSpace(s) == "" {
			return []storage.DataItem{}, nil
		}
	}
	var items []map[string]*string
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, invalid("%s must be an array of objects with string values, or a string holding one", key)
	}
	out := make([]storage.DataItem, 0, len(items))
	for i, item := range items {
		d, err := dataItem(item)
		if err != nil {
			return nil, invalid("%s item %d: %s", key, i+1, err)
		}
		out = append(out, d)
	}
	return out, nil
}

func dataItem(item map[string]*string) (storage.DataItem, error) {
	var d storage.DataItem
	switch len(item) {
	case 1:
		for k, v := range item {
			d = storage.DataItem{Name: k, Value: v}
		}
		return d, nil
	case 2:
		var name *string
		var hasName, hasValue bool
		for k, v := range item {
			switch strings.ToLower(k) {
			case "name":
				name, hasName = v, true
			case "value":
				d.Value, hasValue = v, true
			}
		}
		if hasName && hasValue && name != nil {
			d.Name = *name
			return d, nil
		}
	}
	return d, errors.New("must have one key, or the two keys name and value")
}

// clip keeps echoed input short in messages.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
