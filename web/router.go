package web

import (
	"net/http"
	"strings"
)

// router finds the route of a request whose path is made of plain
// segments (letters, digits and -._~), for the patterns that are whole
// segments: what every API request is. It ignores case, as the mux does
// with the path lowercased. The mux, which has the same table, answers the
// rest (a prefix like /static/, /{$}, a path to clean or to unescape) and
// decides 404 and 405. ServeMux's matching and the setting of its path
// values cost an eighth of a GET of a card (docs/PERFORMANCE.md); this
// costs a few comparisons. FuzzRouter holds it to the mux's choices.
type router struct {
	bySegments [maxSegments + 1][]segmentRoute // the routes of n segments
}

// segmentRoute is a pattern cut into segments.
type segmentRoute struct {
	method  string
	segs    []string // each segment: a literal, or "{name}"
	pattern string
	handler http.Handler
}

// maxSegments is the most segments the router matches; the route table's
// longest path has six.
const maxSegments = 8

// add takes pattern ("METHOD /a/{b}") when it is whole segments, and
// tells whether it did.
func (rt *router) add(pattern string, h http.Handler) bool {
	method, p, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "{$}") || strings.Contains(p, "...}") {
		return false
	}
	segs := strings.Split(p[1:], "/")
	if len(segs) > maxSegments {
		return false
	}
	for _, s := range segs {
		if s == "" || !plainSegment(s) && !(len(s) > 2 && s[0] == '{' && s[len(s)-1] == '}' && plainSegment(s[1:len(s)-1])) {
			return false
		}
	}
	rt.bySegments[len(segs)] = append(rt.bySegments[len(segs)], segmentRoute{method: method, segs: segs, pattern: pattern, handler: h})
	return true
}

// match finds the route of method and path, and puts the path's segments
// in segs, where the route's wildcards find their values. Of two routes
// that match, the one with a literal where the other has its first
// wildcard wins, as in the mux (which refuses tables where that is not the
// more specific one).
func (rt *router) match(method, path string, segs *[maxSegments]string) *segmentRoute {
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	n := 0
	for rest := path[1:]; ; {
		seg, more, found := strings.Cut(rest, "/")
		if n == maxSegments || seg == "" || seg == "." || seg == ".." || !plainSegment(seg) {
			return nil
		}
		segs[n], rest, n = seg, more, n+1
		if !found {
			break
		}
	}
	var best *segmentRoute
	for i := range rt.bySegments[n] {
		c := &rt.bySegments[n][i]
		if c.method != method && !(c.method == http.MethodGet && method == http.MethodHead) || !c.matches(segs[:n]) {
			continue
		}
		if best == nil || c.moreSpecific(best) {
			best = c
		}
	}
	return best
}

func (c *segmentRoute) matches(segs []string) bool {
	for i, s := range c.segs {
		if s[0] != '{' && !strings.EqualFold(s, segs[i]) {
			return false
		}
	}
	return true
}

// moreSpecific tells whether c has a literal where o has its first
// wildcard that c has not.
func (c *segmentRoute) moreSpecific(o *segmentRoute) bool {
	for i, s := range c.segs {
		if cw, ow := s[0] == '{', o.segs[i][0] == '{'; cw != ow {
			return ow
		}
	}
	return false
}

// plainSegment tells whether s is only letters, digits and -._~: a
// segment that is the same escaped and unescaped.
func plainSegment(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lowercase, for letters
		if !('a' <= c && c <= 'z' || '0' <= s[i] && s[i] <= '9' || s[i] == '-' || s[i] == '.' || s[i] == '_' || s[i] == '~') {
			return false
		}
	}
	return true
}
