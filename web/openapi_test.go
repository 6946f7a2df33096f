package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/device/reader"
	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

// This file checks the OpenAPI document (openapi.json, embedded by
// openapi.go; docs/openapi.json is its copy) against the code: the routes
// of the route table, the golden and documented bodies, and the answers
// a live server gives. The schemas are checked by a small validator for
// the JSON Schema subset the document uses; a keyword it does not know is
// an error, so the document cannot use one that would be ignored.

// ---------------------------------------------------------------------
// The document.

// oaDoc is the parsed document.
type oaDoc struct{ root map[string]any }

// oaOp is one operation of the document.
type oaOp struct {
	path, method string // the document's path key and lowercase method
	op           map[string]any
}

var oaMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func loadOpenAPI(t *testing.T) *oaDoc {
	t.Helper()
	v, err := oaDecode(openAPIDoc)
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		t.Fatal("openapi.json is not a JSON object")
	}
	return &oaDoc{root: root}
}

// oaDecode parses one JSON value with numbers as json.Number, and refuses
// a key given twice in an object (encoding/json would keep the last).
func oaDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := oaValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func oaValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	switch d {
	case '{':
		m := map[string]any{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k := kt.(string)
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("the key %q appears twice in one object", k)
			}
			if m[k], err = oaValue(dec); err != nil {
				return nil, err
			}
		}
		_, err = dec.Token()
		return m, err
	case '[':
		a := []any{}
		for dec.More() {
			v, err := oaValue(dec)
			if err != nil {
				return nil, err
			}
			a = append(a, v)
		}
		_, err = dec.Token()
		return a, err
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// pointer resolves a local JSON pointer such as #/components/schemas/Smartcard.
func (d *oaDoc) pointer(ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("$ref %q is not local", ref)
	}
	var node any = d.root
	for _, part := range strings.Split(rest, "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		m, ok := node.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q: %q is not inside an object", ref, part)
		}
		if node, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %q: no %q", ref, part)
		}
	}
	return node, nil
}

// deref follows the $ref of a response, parameter or header object.
func (d *oaDoc) deref(node any) map[string]any {
	for range 10 {
		m, _ := node.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var err error
		if node, err = d.pointer(ref); err != nil {
			return nil
		}
	}
	return nil
}

