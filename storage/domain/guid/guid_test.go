package guid

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	const canon = "17cf063d-e337-4aa9-a822-346554ddd3c9"
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: canon, want: canon},
		{in: "17CF063D-E337-4AA9-A822-346554DDD3C9", want: canon},
		{in: "{17cf063d-e337-4aa9-a822-346554ddd3c9}", want: canon},
		{in: " C6BAD97C-0000-4AA9-A822-346554DDD3C9", want: "c6bad97c-0000-4aa9-a822-346554ddd3c9"},
		{in: "\t{17CF063D-E337-4AA9-A822-346554DDD3C9}\n", want: canon},
		{in: "00000000-0000-0000-0000-000000000000", want: "00000000-0000-0000-0000-000000000000"},
		{in: "", wantErr: true},
		{in: "17cf063de3374aa9a822346554ddd3c9", wantErr: true},
		{in: "{17cf063d-e337-4aa9-a822-346554ddd3c9", wantErr: true},
		{in: "17cf063d-e337-4aa9-a822-346554ddd3c", wantErr: true},
		{in: "17cf063d-e337-4aa9-a822-346554ddd3cg", wantErr: true},
		{in: "17cf063d_e337_4aa9_a822_346554ddd3c9", wantErr: true},
		{in: "{{17cf063d-e337-4aa9-a822-346554ddd3c9}}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			g, err := Parse(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrSyntax) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrSyntax", tt.in, g, err)
				}
				return
			}
			if err != nil || g.String() != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %s", tt.in, g, err, tt.want)
			}
		})
	}
}

func TestNewIsVersion4AndUnique(t *testing.T) {
	a, b := New(), New()
	if a == b || a.IsNil() {
		t.Fatalf("New returned %v and %v", a, b)
	}
	if a[6]>>4 != 4 || a[8]>>6 != 2 {
		t.Fatalf("New() = %v is not an RFC 4122 version 4 GUID", a)
	}
}

// TestNewOrderedSortsByTime: GUIDs made later sort after earlier ones (as
// bbolt orders keys, bytewise), whatever their random part, and are
// version 7 RFC 9562 UUIDs carrying the millisecond.
func TestNewOrderedSortsByTime(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	var prev GUID
	for i := range 1000 {
		g := NewOrdered(t0.Add(time.Duration(i) * time.Millisecond))
		if g[6]>>4 != 7 || g[8]>>6 != 2 {
			t.Fatalf("NewOrdered = %v is not a version 7 GUID", g)
		}
		if i > 0 && bytes.Compare(prev[:], g[:]) >= 0 {
			t.Fatalf("%v (made later) does not sort after %v", g, prev)
		}
		prev = g
	}
	if g := NewOrdered(t0); !strings.HasPrefix(g.String(), fmt.Sprintf("%08x-%04x-7", t0.UnixMilli()>>16, t0.UnixMilli()&0xffff)) {
		t.Fatalf("NewOrdered(%v) = %v: the milliseconds are not its first 48 bits", t0, g)
	}
}

// FuzzParse checks that whatever Parse accepts prints back to a form that
// parses to the same GUID, and that it never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"17cf063d-e337-4aa9-a822-346554ddd3c9", "{17CF063D-E337-4AA9-A822-346554DDD3C9}",
		" c6bad97c-0000-4aa9-a822-346554ddd3c9", "", "{", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(g.String())
		if err != nil || again != g {
			t.Fatalf("Parse(%q) = %v, but its String does not parse back: %v, %v", s, g, again, err)
		}
	})
}

// FuzzHasPrefix: a Prefix agrees with the start of the canonical form.
func FuzzHasPrefix(f *testing.F) {
	g, err := Parse("0123abcd-4567-89ef-0a1b-2c3d4e5f6789")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{"", "0", "0123abcd", "0123abcd-", "0123abcd-4", "0123abce", "0123ABCD",
		"0123abcd-4567-89ef-0a1b-2c3d4e5f6789", "0123abcd-4567-89ef-0a1b-2c3d4e5f6789x", "0123abcd_4567"} {
		f.Add(g[:], p)
	}
	f.Fuzz(func(t *testing.T, raw []byte, p string) {
		if len(raw) != 16 {
			return
		}
		g := GUID(raw)
		if got, want := MakePrefix([]byte(p)).Of(g), strings.HasPrefix(g.String(), p); got != want {
			t.Fatalf("MakePrefix(%q).Of(%s) = %v, want %v", p, g, got, want)
		}
	})
}
