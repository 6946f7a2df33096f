package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// requestKeys are the keys of POST /requests plus the PUTs' status: every
// key a client body may carry.
var requestKeys = []string{"type", "smartcard", "target", "profiletemplateuuid", "datacollection", "comment", "priority", "status"}

const docCard = "17cf063d-e337-4aa9-a822-346554ddd3c9"

func strp(s string) *string { return &s }

func TestParseObjectAccepts(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		keys []string // the keys Has must report, lowercase
	}{
		{"empty object", `{}`, nil},
		{"documented retire", `{"type":"Retire","smartcard":"` + docCard + `","datacollection":[],"comment":""}`,
			[]string{"type", "smartcard", "datacollection", "comment"}},
		{"documented status", `{"status": "Retired"}`, []string{"status"}},
		{"keys in any case", `{"TYPE":"Disable","SmartCard":"` + docCard + `","DataCollection":"[]"}`,
			[]string{"type", "smartcard", "datacollection"}},
		{"white space around", " \n\t{ \"comment\" : \"x\" }\r\n ", []string{"comment"}},
		{"nested values are kept raw", `{"datacollection":[{"a":{"b":[1,2,{}]}}]}`, []string{"datacollection"}},
		{"null value", `{"comment":null}`, []string{"comment"}},
		{"escaped key", `{"typ\u0065":"Disable"}`, []string{"type"}},
		{"UTF-8 byte order mark", "\xef\xbb\xbf{\"status\":\"Disabled\"}", []string{"status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseObject([]byte(tc.body), requestKeys...)
			if err != nil {
				t.Fatalf("ParseObject(%s): %v", tc.body, err)
			}
			for _, k := range requestKeys {
				want := false
				for _, w := range tc.keys {
					want = want || w == k
				}
				if got := o.Has(k); got != want {
					t.Errorf("Has(%q) = %v, want %v", k, got, want)
				}
			}
		})
	}
}

func TestParseObjectRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"empty", ``, "must be a JSON object"},
		{"only space", "  \n", "must be a JSON object"},
		{"array", `[{"type":"Disable"}]`, "must be a JSON object"},
		{"string", `"Disable"`, "must be a JSON object"},
		{"null", `null`, "must be a JSON object"},
		{"number", `4`, "must be a JSON object"},
		{"unterminated", `{"type":"Disable"`, "not valid JSON"},
		{"missing colon", `{"type" "Disable"}`, "not valid JSON"},
		{"missing value", `{"type":}`, "not valid JSON"},
		{"trailing comma", `{"type":"Disable",}`, "not valid JSON"},
		{"missing comma", `{"type":"Disable" "comment":""}`, "not valid JSON"},
		{"number as key", `{1:2}`, "not valid JSON"},
		{"single quotes", `{'type':'Disable'}`, "not valid JSON"},
		{"second object", `{"type":"Disable"}{}`, "more than one JSON value"},
		{"trailing garbage", `{"type":"Disable"} x`, "more than one JSON value"},
		{"trailing brace", `{"type":"Disable"}}`, "more than one JSON value"},
		{"trailing bracket", `{"type":"Disable"}]`, "more than one JSON value"},
		{"duplicate key", `{"type":"Disable","type":"Retire"}`, `"type" appears more than once`},
		{"duplicate key in another case", `{"type":"Disable","TYPE":"Disable"}`, `"type" appears more than once`},
		{"unknown key named", `{"type":"Disable","smartcardd":"x"}`, `unknown key "smartcardd"`},
		{"unknown key keeps its case", `{"Colour":"red"}`, `unknown key "Colour"`},
		{"unknown key lists the allowed", `{"x":1}`, "this takes only: type, smartcard"},
		{"two byte order marks", "\xef\xbb\xbf\xef\xbb\xbf{}", "must be a JSON object"},
		{"byte order mark after space", " \xef\xbb\xbf{}", "must be a JSON object"},
		{"UTF-16 little-endian", "\xff\xfe{\x00}\x00", "UTF-16 byte order mark; send it as UTF-8"},
		{"UTF-16 big-endian", "\xfe\xff\x00{\x00}", "UTF-16 byte order mark"},
		{"long unknown key clipped", `{"` + strings.Repeat("k", 200) + `":1}`, strings.Repeat("k", 64) + `..."`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseObject([]byte(tc.body), requestKeys...)
			if err == nil {
				t.Fatalf("ParseObject(%q) succeeded", tc.body)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseObjectNoKeysAllowed(t *testing.T) {
	if _, err := ParseObject([]byte(`{}`)); err != nil {
		t.Errorf("empty object with no keys allowed: %v", err)
	}
	if _, err := ParseObject([]byte(`{"status":"x"}`)); !errors.Is(err, ErrInvalid) {
		t.Errorf("a key when none is allowed: err = %v, want ErrInvalid", err)
	}
}

func TestObjectRequire(t *testing.T) {
	o := mustParse(t, `{"Type":null}`)
	if err := o.Require("type"); err != nil {
		t.Errorf("Require(type) with a null value: %v", err)
	}
	err := o.Require("type", "status", "comment")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"status" is required`) {
		t.Errorf("Require(type, status, comment) = %v, want the first missing key, status", err)
	}
}

func mustParse(t *testing.T, body string) Object {
	t.Helper()
	o, err := ParseObject([]byte(body), requestKeys...)
	if err != nil {
		t.Fatalf("ParseObject(%s): %v", body, err)
	}
	return o
}

// accessorCase is one call of an accessor on the body {"<key>": <value>}.
type accessorCase struct {
	name  string
	value string // the JSON value; "" leaves the key out
	want  any
	err   string // a substring of the error; "" means no error
}

func runAccessor[T any](t *testing.T, key string, get func(Object, string) (T, error), cases []accessorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{}`
			if tc.value != "" {
				body = `{"` + key + `":` + tc.value + `}`
			}
			got, err := get(mustParse(t, body), key)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("%s: got %#v, want an error containing %q", body, got, tc.err)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("%s: error %v is not ErrInvalid", body, err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("%s: error %q does not contain %q", body, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			if !reflect.DeepEqual(any(got), tc.want) {
				t.Errorf("%s: got %#v, want %#v", body, got, tc.want)
			}
		})
	}
}

func TestObjectText(t *testing.T) {
	runAccessor(t, "type", Object.Text, []accessorCase{
		{"missing", "", "", ""},
		{"null", `null`, "", ""},
		{"string", `"Disable"`, "Disable", ""},
		{"string kept as sent", `" dIsAbLe "`, " dIsAbLe ", ""},
		{"number", `4`, "4", ""},
		{"number as string", `"4"`, "4", ""},
		{"negative number", `-7`, "-7", ""},
		{"fraction", `4.5`, "4.5", ""},
		{"exponent", `1e3`, "1e3", ""},
		{"escaped", `"Re\u0074ire"`, "Retire", ""},
		{"empty string", `""`, "", ""},
		{"bool", `true`, nil, "type must be a string or a number"},
		{"array", `["Disable"]`, nil, "type must be a string or a number"},
		{"object", `{"x":"Disable"}`, nil, "type must be a string or a number"},
	})
}

func TestObjectString(t *testing.T) {
	runAccessor(t, "comment", Object.String, []accessorCase{
		{"missing", "", "", ""},
		{"null", `null`, "", ""},
		{"empty", `""`, "", ""},
		{"text", `"lost on the bus"`, "lost on the bus", ""},
		{"spaces kept", `"  x  "`, "  x  ", ""},
		{"unicode", `"Ærø \u00e9 \ud83d\ude00"`, "Ærø é 😀", ""},
		{"html not escaped", `"<a&b>"`, "<a&b>", ""},
		{"number", `4`, nil, "comment must be a string"},
		{"bool", `false`, nil, "comment must be a string"},
		{"array", `[]`, nil, "comment must be a string"},
		{"object", `{}`, nil, "comment must be a string"},
	})
}

func TestObjectInt(t *testing.T) {
	runAccessor(t, "priority", Object.Int, []accessorCase{
		{"missing", "", 0, ""},
		{"null", `null`, 0, ""},
		{"empty string", `""`, 0, ""},
		{"blank string", `"  "`, 0, ""},
		{"documented string", `"4"`, 4, ""},
		{"number", `4`, 4, ""},
		{"zero", `0`, 0, ""},
		{"negative", `-3`, -3, ""},
		{"string with spaces", `" 12 "`, 12, ""},
		{"largest int32", `2147483647`, 2147483647, ""},
		{"smallest int32", `"-2147483648"`, -2147483648, ""},
		{"letters", `"abc"`, nil, `priority must be a whole number, not "abc"`},
		{"fraction", `4.5`, nil, `priority must be a whole number, not "4.5"`},
		{"exponent", `4e2`, nil, "priority must be a whole number"},
		{"too large", `2147483648`, nil, "priority must be a whole number"},
		{"hex", `"0x10"`, nil, "priority must be a whole number"},
		{"bool", `true`, nil, "priority must be a string or a number"},
		{"array", `[4]`, nil, "priority must be a string or a number"},
		{"long value clipped", `"` + strings.Repeat("9", 100) + `"`, nil, strings.Repeat("9", 64) + `..."`},
	})
}

func TestObjectGUID(t *testing.T) {
	g := guid.GUID{0x17, 0xcf, 0x06, 0x3d, 0xe3, 0x37, 0x4a, 0xa9, 0xa8, 0x22, 0x34, 0x65, 0x54, 0xdd, 0xd3, 0xc9}
	runAccessor(t, "smartcard", Object.GUID, []accessorCase{
		{"missing", "", guid.Nil, ""},
		{"null", `null`, guid.Nil, ""},
		{"empty", `""`, guid.Nil, ""},
		{"blank", `"   "`, guid.Nil, ""},
		{"canonical", `"` + docCard + `"`, g, ""},
		{"uppercase", `"17CF063D-E337-4AA9-A822-346554DDD3C9"`, g, ""},
		{"braced", `"{17cf063d-e337-4aa9-a822-346554ddd3c9}"`, g, ""},
		{"braced uppercase", `"{17CF063D-E337-4AA9-A822-346554DDD3C9}"`, g, ""},
		{"leading space (walkthrough step 14)", `" 17CF063D-E337-4AA9-A822-346554DDD3C9"`, g, ""},
		{"surrounding space and braces", "\" \\t{17cf063d-e337-4aa9-a822-346554ddd3c9} \"", g, ""},
		{"all zero", `"00000000-0000-0000-0000-000000000000"`, guid.Nil, ""},
		{"no hyphens", `"17cf063de3374aa9a822346554ddd3c9"`, nil, `smartcard must be a GUID, not "17cf063de3374aa9a822346554ddd3c9"`},
		{"not hex", `"17cf063d-e337-4aa9-a822-346554ddd3cz"`, nil, "smartcard must be a GUID"},
		{"too short", `"17cf063d-e337-4aa9-a822-346554ddd3c"`, nil, "smartcard must be a GUID"},
		{"one brace", `"{17cf063d-e337-4aa9-a822-346554ddd3c9"`, nil, "smartcard must be a GUID"},
		{"card id words", `"the blue card"`, nil, "smartcard must be a GUID"},
		{"number", `17`, nil, "smartcard must be a string"},
		{"object", `{"Uuid":"` + docCard + `"}`, nil, "smartcard must be a string"},
	})
}

func TestObjectDataCollection(t *testing.T) {
	runAccessor(t, "datacollection", Object.DataCollection, []accessorCase{
		{"missing", "", []storage.DataItem{}, ""},
		{"null", `null`, []storage.DataItem{}, ""},
		{"empty array", `[]`, []storage.DataItem{}, ""},
		{"documented string", `"[]"`, []storage.DataItem{}, ""},
		{"empty string", `""`, []storage.DataItem{}, ""},
		{"blank string", `"  "`, []storage.DataItem{}, ""},
		{"documented one-key objects", `[{"name":"pavle"},{"city":"seattle"}]`,
			[]storage.DataItem{{Name: "name", Value: strp("pavle")}, {Name: "city", Value: strp("seattle")}}, ""},
		{"one-key objects in a string", `"[{\"Request Reason\":\"Need VPN Certs\"}]"`,
			[]storage.DataItem{{Name: "Request Reason", Value: strp("Need VPN Certs")}}, ""},
		{"documented name/value with null", `[{"Name":"x","Value":null}]`,
			[]storage.DataItem{{Name: "x", Value: nil}}, ""},
		{"name/value in any case and order", `[{"VALUE":"seattle","name":"city"}]`,
			[]storage.DataItem{{Name: "city", Value: strp("seattle")}}, ""},
		{"one key with null", `[{"x":null}]`, []storage.DataItem{{Name: "x", Value: nil}}, ""},
		{"object", `{}`, nil, "datacollection must be an array of objects with string values"},
		{"number", `5`, nil, "datacollection must be an array"},
		{"bool", `true`, nil, "datacollection must be an array"},
		{"array of strings", `["a"]`, nil, "datacollection must be an array"},
		{"array of numbers in a string", `"[1]"`, nil, "datacollection must be an array"},
		{"number value", `[{"name":"x","value":1}]`, nil, "datacollection must be an array of objects with string values"},
		{"nested value", `[{"x":{"y":"z"}}]`, nil, "datacollection must be an array"},
		{"string not JSON", `"reason: lost"`, nil, "or a string holding one"},
		{"typographic quotes", `"[{“Request Reason”:”Need VPN Certs”}]"`, nil, "datacollection must be an array"},
		{"string holding a string", `"\"[]\""`, nil, "datacollection must be an array"},
		{"empty object", `[{}]`, nil, "datacollection item 1: must have one key, or the two keys name and value"},
		{"null item", `[{"a":"b"},null]`, nil, "datacollection item 2"},
		{"two other keys", `[{"a":"1","b":"2"}]`, nil, "datacollection item 1"},
		{"name without value", `[{"name":"x","other":"y"}]`, nil, "datacollection item 1"},
		{"null name", `[{"name":null,"value":"y"}]`, nil, "datacollection item 1"},
		{"three keys", `[{"name":"x","value":"y","z":"w"}]`, nil, "datacollection item 1"},
	})
}

// FuzzParseObject feeds outside bytes to the body parser: it must never
// panic, must refuse only with ErrInvalid, and every accessor on an object
// it accepted must be safe to call.
func FuzzParseObject(f *testing.F) {
	f.Add([]byte(`{"type":"Disable","smartcard":"` + docCard + `","comment":"","datacollection":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseObject(data, requestKeys...)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseObject(%q): %v is not ErrInvalid", data, err)
			}
			return
		}
		check := func(what string, err error) {
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s on %q: %v is not ErrInvalid", what, data, err)
			}
		}
		for _, k := range append(requestKeys, "absent") {
			_, err := o.Text(k)
			check("Text("+k+")", err)
			_, err = o.Int(k)
			check("Int("+k+")", err)
			_, err = o.GUID(k)
			check("GUID("+k+")", err)
			_, err = o.String(k)
			check("String("+k+")", err)
			dc, err := o.DataCollection(k)
			check("DataCollection("+k+")", err)
			if err == nil && dc == nil {
				t.Fatalf("DataCollection(%s) on %q: nil slice without error", k, data)
			}
			check("Require("+k+")", o.Require(k))
			_ = o.Has(k)
		}
	})
}
