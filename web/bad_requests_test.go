package web

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

// brNoSuch is a GUID that names no card and no request.
const brNoSuch = "0c2d5e4f-1111-4222-8333-444455556666"

// brMust fails the test unless rec has the status code want.
func brMust(e *env, what string, rec *httptest.ResponseRecorder, want int) {
	e.t.Helper()
	if rec.Code != want {
		e.t.Fatalf("setup: %s: %d %s, want %d", what, rec.Code, rec.Body, want)
	}
}

// brRequest creates a request of type typ for card (or none) as role.
func brRequest(e *env, role domain.Role, typ, card string) string {
	e.t.Helper()
	body := `{"type":"` + typ + `","datacollection":[],"comment":"test"`
	if card != "" {
		body += `,"smartcard":"` + card + `"`
	}
	return e.createRequest(role, body+"}")
}

// brSetCard carries out request req on card as role.
func brSetCard(e *env, role domain.Role, req, card, status string) {
	e.t.Helper()
	rec := e.do(role, "PUT", api+"/requests/"+req+"/smartcards/"+card, `{"status":"`+status+`"}`)
	brMust(e, "set "+card+" to "+status, rec, http.StatusOK)
}

// brSetRequest sets request req's own status as role.
func brSetRequest(e *env, role domain.Role, req, status string) {
	e.t.Helper()
	rec := e.do(role, "PUT", api+"/requests/"+req, `{"status":"`+status+`"}`)
	brMust(e, "set request to "+status, rec, http.StatusOK)
}

// brDisabled disables the active example card as admin.
func brDisabled(e *env) {
	e.t.Helper()
	brSetCard(e, domain.RoleAdmin, brRequest(e, domain.RoleAdmin, "Disable", cardActive), cardActive, "Disabled")
}

// brRetired retires the assigned example card as admin.
func brRetired(e *env) {
	e.t.Helper()
	brSetCard(e, domain.RoleAdmin, brRequest(e, domain.RoleAdmin, "Retire", cardAssigned), cardAssigned, "Retired")
}

// brAt is a setup that needs no state: the path as given.
func brAt(path string) func(*env) string { return func(*env) string { return path } }

// brCardPath is the URL that carries out request req on card.
func brCardPath(req, card string) string { return api + "/requests/" + req + "/smartcards/" + card }

// badRequest is one refused request: it must be answered with code and
// the JSON error body, and must change nothing.
type badRequest struct {
	name   string
	role   domain.Role // RoleNone: no credential
	method string
	setup  func(e *env) string // makes the state the row needs; returns the path
	body   string              // JSON, sent as application/json unless header says otherwise
	header []string            // extra request headers, name then value
	// bodyErr, when set, is what reading the body ends with after body:
	// the body is shorter than the Content-Length it announces, as
	// net/http's reader of a connection that ends or stalls reports it.
	bodyErr error
	code    int
	msg     string            // a substring of Message
	want    map[string]string // response headers and a prefix their value must have
}