func (d *oaDoc) operations() []oaOp {
	var ops []oaOp
	paths, _ := d.root["paths"].(map[string]any)
	for p, item := range paths {
		item, _ := item.(map[string]any)
		for _, m := range oaMethods {
			if op, ok := item[m].(map[string]any); ok {
				ops = append(ops, oaOp{path: p, method: m, op: op})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+" "+ops[i].method < ops[j].path+" "+ops[j].method })
	return ops
}

var oaParamRE = regexp.MustCompile(`\{[^}]*\}`)

// oaNorm is a path as the router matches it: lowercase, parameters unnamed.
func oaNorm(path string) string {
	return oaParamRE.ReplaceAllString(strings.ToLower(path), "{}")
}

// find returns the operation that serves method on a concrete path.
func (d *oaDoc) find(method, path string) (oaOp, bool) {
	got := strings.Split(strings.ToLower(path), "/")
	for _, op := range d.operations() {
		if op.method != strings.ToLower(method) {
			continue
		}
		want := strings.Split(oaNorm(op.path), "/")
		if len(want) != len(got) {
			continue
		}
		match := true
		for i := range want {
			if want[i] != got[i] && (want[i] != "{}" || got[i] == "") {
				match = false
				break
			}
		}
		if match {
			return op, true
		}
	}
	return oaOp{}, false
}

// byKey returns the operation with the document's path key and method.
func (d *oaDoc) byKey(t *testing.T, method, path string) oaOp {
	t.Helper()
	for _, op := range d.operations() {
		if op.method == strings.ToLower(method) && oaNorm(op.path) == oaNorm(path) {
			return op
		}
	}
	t.Fatalf("the document has no %s %s", method, path)
	return oaOp{}
}

// response returns the operation's response for a status code.
func (d *oaDoc) response(op oaOp, code int) (map[string]any, bool) {
	responses, _ := op.op["responses"].(map[string]any)
	r, ok := responses[strconv.Itoa(code)]
	if !ok {
		return nil, false
	}
	m := d.deref(r)
	return m, m != nil
}

// jsonSchema is the application/json schema of a response, or nil.
func (d *oaDoc) jsonSchema(resp map[string]any) any {
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	return media["schema"]
}

// ---------------------------------------------------------------------
// The validator.

// oaAnnotations are the keywords that do not constrain an instance.
var oaAnnotations = map[string]bool{"description": true, "title": true, "examples": true, "example": true,
	"default": true, "deprecated": true, "readOnly": true, "writeOnly": true, "contentMediaType": true}

var oaUUID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validate checks inst against schema and returns what is wrong, sorted.
func (d *oaDoc) validate(schema, inst any) []string {
	var errs []string
	d.check(schema, inst, "$", &errs, 0)
	sort.Strings(errs)
	return errs
}

func (d *oaDoc) check(schema, inst any, at string, errs *[]string, depth int) {
	fail := func(format string, a ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, a...)) }
	if depth > 64 {
		fail("the schema nests too deep (a $ref loop?)")
		return
	}
	if b, ok := schema.(bool); ok {
		if !b {
			fail("the schema false allows nothing")
		}
		return
	}
	sc, ok := schema.(map[string]any)
	if !ok {
		fail("the schema is %T, not an object or a boolean", schema)
		return
	}
	obj, isObj := inst.(map[string]any)
	arr, isArr := inst.([]any)
	str, isStr := inst.(string)
	for _, k := range slices.Sorted(maps.Keys(sc)) {
		kv := sc[k]
		kvStr, _ := kv.(string)
		kvList, isList := kv.([]any)
		kvMap, isMap := kv.(map[string]any)
		malformed := func(want bool) bool {
			if !want {
				fail("the keyword %q has the malformed value %s", k, oaShow(kv))
			}
			return !want
		}
		switch k {
		case "$ref":
			if malformed(kvStr != "") {
				continue
			}
			target, err := d.pointer(kvStr)
			if err != nil {
				fail("%v", err)
				continue
			}
			d.check(target, inst, at, errs, depth+1)
		case "type":
			if !oaTypeOK(kv, inst) {
				fail("%s is not of type %v", oaKind(inst), kv)
			}
		case "enum":
			if malformed(isList) {
				continue
			}
			if !slices.ContainsFunc(kvList, func(e any) bool { return oaEqual(e, inst) }) {
				fail("%s is not one of %v", oaShow(inst), kv)
			}
		case "const":
			if !oaEqual(kv, inst) {
				fail("%s is not %v", oaShow(inst), oaShow(kv))
			}
		case "properties":
			if !malformed(isMap) && isObj {
				for name, ps := range kvMap {
					if v, ok := obj[name]; ok {
						d.check(ps, v, at+"."+name, errs, depth+1)
					}
				}
			}
		case "required":
			if !malformed(isList) && isObj {
				for _, name := range kvList {
					if n, ok := name.(string); !ok {
						fail("required lists %s, not a key", oaShow(name))
					} else if _, ok := obj[n]; !ok {
						fail("the required key %q is missing", name)
					}
				}
			}
		case "additionalProperties":
			if isObj {
				props, _ := sc["properties"].(map[string]any)
				for name, v := range obj {
					if _, known := props[name]; known {
						continue
					}
					if b, ok := kv.(bool); ok && !b {
						fail("unknown key %q", name)
					} else {
						d.check(kv, v, at+"."+name, errs, depth+1)
					}
				}
			}
		case "minProperties", "maxProperties":
			if isObj {
				n, err := json.Number(oaShow(kv)).Int64()
				if malformed(err == nil) {
					continue
				}
				if (k == "minProperties" && int64(len(obj)) < n) || (k == "maxProperties" && int64(len(obj)) > n) {
					fail("%d keys, %s is %d", len(obj), k, n)
				}
			}
		case "items":
			if isArr {
				for i, v := range arr {
					d.check(kv, v, at+"["+strconv.Itoa(i)+"]", errs, depth+1)
				}
			}
		case "uniqueItems":
			if isArr && kv == true {
				for i := range arr {
					for j := range i {
						if oaEqual(arr[i], arr[j]) {
							fail("items %d and %d are equal", j, i)
						}
					}
				}
			}
		case "pattern":
			if malformed(kvStr != "") {
				continue
			}
			re, err := regexp.Compile(kvStr)
			if err != nil {
				fail("the pattern %q does not compile: %v", kv, err)
			} else if isStr && !re.MatchString(str) {
				fail("%q does not match %s", str, kv)
			}
		case "format":
			if !isStr {
				continue
			}
			switch kv {
			case "uuid":
				if !oaUUID.MatchString(str) {
					fail("%q is not a uuid", str)
				}
			case "date-time":
				if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
					fail("%q is not a date-time: %v", str, err)
				}
			default:
				fail("unsupported format %q", kv)
			}
		case "oneOf", "anyOf":
			matches := 0
			var why []string
			if malformed(isList) {
				continue
			}
			for i, sub := range kvList {
				var e []string
				d.check(sub, inst, at, &e, depth+1)
				if len(e) == 0 {
					matches++
				} else {
					why = append(why, fmt.Sprintf("[%d] %s", i, strings.Join(e, "; ")))
				}
			}
			if matches == 0 || (k == "oneOf" && matches > 1) {
				fail("%d of the %s schemas match, want %s: %s", matches, k,
					map[string]string{"oneOf": "exactly one", "anyOf": "at least one"}[k], strings.Join(why, " | "))
			}
		default:
			if !oaAnnotations[k] {
				fail("unsupported schema keyword %q", k)
			}
		}
	}
}

func oaKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		if oaWhole(x) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func oaWhole(n json.Number) bool {
	f, err := n.Float64()
	return err == nil && f == math.Trunc(f) && !math.IsInf(f, 0)
}

func oaTypeOK(t, v any) bool {
	types, ok := t.([]any)
	if !ok {
		types = []any{t}
	}
	kind := oaKind(v)
	for _, ty := range types {
		if ty == kind || (ty == "number" && kind == "integer") {
			return true
		}
	}
	return false
}

func oaEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, e1 := x.Float64()
		fy, e2 := y.Float64()
		return e1 == nil && e2 == nil && fx == fy
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, oaEqual)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !oaEqual(v, w) {
				return false
			}
		}
		return true
	}
	return a == b
}

