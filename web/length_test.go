package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/cardstop/cardstop/storage/domain"
)

// TestAnswersCarryTheirLength: through a real net/http server, a JSON
// answer has a Content-Length, whether net/http wrote it (an answer that
// fits its buffer: writeJSON leaves it to it) or writeJSON did, and a HEAD
// announces the length of the GET's body.
func TestAnswersCarryTheirLength(t *testing.T) {
	e := newEnv(t)
	addCards(t, e.store, 0, 5) // the list: longer than net/http's buffer, shorter than a streamed answer
	ts := httptest.NewServer(e.srv)
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		method, path string
		long         bool // longer than net/http's buffer
	}{
		{"GET", api + "/smartcards/" + cardAssigned, false},
		{"HEAD", api + "/smartcards/" + cardAssigned, false},
		{"GET", api + "/smartcards/" + cardAssigned + "/operations", false},
		{"GET", api + "/smartcards/" + "not-a-guid", false},
		{"GET", api + "/smartcards", true},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+e.tokens[domain.RoleViewer])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		n, err := strconv.Atoi(resp.Header.Get("Content-Length"))
		switch {
		case err != nil || len(resp.TransferEncoding) > 0:
			t.Errorf("%s %s: Content-Length %q, Transfer-Encoding %v", tc.method, tc.path, resp.Header.Get("Content-Length"), resp.TransferEncoding)
		case tc.method == "GET" && n != len(body):
			t.Errorf("%s %s: Content-Length %d for %d bytes", tc.method, tc.path, n, len(body))
		case tc.method == "HEAD" && (n == 0 || len(body) != 0):
			t.Errorf("HEAD %s: Content-Length %d and %d bytes of body", tc.path, n, len(body))
		case tc.long != (n > netHTTPBuffer):
			t.Errorf("%s %s: %d bytes; the case means to test an answer longer than net/http's buffer: %v", tc.method, tc.path, n, tc.long)
		}
	}
}