func TestBadRequestsChangeNothing(t *testing.T) {
	disableReq := func(e *env) string { return brRequest(e, domain.RoleAdmin, "Disable", cardActive) }
	pendingRetire := func(e *env) string { return brRequest(e, domain.RoleOperator, "Retire", cardActive) }
	approvedReq := func(e *env) string { return brRequest(e, domain.RoleOperator, "Disable", cardActive) }
	bigComment := `{"type":"Disable","smartcard":"` + cardActive + `","comment":"` + strings.Repeat("x", MaxBody) + `"}`
	disable := `{"type":"Disable","smartcard":"` + cardActive + `","datacollection":[],"comment":""}`
	withDC := func(dc string) string {
		return `{"type":"Disable","smartcard":"` + cardActive + `","comment":"","datacollection":` + dc + `}`
	}
	bearer := map[string]string{"WWW-Authenticate": "Bearer"}

	rows := []badRequest{
		// Authentication and roles.
		{name: "no credential", role: domain.RoleNone, method: "GET", setup: brAt(api + "/smartcards"),
			code: 401, msg: "authentication required", want: bearer},
		{name: "no credential on a change", role: domain.RoleNone, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disabled"}`,
			code: 401, msg: "Authorization: Bearer", want: bearer},
		{name: "wrong token", role: domain.RoleNone, method: "POST", setup: brAt(api + "/requests"), body: disable,
			header: []string{"Authorization", "Bearer not-a-token"}, code: 401, msg: "the token is not valid", want: bearer},
		{name: "wrong scheme", role: domain.RoleNone, method: "GET", setup: brAt(api + "/smartcards"),
			header: []string{"Authorization", "Basic dXNlcjpwYXNz"}, code: 401, msg: "authentication required", want: bearer},
		{name: "empty bearer", role: domain.RoleNone, method: "GET", setup: brAt(api + "/smartcards"),
			header: []string{"Authorization", "Bearer   "}, code: 401, msg: "authentication required", want: bearer},
		{name: "viewer creates a request", role: domain.RoleViewer, method: "POST", setup: brAt(api + "/requests"),
			body: disable, code: 403, msg: "needs the operator role"},
		{name: "viewer sets a card status", role: domain.RoleViewer, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disabled"}`,
			code: 403, msg: "needs the operator role"},
		{name: "viewer completes a request", role: domain.RoleViewer, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + disableReq(e) }, body: `{"status":"Completed"}`,
			code: 403, msg: "needs the operator role"},
		{name: "operator carries out own Retire request", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return brCardPath(pendingRetire(e), cardActive) }, body: `{"status":"Retired"}`,
			code: 403, msg: "is Pending"},
		{name: "admin carries out a Pending request", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(pendingRetire(e), cardActive) }, body: `{"status":"Retired"}`,
			code: 403, msg: "only an Approved request can be carried out"},
		{name: "operator re-enables a Disabled card", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string {
				brDisabled(e)
				return brCardPath(brRequest(e, domain.RoleOperator, "Reinstate", cardActive), cardActive)
			}, body: `{"status":"Active"}`, code: 403, msg: "from Disabled to Active needs the admin role"},
		{name: "Denied request carried out", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string {
				req := pendingRetire(e)
				brSetRequest(e, domain.RoleAdmin, req, "Denied")
				return brCardPath(req, cardActive)
			}, body: `{"status":"Retired"}`, code: 403, msg: "is Denied"},
		{name: "operator approves a Pending request", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + pendingRetire(e) }, body: `{"status":"Approved"}`,
			code: 403, msg: "approving or denying needs the admin role"},
		{name: "operator completes a Pending request", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + pendingRetire(e) }, body: `{"status":"Completed"}`,
			code: 403, msg: "must be approved before it can be Completed"},
		{name: "admin completes a Pending request", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + pendingRetire(e) }, body: `{"status":"completed"}`,
			code: 403, msg: "must be approved"},

		// Routing.
		{name: "unknown route", role: domain.RoleAdmin, method: "GET", setup: brAt(api + "/certificates"),
			code: 404, msg: "no such resource: " + api + "/certificates"},
		{name: "unknown route under /api", role: domain.RoleAdmin, method: "GET", setup: brAt("/api/nothing/here"),
			code: 404, msg: "no such resource"},
		{name: "wrong method", role: domain.RoleAdmin, method: "DELETE", setup: brAt(api + "/smartcards/" + cardActive),
			code: 405, msg: "the method DELETE is not allowed here", want: map[string]string{"Allow": "GET"}},
		{name: "wrong method on a request", role: domain.RoleAdmin, method: "PATCH",
			setup: func(e *env) string { return api + "/requests/" + disableReq(e) }, body: `{"status":"Completed"}`,
			code: 405, msg: "PUT", want: map[string]string{"Allow": "GET"}},
		{name: "POST on a card status", role: domain.RoleAdmin, method: "POST",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disabled"}`,
			code: 405, msg: "not allowed", want: map[string]string{"Allow": "GET"}},

		// The body.
		{name: "non-JSON content type", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: disable, header: []string{"Content-Type", "text/plain"}, code: 415, msg: "Content-Type: application/json"},
		{name: "form content type", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `status=Disabled`,
			header: []string{"Content-Type", "application/x-www-form-urlencoded"}, code: 415, msg: "the body must be JSON"},
		{name: "no body and no content type", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + disableReq(e) }, code: 415, msg: "must be JSON"},
		{name: "body over 64 KiB", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: bigComment, code: 413, msg: "64 KiB"},
		{name: "empty JSON body", role: domain.RoleAdmin, method: "PUT",
			setup:  func(e *env) string { return brCardPath(disableReq(e), cardActive) },
			header: []string{"Content-Type", "application/json"}, code: 400, msg: "must be a JSON object"},
		{name: "malformed JSON", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + cardActive + `"`, code: 400, msg: "not valid JSON"},
		{name: "JSON without colon", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status" "Disabled"}`,
			code: 400, msg: "not valid JSON"},
		{name: "JSON array instead of object", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: "[" + disable + "]", code: 400, msg: "must be a JSON object"},
		{name: "JSON string instead of object", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `"Disabled"`,
			code: 400, msg: "must be a JSON object"},
		{name: "trailing data", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disabled"} {}`,
			code: 400, msg: "more than one JSON value"},
		{name: "trailing data after create", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: disable + "x", code: 400, msg: "more than one JSON value"},
		{name: "duplicate key", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) },
			body:  `{"status":"Disabled","status":"Disabled"}`, code: 400, msg: `"status" appears more than once`},
		{name: "duplicate key in another case", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","Type":"Retire","smartcard":"` + cardActive + `"}`, code: 400, msg: `"type" appears more than once`},
		{name: "unknown body key", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) },
			body:  `{"status":"Disabled","reason":"lost"}`, code: 400, msg: `unknown key "reason"`},
		{name: "misspelt body key", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcardid":"` + cardActive + `"}`, code: 400, msg: `unknown key "smartcardid"`},

		{name: "body shorter than its Content-Length", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disa`,
			bodyErr: io.ErrUnexpectedEOF, code: 400, msg: "the body ended after 15 of the 115 bytes its Content-Length announced; nothing was changed"},
		{name: "body shorter than its Content-Length on a create", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: disable, bodyErr: io.ErrUnexpectedEOF, code: 400, msg: "the body ended after"},
		{name: "body stalls until the read timeout", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":`,
			bodyErr: os.ErrDeadlineExceeded, code: 408, msg: "the body did not arrive in time (10 bytes came); nothing was changed"},
		{name: "UTF-16 body", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: "\xff\xfe{\x00}\x00",
			code: 400, msg: "UTF-16 byte order mark; send it as UTF-8"},
		{name: "GET with a body on a request's card", role: domain.RoleAdmin, method: "GET",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disabled"}`,
			code: 400, msg: "a GET takes no body, and this one has one; nothing was changed: a change is a PUT or a POST"},
		{name: "GET with a body on a card", role: domain.RoleAdmin, method: "GET", setup: brAt(api + "/smartcards/" + cardActive),
			body: `{"status":"Disabled"}`, code: 400, msg: "a GET takes no body"},
		{name: "GET with a body on the card list", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards"),
			body: `{}`, code: 400, msg: "a GET takes no body"},
		{name: "GET with a body on a request", role: domain.RoleAdmin, method: "GET",
			setup: func(e *env) string { return api + "/requests/" + disableReq(e) }, body: `{"status":"Completed"}`,
			code: 400, msg: "a GET takes no body"},
		{name: "GET with a body on the operations", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards/" + cardActive + "/operations"),
			body: `{}`, code: 400, msg: "a GET takes no body"},
		{name: "GET with a body on the station", role: domain.RoleViewer, method: "GET", setup: brAt("/api/station"),
			body: `{}`, code: 400, msg: "a GET takes no body"},
		{name: "GET with a chunked body", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/requests"),
			body: `{}`, header: []string{"Transfer-Encoding", "chunked"}, code: 400, msg: "a GET takes no body"},

		// The path.
		{name: "path not in its clean form", role: domain.RoleAdmin, method: "GET", setup: brAt(api + "/smartcards/../smartcards"),
			code: 307, msg: "the path is not in its clean form; use " + api + "/smartcards",
			want: map[string]string{"Location": api + "/smartcards"}},

		// The query.
		{name: "unknown query parameter", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?cardids=x"),
			code: 400, msg: `unknown query parameter "cardids"`},
		{name: "query parameter on a create", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests?force=1"),
			body: disable, code: 400, msg: `unknown query parameter "force"; this takes none`},
		{name: "query parameter on a status change", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) + "?status=Disabled" },
			body:  `{"status":"Disabled"}`, code: 400, msg: `unknown query parameter "status"`},
		{name: "repeated query parameter", role: domain.RoleViewer, method: "GET",
			setup: brAt(api + "/smartcards?status=Active&status=Disabled"), code: 400, msg: "status appears more than once"},
		{name: "repeated query parameter in another case", role: domain.RoleViewer, method: "GET",
			setup: brAt(api + "/requests?status=Pending&STATUS=Pending"), code: 400, msg: "status appears more than once"},
		{name: "cardid combined with status", role: domain.RoleViewer, method: "GET",
			setup: brAt(api + "/smartcards?cardid=" + serialActive + "&status=Active"), code: 400, msg: "cannot be combined"},
		{name: "unknown cardid", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?cardid=nope"),
			code: 404, msg: `no smartcard has the card id "nope"`},
		{name: "unknown cardid that is a GUID", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?cardid=" + brNoSuch),
			code: 404, msg: "no smartcard has the card id"},
		{name: "bad assigneduser", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?assigneduser=bob"),
			code: 400, msg: `assigneduser must be a user's GUID, not "bob"`},
		{name: "limit not a number", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?limit=ten"),
			code: 400, msg: `limit must be a whole number from 1 to 1000000, not "ten"`},
		{name: "limit zero", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?limit=0"),
			code: 400, msg: `limit must be a whole number from 1 to 1000000, not "0"`},
		{name: "limit negative", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?limit=-5"),
			code: 400, msg: "limit must be a whole number from 1 to 1000000"},
		{name: "limit too large", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?limit=99999999999999999999"),
			code: 400, msg: "limit must be a whole number from 1 to 1000000"},
		{name: "limit empty", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?limit="),
			code: 400, msg: `limit must be a whole number from 1 to 1000000, not ""`},
		{name: "after not a GUID", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?after=card-7"),
			code: 400, msg: `after must be a smartcard's GUID (the last uuid of the page before), not "card-7"`},
		{name: "after repeated", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?after=" + cardActive + "&after=" + cardAssigned),
			code: 400, msg: "after appears more than once"},
		{name: "cardid combined with limit", role: domain.RoleViewer, method: "GET",
			setup: brAt(api + "/smartcards?cardid=" + serialActive + "&limit=1"), code: 400, msg: "cannot be combined"},
		{name: "limit on requests", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/requests?limit=10"),
			code: 400, msg: `unknown query parameter "limit"`},
		{name: "unknown card status filter", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards?status=Frozen"),
			code: 400, msg: `unknown smartcard status "Frozen"`},
		{name: "targetuser other than current", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/requests?targetuser=" + brNoSuch),
			code: 400, msg: `targetuser supports only "current"`},
		{name: "targetuser current for a token", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/requests?targetuser=Current"),
			code: 400, msg: "targetuser=current means the caller's own user, and the token viewer is not a user"},
		{name: "unknown request status filter", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/requests?status=Finished"),
			code: 400, msg: `unknown request status "Finished"`},

		// GUIDs and records in the path.
		{name: "bad GUID in path", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards/not-a-guid"),
			code: 400, msg: `the id in the path must be a GUID, not "not-a-guid"`},
		{name: "bad request GUID in a PUT path", role: domain.RoleAdmin, method: "PUT", setup: brAt(brCardPath("req-1", cardActive)),
			body: `{"status":"Disabled"}`, code: 400, msg: "the reqid in the path must be a GUID"},
		{name: "bad card GUID in a PUT path", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), serialActive+"0") }, body: `{"status":"Disabled"}`,
			code: 400, msg: "the scid in the path must be a GUID"},
		{name: "bad GUID in a request PUT path", role: domain.RoleAdmin, method: "PUT", setup: brAt(api + "/requests/123"),
			body: `{"status":"Completed"}`, code: 400, msg: "the id in the path must be a GUID"},
		{name: "unknown card", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/smartcards/" + brNoSuch),
			code: 404, msg: "smartcard " + brNoSuch + " not found"},
		{name: "unknown card in a PUT", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(brRequest(e, domain.RoleAdmin, "Disable", ""), brNoSuch) },
			body:  `{"status":"Disabled"}`, code: 404, msg: "smartcard " + brNoSuch + " not found"},
		{name: "unknown request", role: domain.RoleViewer, method: "GET", setup: brAt(api + "/requests/" + brNoSuch),
			code: 404, msg: "request " + brNoSuch + " not found"},
		{name: "unknown request in a card PUT", role: domain.RoleAdmin, method: "PUT", setup: brAt(brCardPath(brNoSuch, cardActive)),
			body: `{"status":"Disabled"}`, code: 404, msg: "request " + brNoSuch + " not found"},
		{name: "unknown request in a request PUT", role: domain.RoleOperator, method: "PUT", setup: brAt(api + "/requests/" + brNoSuch),
			body: `{"status":"Completed"}`, code: 404, msg: "request " + brNoSuch + " not found"},

		// Creating requests.
		{name: "unsupported type Enroll", role: domain.RoleAdmin, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Enroll","datacollection":[],"comment":""}`, code: 400,
			msg: "does not carry out Enroll requests; it carries out Disable (or Revoke), Retire, and SuspendOrReinstate"},
		{name: "unsupported type by number", role: domain.RoleAdmin, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":5,"smartcard":"` + cardActive + `"}`, code: 400, msg: "does not carry out Unblock requests"},
		{name: "unknown type", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Frobnicate","smartcard":"` + cardActive + `"}`, code: 400, msg: `unknown request type "Frobnicate"`},
		{name: "type None", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":0,"smartcard":"` + cardActive + `"}`, code: 400, msg: "unknown request type"},
		{name: "type not text", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":["Disable"],"smartcard":"` + cardActive + `"}`, code: 400, msg: "type must be a string or a number"},
		{name: "missing type", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"smartcard":"` + cardActive + `","datacollection":[],"comment":""}`, code: 400, msg: `the key "type" is required`},
		{name: "bad smartcard GUID", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + serialActive + `x"}`, code: 400, msg: "smartcard must be a GUID"},
		{name: "unknown smartcard", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + brNoSuch + `"}`, code: 404, msg: "smartcard " + brNoSuch + " not found"},
		{name: "bad target GUID", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + cardActive + `","target":"me"}`, code: 400, msg: `target must be a GUID, not "me"`},
		{name: "datacollection object", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`{"reason":"lost"}`), code: 400, msg: "datacollection must be an array of objects"},
		{name: "datacollection number", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`5`), code: 400, msg: "datacollection must be an array"},
		{name: "datacollection item with two keys", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`[{"city":"seattle"},{"name":"pavle","city":"seattle"}]`), code: 400, msg: "datacollection item 2"},
		{name: "datacollection empty item", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`[{}]`), code: 400, msg: "datacollection item 1"},
		{name: "datacollection value not a string", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`[{"Name":"x","Value":4}]`), code: 400, msg: "with string values"},
		{name: "datacollection string not JSON", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`"lost on the bus"`), code: 400, msg: "or a string holding one"},
		{name: "datacollection too long", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: withDC(`[` + strings.Repeat(`{"a":"b"},`, 40) + `{"a":"b"}]`), code: 400, msg: "datacollection has more than"},
		{name: "priority abc", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + cardActive + `","priority":"abc"}`, code: 400, msg: `priority must be a whole number, not "abc"`},
		{name: "priority bool", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + cardActive + `","priority":true}`, code: 400, msg: "priority must be a string or a number"},
		{name: "comment not a string", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + cardActive + `","comment":42}`, code: 400, msg: "comment must be a string"},
		{name: "comment too long", role: domain.RoleOperator, method: "POST", setup: brAt(api + "/requests"),
			body: `{"type":"Disable","smartcard":"` + cardActive + `","comment":"` + strings.Repeat("c", 1025) + `"}`,
			code: 400, msg: "comment is longer than 1024"},
		{name: "Retire request on a Retired card", role: domain.RoleAdmin, method: "POST",
			setup: func(e *env) string { brRetired(e); return api + "/requests" },
			body:  `{"type":"Retire","smartcard":"` + cardAssigned + `","datacollection":[],"comment":""}`,
			code:  409, msg: "Retired, which is final"},

		// Changing a card's status.
		{name: "missing status", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{}`,
			code: 400, msg: `the key "status" is required`},
		{name: "unknown status name", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Disabledd"}`,
			code: 400, msg: `unknown smartcard status "Disabledd"`},
		{name: "status number out of range", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":7}`,
			code: 400, msg: `unknown smartcard status "7"`},
		{name: "status not text", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":{"name":"Disabled"}}`,
			code: 400, msg: "status must be a string or a number"},
		{name: "status the type does not allow", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardActive) }, body: `{"status":"Suspended"}`,
			code: 409, msg: "a Disable request can set a smartcard to Disabled, not Suspended"},
		{name: "Retire request sets Disabled", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string {
				return brCardPath(brRequest(e, domain.RoleAdmin, "Retire", cardActive), cardActive)
			},
			body: `{"status":"Disabled"}`, code: 409, msg: "a Retire request can set a smartcard to Retired, not Disabled"},
		{name: "request bound to another card", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return brCardPath(disableReq(e), cardAssigned) }, body: `{"status":"Disabled"}`,
			code: 409, msg: "is for smartcard " + cardActive + ", not " + cardAssigned},
		{name: "request executed on another card", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string {
				req := brRequest(e, domain.RoleAdmin, "Disable", "")
				brSetCard(e, domain.RoleAdmin, req, cardActive, "Disabled")
				return brCardPath(req, cardAssigned)
			}, body: `{"status":"Disabled"}`, code: 409, msg: "is for smartcard " + cardActive},
		{name: "Completed request then PUT card", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string {
				req := approvedReq(e)
				brSetCard(e, domain.RoleOperator, req, cardActive, "Disabled")
				brSetRequest(e, domain.RoleOperator, req, "Completed")
				return brCardPath(req, cardActive)
			}, body: `{"status":"Disabled"}`, code: 409, msg: "is already Completed"},
		{name: "request carried out again after a re-enable", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string {
				req := approvedReq(e)
				brSetCard(e, domain.RoleOperator, req, cardActive, "Disabled")
				brSetCard(e, domain.RoleAdmin, brRequest(e, domain.RoleAdmin, "SuspendOrReinstate", cardActive), cardActive, "Active")
				return brCardPath(req, cardActive)
			}, body: `{"status":"Disabled"}`, code: 409, msg: "has already been carried out; the smartcard is now Active"},
		{name: "request carried out again to another status", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string {
				req := brRequest(e, domain.RoleOperator, "SuspendOrReinstate", cardActive)
				brSetCard(e, domain.RoleOperator, req, cardActive, "Suspended")
				return brCardPath(req, cardActive)
			}, body: `{"status":"Active"}`, code: 409, msg: "has already been carried out"},
		{name: "Canceled request then PUT card", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string {
				req := approvedReq(e)
				brSetRequest(e, domain.RoleOperator, req, "Abandoned")
				return brCardPath(req, cardActive)
			}, body: `{"status":"Disabled"}`, code: 409, msg: "is already Canceled"},
		{name: "Retired card to Active", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string {
				brRetired(e)
				return brCardPath(brRequest(e, domain.RoleAdmin, "SuspendOrReinstate", ""), cardAssigned)
			}, body: `{"status":"Active"}`, code: 409, msg: "Retired, which is final; it cannot become Active"},
		{name: "Assigned card to Suspended", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string {
				return brCardPath(brRequest(e, domain.RoleAdmin, "Suspend", cardAssigned), cardAssigned)
			}, body: `{"status":"Suspended"}`, code: 409, msg: "cannot go from Assigned to Suspended"},

		// Changing a request's status.
		{name: "missing request status", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + approvedReq(e) }, body: `{}`,
			code: 400, msg: `the key "status" is required`},
		{name: "unknown request status", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + approvedReq(e) }, body: `{"status":"Finished"}`,
			code: 400, msg: `unknown request status "Finished"`},
		{name: "request status Executing", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + approvedReq(e) }, body: `{"status":"Executing"}`,
			code: 400, msg: "a request can be set to Completed"},
		{name: "deny an Approved request", role: domain.RoleAdmin, method: "PUT",
			setup: func(e *env) string { return api + "/requests/" + approvedReq(e) }, body: `{"status":"Denied"}`,
			code: 409, msg: "only a Pending request can be Denied"},
		{name: "complete a Canceled request", role: domain.RoleOperator, method: "PUT",
			setup: func(e *env) string {
				req := approvedReq(e)
				brSetRequest(e, domain.RoleOperator, req, "Canceled")
				return api + "/requests/" + req
			}, body: `{"status":"Completed"}`, code: 409, msg: "it is already Canceled"},
	}
	if len(rows) < 40 {
		t.Fatalf("only %d rows", len(rows))
	}
	seen := map[string]bool{}
	for _, tc := range rows {
		if seen[tc.name] {
			t.Fatalf("two rows are named %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			path := tc.setup(e)
			before := e.snapshot()
			var rec *httptest.ResponseRecorder
			if tc.bodyErr != nil {
				rec = brBroken(e, tc.role, tc.method, path, tc.body, tc.bodyErr)
			} else {
				rec = e.do(tc.role, tc.method, path, tc.body, tc.header...)
			}
			brCheckError(t, rec, tc.code, tc.msg)
			for k, prefix := range tc.want {
				if v := rec.Header().Get(k); !strings.HasPrefix(v, prefix) {
					t.Errorf("header %s = %q, want it to start with %q", k, v, prefix)
				}
			}
			if after := e.snapshot(); after != before {
				t.Errorf("the refused request changed the store\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// brBroken sends a request whose body ends with err after body, though
// its Content-Length announces 100 bytes more.
func brBroken(e *env, role domain.Role, method, path, body string, err error) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, io.MultiReader(strings.NewReader(body), brErrReader{err}))
	req.ContentLength = int64(len(body) + 100)
	req.RemoteAddr = "192.0.2.1:50000"
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.tokens[role])
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

type brErrReader struct{ err error }

func (r brErrReader) Read([]byte) (int, error) { return 0, r.err }

// brCheckError checks that rec is the JSON error answer: the status code,
// the content type, and a body of exactly Message (holding msg) and
// CorrelationId (the id of the X-Correlation-Id header).
func brCheckError(t *testing.T, rec *httptest.ResponseRecorder, code int, msg string) {
	t.Helper()
	if rec.Code != code {
		t.Errorf("status %d, want %d; body %s", rec.Code, code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body, err)
	}
	if len(body) != 2 || body["Message"] == nil || body["CorrelationId"] == nil {
		t.Errorf("body %s: want exactly the keys Message and CorrelationId", rec.Body)
	}
	var message, corr string
	if err := json.Unmarshal(body["Message"], &message); err != nil || message == "" {
		t.Errorf("Message %s is not a non-empty string", body["Message"])
	}
	if !strings.Contains(message, msg) {
		t.Errorf("Message %q does not contain %q", message, msg)
	}
	if err := json.Unmarshal(body["CorrelationId"], &corr); err != nil {
		t.Errorf("CorrelationId %s is not a string", body["CorrelationId"])
	}
	if g, err := guid.Parse(corr); err != nil || g.IsNil() || g.String() != corr {
		t.Errorf("CorrelationId %q is not a canonical, non-zero GUID", corr)
	}
	if h := rec.Header().Get("X-Correlation-Id"); h != corr {
		t.Errorf("X-Correlation-Id %q, CorrelationId %q", h, corr)
	}
}

// TestAuthFailuresAreLimited: bad tokens from an address get 401 up to
// the limit and 429 beyond it, until a minute after the first; a valid
// token from that address is served all along.
func TestAuthFailuresAreLimited(t *testing.T) {
	e := newEnv(t)
	now := fixedNow
	e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }})
	e.srv.failDelay = func(int) time.Duration { return 0 } // TestBadTokensSlowDown times it
	try := func(addr, token string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest("GET", api+"/smartcards", nil)
		req.RemoteAddr = addr
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		return rec
	}
	const addr, other = "192.0.2.7:41000", "198.51.100.9:41000"
	good := e.tokens[domain.RoleViewer]

	if rec := try(addr, good); rec.Code != http.StatusOK {
		t.Fatalf("a good token first: %d %s", rec.Code, rec.Body)
	}
	for i := 1; i <= 10; i++ {
		// Each failure comes from another port of the same address.
		rec := try("192.0.2.7:"+strconv.Itoa(40000+i), "wrong-"+strconv.Itoa(i))
		brCheckError(t, rec, http.StatusUnauthorized, "the token is not valid")
		now = now.Add(time.Second) // ten failures within ten seconds
	}
	rec := try(addr, "wrong-again")
	brCheckError(t, rec, http.StatusTooManyRequests, "too many failed authentications")
	if got := rec.Header().Get("Retry-After"); got != "50" {
		t.Errorf("Retry-After %q, want 50 (the window is one minute from the first failure)", got)
	}
	if rec := try(addr, good); rec.Code != http.StatusOK {
		t.Errorf("a good token from the refused address: %d %s, want 200", rec.Code, rec.Body)
	}
	if rec := try(other, "wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong token from another address: %d, want 401", rec.Code)
	}
	if rec := try(other, good); rec.Code != http.StatusOK {
		t.Errorf("a good token from another address: %d, want 200", rec.Code)
	}

	now = now.Add(49 * time.Second)
	rec = try(addr, "wrong")
	brCheckError(t, rec, http.StatusTooManyRequests, "try again in 1 s")
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q one second before the end of the window, want 1", got)
	}

	now = now.Add(time.Second) // the window has ended
	if rec := try(addr, "wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a wrong token after the window: %d, want 401", rec.Code)
	}
	if rec := try(addr, good); rec.Code != http.StatusOK {
		t.Errorf("a good token after the window: %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestForgivenForms: forms of a request that are not wrong, only unusual,
// are answered as their usual form is.
func TestForgivenForms(t *testing.T) {
	for _, tc := range []struct {
		name         string
		method, path string // path: the unusual form
		usual        string // the usual form of path, answered the same
		body         string
		code         int
	}{
		{name: "card list with a trailing slash", method: "GET", path: api + "/smartcards/", usual: api + "/smartcards", code: 200},
		{name: "request list with a trailing slash", method: "GET", path: api + "/requests/", usual: api + "/requests", code: 200},
		{name: "card with a trailing slash", method: "GET", path: api + "/smartcards/" + cardActive + "/", usual: api + "/smartcards/" + cardActive, code: 200},
		{name: "card list with a trailing slash and a query", method: "GET", path: api + "/smartcards/?status=active", usual: api + "/smartcards?status=active", code: 200},
		{name: "status set by a body with a UTF-8 byte order mark", method: "PUT", body: "\xef\xbb\xbf" + `{"status":"Disabled"}`, code: 200},
		{name: "GET with an empty body", method: "GET", path: api + "/smartcards", usual: api + "/smartcards", code: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.method == "PUT" { // a change: made as by the body without the mark
				rec := e.do(domain.RoleAdmin, "PUT", brCardPath(brRequest(e, domain.RoleAdmin, "Disable", cardActive), cardActive), tc.body)
				if rec.Code != tc.code || !strings.Contains(rec.Body.String(), `"Status":4`) {
					t.Fatalf("PUT %q: %d %s", tc.body, rec.Code, rec.Body)
				}
				if c, err := e.store.Card(mustGUID(t, cardActive)); err != nil || c.Status != domain.CardDisabled {
					t.Fatalf("the card after the PUT: %v, %v", c.Status, err)
				}
				return
			}
			got := e.do(domain.RoleAdmin, tc.method, tc.path, "")
			if tc.name == "GET with an empty body" {
				got = e.do(domain.RoleAdmin, tc.method, tc.path, "", "Content-Length", "0")
			}
			want := e.do(domain.RoleAdmin, tc.method, tc.usual, "")
			if got.Code != tc.code || want.Code != tc.code {
				t.Fatalf("%s: %d %s; %s: %d", tc.path, got.Code, got.Body, tc.usual, want.Code)
			}
			if got.Body.String() != want.Body.String() {
				t.Errorf("%s answers\n%s\nbut %s answers\n%s", tc.path, got.Body, tc.usual, want.Body)
			}
		})
	}
}

// TestStaticListsNoDirectory: /static/ serves its files and lists nothing.
func TestStaticListsNoDirectory(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/static/style.css", 200},
		{"/static/", 404},
		{"/static/nothing.css", 404},
	} {
		rec := e.do(domain.RoleNone, "GET", tc.path, "")
		if rec.Code != tc.code {
			t.Errorf("GET %s: %d, want %d", tc.path, rec.Code, tc.code)
		}
		if b := rec.Body.String(); tc.code == 404 && (strings.Contains(b, `href="station.js"`) || !strings.Contains(b, `data-testid="message">There is no page at `+tc.path)) {
			t.Errorf("GET %s: want the page saying it is not found, not a listing: %s", tc.path, b)
		}
	}
}