// oaObj is v as an object, or nil.
func oaObj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func oaShow(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// ---------------------------------------------------------------------
// The routes of the route table.

// tableRoute is a JSON route of the route table (routes.go).
type tableRoute struct {
	method, path string // path as registered (lowercase)
	role         string // the least role of an API route; "" for a route without a credential
	station      bool   // a station token may call it too
	pos          string // where it comes from, for messages
}

// tableRoutes returns the routes of the table whose path is a JSON path:
// an API path (isAPI) or /openapi.json, the simulated panel's included.
func tableRoutes(t *testing.T) []tableRoute {
	t.Helper()
	srv := New(nil, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	var routes []tableRoute
	for _, rt := range srv.routes() {
		pos := "the route table's " + strconv.Quote(rt.pattern)
		method, path, hasMethod := strings.Cut(rt.pattern, " ")
		if !hasMethod {
			t.Errorf("%s has no method", pos)
			continue
		}
		if path != strings.ToLower(path) {
			t.Errorf("%s is not lowercase: ServeHTTP lowercases every path", pos)
		}
		if !isAPI(path) && path != "/openapi.json" {
			continue // a page
		}
		role := ""
		if rt.api != nil {
			role = rt.least.String()
		}
		routes = append(routes, tableRoute{method: method, path: path, role: role, station: rt.station, pos: pos})
	}
	return routes
}

// ---------------------------------------------------------------------
// The tests.

// TestOpenAPIRoutes: every JSON route of the route table is in the
// document with the same method, and the document has no other; the
// least role, the credential and the codes that follow from them agree.
func TestOpenAPIRoutes(t *testing.T) {
	d := loadOpenAPI(t)
	routes := tableRoutes(t)
	if len(routes) < 10 {
		t.Fatalf("found only %d JSON routes in the route table: %+v", len(routes), routes)
	}
	inTable := map[string]tableRoute{}
	for _, r := range routes {
		key := strings.ToLower(r.method) + " " + oaNorm(r.path)
		if prev, dup := inTable[key]; dup {
			t.Errorf("%s and %s both register %s", prev.pos, r.pos, key)
		}
		inTable[key] = r
	}
	inDoc := map[string]oaOp{}
	for _, op := range d.operations() {
		inDoc[op.method+" "+oaNorm(op.path)] = op
	}
	for _, key := range slices.Sorted(maps.Keys(inTable)) {
		if r := inTable[key]; inDoc[key].op == nil {
			t.Errorf("%s: %s %s is not in openapi.json", r.pos, r.method, r.path)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(inDoc)) {
		if _, ok := inTable[key]; !ok {
			op := inDoc[key]
			t.Errorf("openapi.json has %s %s, which the route table does not have", strings.ToUpper(op.method), op.path)
		}
	}
	globalSecurity, _ := d.root["security"].([]any)
	for _, key := range slices.Sorted(maps.Keys(inDoc)) {
		op := inDoc[key]
		r, ok := inTable[key]
		if !ok {
			continue
		}
		name := strings.ToUpper(op.method) + " " + op.path
		role, _ := op.op["x-cardstop-role"].(string)
		if role != r.role {
			t.Errorf("%s: x-cardstop-role %q, the route table says %q (%s)", name, role, r.role, r.pos)
		}
		if station, _ := op.op["x-cardstop-station"].(bool); station != r.station {
			t.Errorf("%s: x-cardstop-station %v, the route table says %v (%s)", name, station, r.station, r.pos)
		}
		security, hasSecurity := op.op["security"].([]any)
		if !hasSecurity {
			security = globalSecurity
		}
		if r.role == "" && len(security) != 0 {
			t.Errorf("%s needs no credential, but the document asks for one (set \"security\": [])", name)
		}
		if r.role != "" && len(security) == 0 {
			t.Errorf("%s needs a bearer token, but the document asks for none", name)
		}
		want := []int{}
		if r.role != "" {
			want = append(want, 400, 401, 429, 500) // every API route of the table reads the query and authenticates
			if r.role != "viewer" || !r.station {   // a station token gets 403 where it may not call
				want = append(want, 403)
			}
		}
		for _, code := range want {
			if _, ok := d.response(op, code); !ok {
				t.Errorf("%s does not document %d", name, code)
			}
		}
		// Every error of an authenticated route has the Error body.
		for _, code := range []int{400, 401, 403, 404, 409, 413, 415, 429, 500, 503} {
			resp, ok := d.response(op, code)
			if !ok || r.role == "" {
				continue
			}
			if s, _ := d.jsonSchema(resp).(map[string]any); s["$ref"] != "#/components/schemas/Error" {
				t.Errorf("%s: the %d response's body is not the Error schema", name, code)
			}
		}
		// Every {param} of the path is declared as a path parameter.
		declared := map[string]bool{}
		params, _ := op.op["parameters"].([]any)
		for _, p := range params {
			pm := d.deref(p)
			if pm["in"] == "path" {
				pname, _ := pm["name"].(string)
				declared[pname] = true
			}
		}
		for _, m := range oaParamRE.FindAllString(op.path, -1) {
			if !declared[strings.Trim(m, "{}")] {
				t.Errorf("%s: the path parameter %s is not declared", name, m)
			}
		}
		if len(declared) != len(oaParamRE.FindAllString(op.path, -1)) {
			t.Errorf("%s declares path parameters %v that the path does not have", name, declared)
		}
	}
}

// TestOpenAPIDocument: the document is what the spec and the validator
// need, and docs/openapi.json is the same file.
func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t)
	if d.root["openapi"] != "3.1.0" {
		t.Errorf(`"openapi" is %v, want "3.1.0"`, d.root["openapi"])
	}
	web, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join("..", "docs", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(web, openAPIDoc) {
		t.Error("the embedded document differs from web/openapi.json; rebuild")
	}
	if !bytes.Equal(docs, web) {
		t.Error("docs/openapi.json differs from web/openapi.json, the source; copy it: cp web/openapi.json docs/openapi.json")
	}
	// Every $ref resolves.
	var walk func(node any, at string)
	walk = func(node any, at string) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				if _, err := d.pointer(ref); err != nil {
					t.Errorf("%s: %v", at, err)
				}
			}
			for k, v := range n {
				walk(v, at+"/"+k)
			}
		case []any:
			for i, v := range n {
				walk(v, at+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(d.root, "#")
	// Every schema uses only keywords the validator knows, and every object
	// schema with properties says whether it allows others.
	var lint func(s any, at string)
	lint = func(s any, at string) {
		sc, ok := s.(map[string]any)
		if !ok {
			if _, isBool := s.(bool); !isBool {
				t.Errorf("%s: a schema must be an object or a boolean", at)
			}
			return
		}
		own := maps.Clone(sc)
		delete(own, "$ref")          // the target is linted where it is defined
		errs := d.validate(own, nil) // reports unknown keywords and bad patterns whatever the instance
		for _, e := range errs {
			if strings.Contains(e, "unsupported") || strings.Contains(e, "does not compile") {
				t.Errorf("%s: %s", at, e)
			}
		}
		if props, ok := sc["properties"].(map[string]any); ok {
			if _, ok := sc["additionalProperties"]; !ok {
				t.Errorf("%s: an object schema with properties must set additionalProperties", at)
			}
			for k, v := range props {
				lint(v, at+"/properties/"+k)
			}
			if req, ok := sc["required"].([]any); ok && sc["additionalProperties"] == false {
				for _, r := range req {
					if name, _ := r.(string); props[name] == nil {
						t.Errorf("%s: requires %q, which it does not allow", at, r)
					}
				}
			}
		}
		if ap, ok := sc["additionalProperties"].(map[string]any); ok {
			lint(ap, at+"/additionalProperties")
		}
		if items, ok := sc["items"]; ok {
			lint(items, at+"/items")
		}
		for _, k := range []string{"oneOf", "anyOf"} {
			if list, ok := sc[k].([]any); ok {
				for i, sub := range list {
					lint(sub, at+"/"+k+"/"+strconv.Itoa(i))
				}
			}
		}
	}
	components, _ := d.root["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	for name, s := range schemas {
		lint(s, "#/components/schemas/"+name)
	}
	for _, op := range d.operations() {
		name := strings.ToUpper(op.method) + " " + op.path
		responses, _ := op.op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s has no responses", name)
		}
		for code, r := range responses {
			resp := d.deref(r)
			if resp == nil {
				t.Errorf("%s %s: the response does not resolve", name, code)
				continue
			}
			content, _ := resp["content"].(map[string]any)
			for mt, media := range content {
				if s, ok := oaObj(media)["schema"]; ok {
					lint(s, name+" "+code+" "+mt)
				} else if mt == "application/json" {
					t.Errorf("%s %s: a JSON body without a schema", name, code)
				}
			}
			if _, ok := oaObj(resp["headers"])["X-Correlation-Id"]; !ok {
				t.Errorf("%s %s: X-Correlation-Id is not documented; every answer has it", name, code)
			}
		}
		if body, ok := op.op["requestBody"].(map[string]any); ok {
			content, _ := body["content"].(map[string]any)
			if s, ok := oaObj(content["application/json"])["schema"]; ok {
				lint(s, name+" request body")
			} else {
				t.Errorf("%s: a request body without an application/json schema", name)
			}
		}
	}
}

// oaPlaceholders are the words the golden files hold for ids that differ on
// every run (see anonymise in golden_test.go); a GUID takes their place.
var oaPlaceholders = regexp.MustCompile(`REQUEST-UUID|CORRELATION-ID|[A-Z]+-TOKEN-UUID`)

// goldenInstance reads a golden or documented body for validation.
func goldenInstance(t *testing.T, name string) any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	data = oaPlaceholders.ReplaceAll(data, []byte("5b0ea5a4-0cc4-4d0c-9d6e-8c0f9f8d2c11"))
	v, err := oaDecode(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// oaGolden maps each body in testdata to the responses it is an example of.
var oaGolden = []struct {
	file, method, path string
	code               int
}{
	{"create_request.json", "POST", api + "/requests", 201},
	{"doc_get_smartcard_cardid.json", "GET", api + "/smartcards", 200},
	{"doc_get_smartcard_uuid.json", "GET", api + "/smartcards/{id}", 200},
	{"doc_get_smartcard_uuid.json", "GET", api + "/requests/{reqid}/smartcards/{scid}", 200},
	{"doc_request_completed.json", "GET", api + "/requests/{id}", 200},
	{"doc_request_completed.json", "PUT", api + "/requests/{id}", 200},
	{"doc_update_smartcard_status.json", "PUT", api + "/requests/{reqid}/smartcards/{scid}", 200},
	{"error_not_found.json", "GET", api + "/smartcards/{id}", 404},
	{"operations_admin.json", "GET", api + "/smartcards/{id}/operations", 200},
	{"request_completed.json", "PUT", api + "/requests/{id}", 200},
	{"requests_completed.json", "GET", api + "/requests", 200},
	{"smartcards.json", "GET", api + "/smartcards", 200},
}

// TestOpenAPIGoldenFiles validates every golden and documented body in
// testdata against the schema of the response it is an example of.
func TestOpenAPIGoldenFiles(t *testing.T) {
	d := loadOpenAPI(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]bool{}
	for _, g := range oaGolden {
		mapped[g.file] = true
	}
	for _, f := range files {
		if !mapped[filepath.Base(f)] {
			t.Errorf("%s is not in oaGolden: say which response it is an example of", f)
		}
	}
	for _, g := range oaGolden {
		resp, ok := d.response(d.byKey(t, g.method, g.path), g.code)
		if !ok {
			t.Errorf("%s: %s %s has no %d response", g.file, g.method, g.path, g.code)
			continue
		}
		schema := d.jsonSchema(resp)
		if schema == nil {
			t.Errorf("%s: %s %s %d has no JSON schema", g.file, g.method, g.path, g.code)
			continue
		}
		for _, e := range d.validate(schema, goldenInstance(t, g.file)) {
			t.Errorf("%s as %s %s %d: %s", g.file, g.method, g.path, g.code, e)
		}
	}
}

// TestOpenAPIValidatorRejectsTampering: the validator is strict enough
// to catch a renamed, missing, extra or mistyped field.
func TestOpenAPIValidatorRejectsTampering(t *testing.T) {
	d := loadOpenAPI(t)
	ref := func(name string) any { return map[string]any{"$ref": "#/components/schemas/" + name} }
	card := func() map[string]any { return goldenInstance(t, "doc_get_smartcard_uuid.json").(map[string]any) }
	request := func() map[string]any { return goldenInstance(t, "doc_request_completed.json").(map[string]any) }
	if errs := d.validate(ref("Smartcard"), card()); len(errs) != 0 {
		t.Fatalf("the untouched card fails: %v", errs)
	}
	if errs := d.validate(ref("Request"), request()); len(errs) != 0 {
		t.Fatalf("the untouched request fails: %v", errs)
	}
	list := d.jsonSchema(must(d.response(d.byKey(t, "GET", api+"/smartcards"), 200)))
	cases := []struct {
		name   string
		schema any
		inst   func() any
		want   string // a part of one error
	}{
		{"renamed key", ref("Smartcard"), func() any {
			c := card()
			c["UUID"] = c["Uuid"]
			delete(c, "Uuid")
			return c
		}, `unknown key "UUID"`},
		{"missing key", ref("Smartcard"), func() any { c := card(); delete(c, "Atr"); return c }, `"Atr" is missing`},
		{"extra key", ref("Smartcard"), func() any { c := card(); c["PreviousStatus"] = json.Number("3"); return c }, `unknown key "PreviousStatus"`},
		{"status as a string", ref("Smartcard"), func() any { c := card(); c["Status"] = "2"; return c }, "not of type"},
		{"status out of range", ref("Smartcard"), func() any { c := card(); c["Status"] = json.Number("7"); return c }, "not one of"},
		{"fractional integer", ref("Smartcard"), func() any { c := card(); c["Flags"] = json.Number("1.5"); return c }, "not of type"},
		{"not a GUID", ref("Smartcard"), func() any { c := card(); c["AssignedUserUuid"] = "8f1590dc"; return c }, "not a uuid"},
		{"uppercase GUID", ref("Smartcard"), func() any {
			c := card()
			c["Uuid"] = strings.ToUpper(c["Uuid"].(string))
			return c
		}, "does not match"},
		{"null GUID", ref("Smartcard"), func() any { c := card(); c["ParentSmartcardUuid"] = nil; return c }, "not of type"},
		{"date with a zone offset", ref("Request"), func() any {
			r := request()
			r["Completed"] = "2015-07-07T23:37:37.767+02:00"
			return r
		}, "does not match"},
		{"data item without Value", ref("Request"), func() any {
			r := request()
			r["DataCollection"] = []any{map[string]any{"Name": "city"}}
			return r
		}, `"Value" is missing`},
		{"boolean as a string", ref("Request"), func() any { r := request(); r["IsSmartcard"] = "true"; return r }, "not of type"},
		{"error without correlation id", ref("Error"), func() any { return map[string]any{"Message": "x"} }, `"CorrelationId" is missing`},
		{"a tampered card in the list", list, func() any {
			c := card()
			c["serialNumber"] = c["SerialNumber"]
			delete(c, "SerialNumber")
			return []any{card(), c}
		}, "0 of the oneOf schemas match"},
		{"an array for one card", ref("Smartcard"), func() any { return []any{card()} }, "not of type"},
		{"an unknown keyword", map[string]any{"type": "string", "maxLength": json.Number("3")}, func() any { return "abc" }, `unsupported schema keyword "maxLength"`},
		{"an unknown format", map[string]any{"type": "string", "format": "email"}, func() any { return "a@b" }, `unsupported format "email"`},
	}
	for _, c := range cases {
		errs := d.validate(c.schema, c.inst())
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, c.want) }) {
			t.Errorf("%s: want an error with %q, got %q", c.name, c.want, errs)
		}
	}
}

