package web

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDoc is the OpenAPI 3.1 document of every API route. Its one
// source is web/openapi.json (go:embed cannot reach outside the package);
// docs/openapi.json is a copy that TestOpenAPIDocument keeps identical.
//
//go:embed openapi.json
var openAPIDoc []byte

// serveOpenAPI answers GET /openapi.json: the document, without a
// credential. The path is not an API path, so it gets the pages' security
// headers; its Content-Type is JSON all the same.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8") // as every JSON answer
	h.Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDoc)
}