// TestBrokenBodyOverTCP: a client whose connection ends, or stalls, before
// its body does gets the error answer (when it still listens) and changes
// nothing: net/http's reader reports what bodyError expects.
func TestBrokenBodyOverTCP(t *testing.T) {
	for _, tc := range []struct {
		name  string
		close bool // the client stops sending (half-close); else it stalls
		code  string
		msg   string
	}{
		{"connection ends", true, "400", "the body ended after 9 of the 21 bytes"},
		{"connection stalls", false, "408", "the body did not arrive in time (9 bytes came)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			req := brRequest(e, domain.RoleAdmin, "Disable", cardActive)
			srv := httptest.NewUnstartedServer(e.srv)
			srv.Config.ReadTimeout = 200 * time.Millisecond // the stall ends with it
			srv.Start()
			defer srv.Close()
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, err = io.WriteString(conn, "PUT "+brCardPath(req, cardActive)+" HTTP/1.1\r\nHost: localhost\r\n"+
				"Authorization: Bearer "+e.tokens[domain.RoleAdmin]+"\r\nContent-Type: application/json\r\n"+
				"Content-Length: 21\r\n\r\n"+`{"status"`)
			if err != nil {
				t.Fatal(err)
			}
			before := e.snapshot()
			if tc.close {
				if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if got := strconv.Itoa(resp.StatusCode); got != tc.code || !strings.Contains(string(body), tc.msg) {
				t.Errorf("answer %s %s, want %s with %q", got, body, tc.code, tc.msg)
			}
			if e.snapshot() != before {
				t.Error("the broken body changed the store")
			}
		})
	}
}
