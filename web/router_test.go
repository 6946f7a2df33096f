package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// mirror is the route table's patterns in a router and in a ServeMux,
// whose handlers report the path values the mux set.
type mirror struct {
	rt       router
	mux      *http.ServeMux
	patterns []string
}

func newMirror(t testing.TB) *mirror {
	s := New(nil, Options{PressButton: func() {}})
	m := &mirror{mux: http.NewServeMux()}
	for _, r := range s.routes() {
		m.patterns = append(m.patterns, r.pattern)
		m.mux.Handle(r.pattern, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {}))
		m.rt.add(r.pattern, nil)
	}
	return m
}

// muxValues is what the mux matches for method and path (lowercased, as
// ServeHTTP gives it), and the values of the pattern's wildcards.
func (m *mirror) muxValues(method, path string) (string, map[string]string) {
	req := &http.Request{Method: method, URL: &url.URL{Path: strings.ToLower(path)}, Host: "station", Header: http.Header{}}
	_, pattern := m.mux.Handler(req)
	if pattern == "" {
		return "", nil
	}
	var values map[string]string
	var seen *http.Request
	probe := http.NewServeMux()
	probe.HandleFunc(pattern, func(_ http.ResponseWriter, r *http.Request) { seen = r })
	probe.ServeHTTP(&headerProbe{header: http.Header{}}, req)
	if seen != nil {
		values = map[string]string{}
		_, p, _ := strings.Cut(pattern, " ")
		for _, s := range strings.Split(p, "/") {
			if strings.HasPrefix(s, "{") && s != "{$}" {
				name := strings.TrimSuffix(strings.TrimPrefix(s, "{"), "}")
				values[name] = seen.PathValue(name)
			}
		}
	}
	return pattern, values
}

// routerValues is what the router matches, and its wildcards' values as
// pathValue gives them.
func (m *mirror) routerValues(method, path string) (string, map[string]string) {
	var segs [maxSegments]string
	rt := m.rt.match(method, path, &segs)
	if rt == nil {
		return "", nil
	}
	values := map[string]string{}
	for i, s := range rt.segs {
		if s[0] == '{' {
			values[s[1:len(s)-1]] = strings.ToLower(segs[i])
		}
	}
	return rt.pattern, values
}

func (m *mirror) check(t *testing.T, method, path string) {
	got, gotValues := m.routerValues(method, path)
	if got == "" {
		return // the mux decides
	}
	want, wantValues := m.muxValues(method, path)
	if got != want || len(gotValues) != len(wantValues) {
		t.Fatalf("%s %q: the router found %q %v, the mux %q %v", method, path, got, gotValues, want, wantValues)
	}
	for k, v := range wantValues {
		if gotValues[k] != v {
			t.Fatalf("%s %q: the router's %s is %q, the mux's %q", method, path, k, gotValues[k], v)
		}
	}
}

// TestRouterTakesTheAPI: every API route and every page of whole segments
// is found by the router, as the mux finds it, in any case.
func TestRouterTakesTheAPI(t *testing.T) {
	m := newMirror(t)
	taken := 0
	for _, p := range m.patterns {
		method, path, _ := strings.Cut(p, " ")
		path = strings.NewReplacer("{id}", "17cf063d-e337-4aa9-a822-346554ddd3c9", "{reqid}", "5f7e6e9b-0e5a-4a8f-9f27-3a4b8b1f0c11",
			"{scid}", "438D1B30-F3B4-4BED-85FA-285E08605BA7", "{action}", "Disable").Replace(path)
		for _, variant := range []string{path, strings.ToUpper(path)} {
			got, _ := m.routerValues(method, variant)
			want, _ := m.muxValues(method, variant)
			if strings.HasPrefix(path, "/certificatemanagement/") || strings.HasPrefix(path, "/api/") {
				if got != p {
					t.Errorf("%s %s: the router found %q, want %q", method, variant, got, p)
				}
			}
			if got != "" && got != want {
				t.Errorf("%s %s: the router found %q, the mux %q", method, variant, got, want)
			}
			if got != "" {
				taken++
			}
			m.check(t, method, variant)
		}
		if method == http.MethodGet {
			m.check(t, http.MethodHead, path)
		}
	}
	if taken == 0 {
		t.Fatal("the router took no route")
	}
}

// FuzzRouter: whatever the router finds, the mux finds too, with the same
// values.
func FuzzRouter(f *testing.F) {
	m := newMirror(f)
	for _, p := range m.patterns {
		method, path, _ := strings.Cut(p, " ")
		f.Add(method, path)
		f.Add(method, strings.ReplaceAll(path, "{", "x{"))
		f.Add("HEAD", path+"/")
	}
	for _, p := range []string{"/certificatemanagement/api/v1.0/smartcards/a/b/c/d/e/f", "/cards/./x", "/cards//x", "/cards/%41", "/cards/..", "/CARDS/X/DISABLE", ""} {
		f.Add("GET", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		m.check(t, method, path)
	})
}