func must(resp map[string]any, ok bool) map[string]any {
	if !ok {
		panic("no such response")
	}
	return resp
}

// TestOpenAPIServed: GET /openapi.json answers the document without a
// credential, in any case.
func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/openapi.json", "/OpenAPI.json"} {
		rec := e.do(domain.RoleNone, "GET", path, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, rec.Code, rec.Body)
		}
		if mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type")); mt != "application/json" {
			t.Errorf("GET %s: Content-Type %q", path, rec.Header().Get("Content-Type"))
		}
		if !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
			t.Errorf("GET %s: the body is not the document", path)
		}
		var doc struct {
			OpenAPI string         `json:"openapi"`
			Paths   map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" || len(doc.Paths) == 0 {
			t.Errorf("GET %s: %v, openapi %q, %d paths", path, err, doc.OpenAPI, len(doc.Paths))
		}
	}
}

// oaLive sends requests to servers and checks each answer against the
// document: the operation lists its code, the documented headers are
// there, and the body has the documented media type and schema.
type oaLive struct {
	t    *testing.T
	e    *env
	d    *oaDoc
	seen map[string]bool // "METHOD path code" answered
}

// send makes one request; role RoleNone sends no credential. header holds
// name, value pairs; the pseudo-header "RemoteAddr" sets the client address.
func (l *oaLive) send(srv *Server, role domain.Role, method, target, body string, want int, header ...string) *httptest.ResponseRecorder {
	l.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.RemoteAddr = "192.0.2.1:50000"
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if role != domain.RoleNone {
		req.Header.Set("Authorization", "Bearer "+l.e.tokens[role])
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "RemoteAddr" {
			req.RemoteAddr = header[i+1]
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if want != 0 && rec.Code != want {
		l.t.Fatalf("%s %s = %d %s, want %d", method, target, rec.Code, rec.Body, want)
	}
	l.check(method, target, rec)
	return rec
}

func (l *oaLive) check(method, target string, rec *httptest.ResponseRecorder) {
	t := l.t
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s %s → %d", method, target, rec.Code)
	if rec.Header().Get("X-Correlation-Id") == "" {
		t.Errorf("%s: no X-Correlation-Id", name)
	}
	op, ok := l.d.find(method, u.Path)
	if !ok {
		// No operation: only the router's own 404 and 405 may answer, with
		// the Error body (and Allow for 405).
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: not an operation of the document, yet not 404 or 405", name)
		}
		if rec.Code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") == "" {
			t.Errorf("%s: no Allow header", name)
		}
		l.body(name, map[string]any{"$ref": "#/components/schemas/Error"}, rec)
		return
	}
	l.seen[strings.ToUpper(op.method)+" "+op.path+" "+strconv.Itoa(rec.Code)] = true
	resp, ok := l.d.response(op, rec.Code)
	if !ok {
		t.Errorf("%s: the document does not list %d for %s %s", name, rec.Code, strings.ToUpper(op.method), op.path)
		return
	}
	headers, _ := resp["headers"].(map[string]any)
	for h := range headers {
		if rec.Header().Get(h) == "" {
			t.Errorf("%s: the documented header %s is missing", name, h)
		}
	}
	content, _ := resp["content"].(map[string]any)
	if rec.Body.Len() == 0 {
		if len(content) != 0 && method != "HEAD" {
			t.Errorf("%s: no body, but the document describes one", name)
		}
		return
	}
	mt, _, err := mime.ParseMediaType(rec.Header().Get("Content-Type"))
	if err != nil {
		t.Errorf("%s: Content-Type %q: %v", name, rec.Header().Get("Content-Type"), err)
		return
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		t.Errorf("%s: a %s body, but the document describes %v", name, mt, slices.Sorted(maps.Keys(content)))
		return
	}
	if mt == "application/json" {
		l.body(name, media["schema"], rec)
	}
}

