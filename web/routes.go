package web

import (
	"cmp"
	"io/fs"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cardstop/cardstop/storage/domain"
)

// route is one entry of the route table: what the mux matches, who may
// call it, and what answers. The table is the one list of the service's
// routes: New registers it, its patterns are the route labels of the
// metrics (the mux reports the pattern it matched), and the OpenAPI test
// checks the document against it.
type route struct {
	// pattern is "METHOD /path" as the mux matches it, in lowercase:
	// ServeHTTP lowercases every path, since MIM CM's IIS matches paths in
	// any case and its own documentation writes both.
	pattern string
	// least is the least role a caller needs: an API token's for api, a
	// session's for page; RoleNone for plain.
	least domain.Role
	// station lets a station token (domain.RoleStation) call an api route
	// too: the few a walk-up station needs at its hub. The rules then
	// limit it to Disable requests and the walk-up station's actions.
	station bool
	// Exactly one of these answers.
	api   handlerFunc  // a JSON endpoint behind a bearer token
	page  pageFunc     // a page behind a session
	plain http.Handler // a route without a credential, with its own checks
	// simulated routes exist only while the panel is simulated
	// (Options.PressButton is set).
	simulated bool
	// live is a part of a page that its script fetches: without a session
	// it answers 401, which sends the page to the sign-in, rather than the
	// sign-in page's HTML, which the script would show inside the page.
	live bool
}

