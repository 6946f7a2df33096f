// Package domain is Cardstop's card management without storage or HTTP:
// the MIM CM numbers (card and request statuses, request types), roles,
// who acts and from where (Origin, Evidence), the rules of state change
// and the refusals they give. It imports neither bbolt nor net/http, so
// the rules can be read, tested and used by every path that changes a
// card (REST API, page, walk-up station) without either.
package domain