func (l *oaLive) body(name string, schema any, rec *httptest.ResponseRecorder) {
	l.t.Helper()
	v, err := oaDecode(rec.Body.Bytes())
	if err != nil {
		l.t.Errorf("%s: the body is not JSON: %v: %s", name, err, rec.Body)
		return
	}
	for _, e := range l.d.validate(schema, v) {
		l.t.Errorf("%s: %s\nbody: %s", name, e, rec.Body)
	}
}

// TestOpenAPILiveResponses drives every route through the answers it can
// give without breaking the database, and checks each against the document.
func TestOpenAPILiveResponses(t *testing.T) {
	e := newEnv(t)
	l := &oaLive{t: t, e: e, d: loadOpenAPI(t), seen: map[string]bool{}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := e.srv
	V, O, A, N := domain.RoleViewer, domain.RoleOperator, domain.RoleAdmin, domain.RoleNone
	const user = "8f1590dc-d932-4b66-8e68-2e91c5880780"
	const nosuch = "0c2d5e4f-1111-4222-8333-444455556666"

	// Cards.
	l.send(srv, V, "GET", api+"/smartcards", "", 200)
	l.send(srv, V, "GET", api+"/smartcards?cardid="+serialActive, "", 200)
	l.send(srv, V, "GET", api+"/smartcards?CardId={"+strings.ToUpper(serialActive)+"}", "", 200)
	l.send(srv, V, "GET", api+"/smartcards?assigneduser="+user+"&status=Active", "", 200)
	l.send(srv, V, "GET", api+"/smartcards?cardid="+serialActive+"&status=3", "", 400)
	l.send(srv, V, "GET", api+"/smartcards?colour=red", "", 400)
	l.send(srv, V, "GET", api+"/smartcards?limit=1&after="+nosuch, "", 200)
	l.send(srv, V, "GET", api+"/smartcards?limit=0", "", 400)
	l.send(srv, V, "GET", api+"/smartcards?cardid="+nosuch, "", 404)
	l.send(srv, N, "GET", api+"/smartcards", "", 401)
	l.send(srv, N, "GET", api+"/smartcards", "", 401, "Authorization", "Bearer not-a-token")
	l.send(srv, V, "GET", api+"/smartcards/"+cardActive, "", 200)
	l.send(srv, V, "GET", "/certificatemanagement/API/v1.0/SmartCards/{"+strings.ToUpper(cardActive)+"}", "", 200)
	l.send(srv, V, "GET", api+"/smartcards/not-a-guid", "", 400)
	l.send(srv, V, "GET", api+"/smartcards/"+nosuch, "", 404)
	l.send(srv, V, "GET", api+"/smartcards/"+cardActive+"/operations", "", 200)
	l.send(srv, A, "GET", api+"/smartcards/"+cardActive+"/operations", "", 200)
	l.send(srv, V, "GET", api+"/smartcards/"+nosuch+"/operations", "", 404)
	l.send(srv, V, "DELETE", api+"/smartcards", "", 405)
	l.send(srv, V, "GET", api+"/nothing-here", "", 404)

	// Requests.
	disable := `{"type":"Disable","smartcard":"` + cardActive + `","datacollection":[{"Name":"reason","Value":"lost"}],"comment":"lost","priority":"1"}`
	rec := l.send(srv, O, "POST", api+"/requests", disable, 201)
	req := strings.TrimPrefix(strings.Trim(rec.Body.String(), `"`), "api/v1.0/requests/")
	l.send(srv, O, "POST", api+"/requests", `{"type":4,"smartcard":"{`+strings.ToUpper(cardActive)+`}","datacollection":"[{\"city\":\"seattle\"}]"}`, 201)
	l.send(srv, V, "POST", api+"/requests", disable, 403)
	l.send(srv, O, "POST", api+"/requests", disable, 415, "Content-Type", "text/plain")
	l.send(srv, O, "POST", api+"/requests", `{"type":"Disable","comment":"`+strings.Repeat("x", MaxBody)+`"}`, 413)
	l.send(srv, O, "POST", api+"/requests", `{"type":"Enroll"}`, 400)
	l.send(srv, O, "POST", api+"/requests", `{"type":"Disable","smartcard":"`+nosuch+`"}`, 404)
	l.send(srv, V, "GET", api+"/requests", "", 200)
	l.send(srv, V, "GET", api+"/requests?targetuser=current&status=approved", "", 400)
	l.send(srv, V, "GET", api+"/requests?targetuser=someone", "", 400)
	l.send(srv, V, "GET", api+"/requests/"+req, "", 200)
	l.send(srv, V, "GET", api+"/requests/"+nosuch, "", 404)
	l.send(srv, V, "GET", api+"/requests/"+req+"/smartcards/"+cardActive, "", 200)
	l.send(srv, V, "GET", api+"/requests/"+nosuch+"/smartcards/"+cardActive, "", 404)
	l.send(srv, O, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"Disabled"}`, 200)
	l.send(srv, O, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"Status":4}`, 204, "Prefer", "return=minimal")
	l.send(srv, O, "PUT", api+"/requests/"+req+"/smartcards/"+cardAssigned, `{"status":"Disabled"}`, 409)
	l.send(srv, O, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"Sideways"}`, 400)
	l.send(srv, V, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"Disabled"}`, 403)
	l.send(srv, O, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"Disabled"}`, 415, "Content-Type", "text/plain")
	l.send(srv, O, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"`+strings.Repeat("x", MaxBody)+`"}`, 413)
	l.send(srv, O, "PUT", api+"/requests/"+nosuch+"/smartcards/"+cardActive, `{"status":"Disabled"}`, 404)
	l.send(srv, O, "PUT", api+"/requests/"+req, `{"status":"Completed"}`, 200)
	l.send(srv, O, "PUT", api+"/requests/"+req, `{"status":"Completed"}`, 204, "Prefer", "return=minimal")
	l.send(srv, O, "PUT", api+"/requests/"+req, `{"status":"Canceled"}`, 409)
	l.send(srv, O, "PUT", api+"/requests/"+req, `{}`, 400)
	l.send(srv, V, "PUT", api+"/requests/"+req, `{"status":"Completed"}`, 403)
	l.send(srv, O, "PUT", api+"/requests/"+req, `{"status":"Completed"}`, 415, "Content-Type", "text/plain")
	l.send(srv, O, "PUT", api+"/requests/"+req, `{"status":"`+strings.Repeat("x", MaxBody)+`"}`, 413)
	l.send(srv, O, "PUT", api+"/requests/"+nosuch, `{"status":"Completed"}`, 404)
	// A Retired card takes no new request.
	rec = l.send(srv, A, "POST", api+"/requests", `{"type":"Retire","smartcard":"`+cardAssigned+`"}`, 201)
	retire := strings.TrimPrefix(strings.Trim(rec.Body.String(), `"`), "api/v1.0/requests/")
	l.send(srv, A, "PUT", api+"/requests/"+retire+"/smartcards/"+cardAssigned, `{"status":"Retired"}`, 200)
	l.send(srv, A, "POST", api+"/requests", `{"type":"Disable","smartcard":"`+cardAssigned+`"}`, 409)

	// The limits: failed authentications from one address, and status
	// changes by one identity.
	limited := New(e.store, Options{Logger: quiet, StatusChangesPerMinute: 1})
	limited.failDelay = func(int) time.Duration { return 0 }
	for i := range 10 {
		l.send(limited, N, "GET", api+"/smartcards", "", 401, "Authorization", "Bearer wrong-"+strconv.Itoa(i), "RemoteAddr", "192.0.2.99:1")
	}
	l.send(limited, N, "GET", api+"/smartcards", "", 429, "Authorization", "Bearer wrong-10", "RemoteAddr", "192.0.2.99:1")
	// A valid token from that address is served all the same.
	l.send(limited, V, "GET", api+"/smartcards", "", 200, "RemoteAddr", "192.0.2.99:1")
	// Only a change spends the allowance (a no-op does not).
	var reenable [2]string
	for i := range reenable {
		rec = l.send(srv, A, "POST", api+"/requests", `{"type":"SuspendOrReinstate","smartcard":"`+cardActive+`"}`, 201)
		reenable[i] = strings.TrimPrefix(strings.Trim(rec.Body.String(), `"`), "api/v1.0/requests/")
	}
	l.send(limited, A, "PUT", api+"/requests/"+reenable[0]+"/smartcards/"+cardActive, `{"status":"Active"}`, 0) // spends the allowance
	l.send(limited, A, "PUT", api+"/requests/"+reenable[1]+"/smartcards/"+cardActive, `{"status":"Suspended"}`, 429)

	// The station.
	uuid, status := mustGUID(t, cardActive), 3
	deadline := fixedNow.Add(10 * time.Second)
	stn := fakeStation{station.Status{State: station.Confirm, LEDs: station.Signal(station.Confirm), Reader: "Virtual PCD 00 00", Readers: []station.ReaderStatus{{Name: "Virtual PCD 00 00"}},
		Card:     &station.Card{Kind: reader.KindPIV, Serial: "{" + serialActive + "}", ATR: "3b8d0180fba000000397425446590301c8", Uuid: &uuid, Status: &status},
		Deadline: &deadline, Message: "press the button to disable"}}
	simulated := New(e.store, Options{Logger: quiet, Station: stn, PressButton: func() {}, Panel: "simulated"})
	gpio := New(e.store, Options{Logger: quiet, Station: fakeStation{station.Status{State: station.NoReader, Readers: []station.ReaderStatus{},
		LEDs: station.Signal(station.NoReader), Message: "no card reader yet"}}, Panel: "gpio"})
	l.send(simulated, V, "GET", "/api/station", "", 200)
	l.send(gpio, V, "GET", "/api/station", "", 200)
	l.send(srv, V, "GET", "/api/station", "", 404)
	l.send(simulated, V, "GET", "/api/station?x=1", "", 400)
	l.send(simulated, N, "GET", "/api/station", "", 401)
	l.send(simulated, O, "POST", "/api/station/button", "", 202)
	l.send(simulated, V, "POST", "/api/station/button", "", 403)
	l.send(simulated, O, "GET", "/api/station/button", "", 405)
	l.send(gpio, O, "POST", "/api/station/button", "", 404)

	// Operations.
	l.send(srv, A, "GET", "/api/admin/backup", "", 200)
	l.send(srv, O, "GET", "/api/admin/backup", "", 403)
	l.send(srv, A, "GET", "/api/admin/backup?when=now", "", 400)
	l.send(srv, N, "GET", "/healthz", "", 200)
	l.send(srv, N, "GET", "/readyz", "", 200)
	l.send(simulated, N, "GET", "/readyz", "", 200)
	l.send(srv, N, "GET", "/openapi.json", "", 200)
	l.send(srv, N, "GET", "/metrics", "", 200)
	l.send(srv, N, "POST", "/healthz", "", 405)
	// The outbox: the upstream refused the first change made above.
	pending, err := e.store.OutboxPending(storage.SinkUpstream, 0, 1)
	if err != nil || len(pending) != 1 {
		t.Fatalf("the outbox after the changes above: %v %v", pending, err)
	}
	outboxOrigin := domain.Origin{Actor: "outbox", Role: A}
	if err := e.store.OutboxPark(context.Background(), outboxOrigin, pending[0], "409: the smartcard is Retired upstream"); err != nil {
		t.Fatal(err)
	}
	item := fmt.Sprintf(`{"sink":"upstream","seq":%d}`, pending[0].Seq)
	fleetSrv := New(e.store, Options{Logger: quiet, Forwarder: fakeForwarder{}})
	l.send(fleetSrv, A, "GET", "/api/outbox", "", 200)
	l.send(fleetSrv, N, "GET", "/readyz", "", 200)
	l.send(fleetSrv, O, "GET", "/api/outbox", "", 403)
	l.send(fleetSrv, A, "GET", "/api/outbox?all=1", "", 400)
	l.send(fleetSrv, A, "POST", "/api/outbox/retry", item, 200)
	l.send(fleetSrv, A, "POST", "/api/outbox/retry", item, 404) // pending again
	l.send(fleetSrv, A, "POST", "/api/outbox/drop", item, 404)
	l.send(fleetSrv, A, "POST", "/api/outbox/drop", `{"sink":"upstream"}`, 400)
	l.send(fleetSrv, A, "POST", "/api/outbox/retry", `{"sink":"upstream","seq":0}`, 400)
	l.send(fleetSrv, O, "POST", "/api/outbox/drop", item, 403)
	l.send(fleetSrv, N, "POST", "/api/outbox/drop", item, 401)
	if err := e.store.OutboxPark(context.Background(), outboxOrigin, pending[0], "409: the smartcard is Retired upstream"); err != nil {
		t.Fatal(err)
	}
	l.send(fleetSrv, A, "POST", "/api/outbox/drop", item, 200)

	gone, err := storage.Open(t.TempDir(), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	down := New(gone, Options{Logger: quiet})
	gone.Close()
	l.send(down, N, "GET", "/readyz", "", 503)

	t.Logf("%d operation and status code pairs answered as documented", len(l.seen))
	// Every operation was reached at least once.
	for _, op := range l.d.operations() {
		reached := false
		for k := range l.seen {
			if strings.HasPrefix(k, strings.ToUpper(op.method)+" "+op.path+" ") {
				reached = true
			}
		}
		if !reached {
			t.Errorf("%s %s was not exercised; add it here", strings.ToUpper(op.method), op.path)
		}
	}
}