// routes is the route table.
func (s *Server) routes() []route {
	p := strings.ToLower(APIPrefix)
	return []route{
		// The MIM CM API (mimcm.go).
		{pattern: "GET " + p + "/smartcards", least: domain.RoleViewer, station: true, api: s.listCards},
		{pattern: "GET " + p + "/smartcards/{id}", least: domain.RoleViewer, station: true, api: s.getCard},
		{pattern: "GET " + p + "/smartcards/{id}/operations", least: domain.RoleViewer, station: true, api: s.cardOperations},
		{pattern: "POST " + p + "/requests", least: domain.RoleOperator, station: true, api: s.createRequest},
		{pattern: "GET " + p + "/requests", least: domain.RoleViewer, api: s.listRequests},
		{pattern: "GET " + p + "/requests/{id}", least: domain.RoleViewer, api: s.getRequest},
		{pattern: "PUT " + p + "/requests/{id}", least: domain.RoleOperator, station: true, api: s.setRequestStatus},
		{pattern: "GET " + p + "/requests/{reqid}/smartcards/{scid}", least: domain.RoleViewer, api: s.getRequestCard},
		{pattern: "PUT " + p + "/requests/{reqid}/smartcards/{scid}", least: domain.RoleOperator, station: true, api: s.setCardStatus},

		// The station and the operations (station.go, metrics.go, openapi.go).
		{pattern: "GET /api/station", least: domain.RoleViewer, api: s.getStation},
		{pattern: "POST /api/station/button", least: domain.RoleOperator, api: s.pressButton, simulated: true},
		{pattern: "GET /api/admin/backup", least: domain.RoleAdmin, api: s.backup},
		{pattern: "GET /api/outbox", least: domain.RoleAdmin, api: s.getOutbox},
		{pattern: "POST /api/outbox/retry", least: domain.RoleAdmin, api: s.outboxAction(s.retryParked, "retried")},
		{pattern: "POST /api/outbox/drop", least: domain.RoleAdmin, api: s.outboxAction(s.dropParked, "dropped")},
		{pattern: "GET /healthz", plain: http.HandlerFunc(healthz)},
		{pattern: "GET /readyz", plain: http.HandlerFunc(s.ready)},
		{pattern: "GET /metrics", plain: promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})},
		{pattern: "GET /openapi.json", plain: http.HandlerFunc(serveOpenAPI)},

		// The pages (ui*.go).
		{pattern: "GET /static/", plain: s.hostCheck(http.StripPrefix("/static/", s.staticFiles()))},
		{pattern: "GET /{$}", plain: s.hostCheck(http.RedirectHandler("/cards", http.StatusSeeOther))},
		{pattern: "GET /signin", plain: s.hostCheck(http.HandlerFunc(s.signInPage))},
		{pattern: "POST /signin", plain: s.guard(http.HandlerFunc(s.signIn))},
		{pattern: "POST /signout", least: domain.RoleViewer, page: s.signOut},
		{pattern: "GET /cards", least: domain.RoleViewer, page: s.cardsPage},
		{pattern: "GET /cards/{id}", least: domain.RoleViewer, page: s.cardPage},
		{pattern: "GET /cards/{id}/{action}", least: domain.RoleOperator, page: s.actionPage},
		{pattern: "POST /cards/{id}/{action}", least: domain.RoleOperator, page: s.doAction},
		{pattern: "GET /requests", least: domain.RoleViewer, page: s.requestsPage},
		{pattern: "GET /audit", least: domain.RoleViewer, page: s.auditPage},
		{pattern: "GET /audit.jsonl", least: domain.RoleViewer, page: s.auditExport},
		{pattern: "GET /station", least: domain.RoleViewer, page: s.stationPage},
		{pattern: "GET /station/kiosk", least: domain.RoleViewer, page: s.stationKiosk},
		{pattern: "GET /station/panel", least: domain.RoleViewer, page: s.stationPanel, live: true},
		{pattern: "GET /station/events", least: domain.RoleViewer, page: s.stationEvents, live: true},
		{pattern: "POST /station/button", least: domain.RoleOperator, page: s.stationPress, simulated: true},
		{pattern: "GET /admin/tokens", least: domain.RoleAdmin, page: s.tokensPage},
		{pattern: "POST /admin/tokens", least: domain.RoleAdmin, page: s.createToken},
		{pattern: "POST /admin/tokens/revoke", least: domain.RoleAdmin, page: s.revokeToken},
		{pattern: "GET /admin/stations", least: domain.RoleAdmin, page: s.stationsPage},
		{pattern: "GET /admin/outbox", least: domain.RoleAdmin, page: s.outboxPage},
		{pattern: "POST /admin/outbox/retry", least: domain.RoleAdmin, page: s.outboxPageAction(s.retryParked, "retried")},
		{pattern: "POST /admin/outbox/drop", least: domain.RoleAdmin, page: s.outboxPageAction(s.dropParked, "dropped")},
		{pattern: "GET /admin/users", least: domain.RoleAdmin, page: s.usersPage},
		{pattern: "POST /admin/users", least: domain.RoleAdmin, page: s.addUser},
		{pattern: "POST /admin/users/remove", least: domain.RoleAdmin, page: s.removeUser},
		{pattern: "GET /admin/tokens/revoke", least: domain.RoleAdmin, page: s.confirmRevokeToken},
		{pattern: "GET /admin/users/remove", least: domain.RoleAdmin, page: s.confirmRemoveUser},
		// Browsers ask for /favicon.ico where a page names no icon, like a
		// JSON document opened in a tab: send them to the one there is.
		{pattern: "GET /favicon.ico", plain: s.hostCheck(http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently))},
	}
}

// register puts the route table into the mux, and what it can take into
// the router.
func (s *Server) register() {
	for _, rt := range s.routes() {
		if rt.simulated && s.opt.PressButton == nil {
			continue
		}
		h := rt.plain
		switch {
		case rt.api != nil:
			h = s.apiHandler(rt.least, rt.station, rt.api)
		case rt.page != nil:
			h = s.pageHandler(rt.least, rt.page, rt.live)
		}
		s.mux.Handle(rt.pattern, h)
		s.router.add(rt.pattern, h)
	}
}

// staticFiles serves web/static's files, cached for an hour, and no
// directory listing: a directory, like a file that is not there, gets the
// pages' "not found".
func (s *Server) staticFiles() http.Handler {
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fi, err := fs.Stat(static, cmp.Or(r.URL.Path, ".")); err != nil || fi.IsDir() {
			s.notFound(w, r, http.StatusNotFound, "/static/"+r.URL.Path)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
