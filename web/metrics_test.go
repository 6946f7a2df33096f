package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/device/station"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
)

type countingStation struct{ fakeStation }

func (countingStation) EventCounts() map[string]uint64 {
	return map[string]uint64{"inserted": 3, "read-error": 1}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	stn := countingStation{fakeStation{station.Status{State: station.Ready}}}
	e.srv = New(e.store, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Station: stn, Changes: e.changes})
	req := e.createRequest(domain.RoleOperator, `{"type":"Disable","smartcard":"`+cardActive+`"}`)
	if rec := e.do(domain.RoleOperator, "PUT", api+"/requests/"+req+"/smartcards/"+cardActive, `{"status":"Disabled"}`); rec.Code != 200 {
		t.Fatal(rec.Body)
	}
	e.do(domain.RoleNone, "GET", api+"/smartcards", "")
	e.do(domain.RoleNone, "GET", "/no/such/thing", "")
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`cardstop_status_changes_total{actor_kind="token",status="Disabled"} 1`,
		`cardstop_http_requests_total{code="200",route="PUT /certificatemanagement/api/v1.0/requests/{reqid}/smartcards/{scid}"} 1`,
		`cardstop_http_requests_total{code="401",route="GET /certificatemanagement/api/v1.0/smartcards"} 1`,
		`cardstop_http_requests_total{code="404",route="unmatched"} 1`,
		`cardstop_http_request_duration_seconds_bucket{route="POST /certificatemanagement/api/v1.0/requests",le="+Inf"} 1`,
		`cardstop_station_state{state="ready"} 1`,
		`cardstop_station_state{state="confirm"} 0`,
		`cardstop_reader_events_total{kind="read-error"} 1`,
		`cardstop_database_damaged 0`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The size is the store's (bbolt's pages in use), which the file on
	// disk holds; the file itself may have grown ahead of it.
	size := e.store.Size()
	info, err := os.Stat(filepath.Join(e.dir, storage.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if size <= 0 || size > info.Size() {
		t.Fatalf("the store says its size is %d; the file has %d bytes", size, info.Size())
	}
	if want := fmt.Sprintf("\ncardstop_database_size_bytes %d\n", size); !strings.Contains(body, want) {
		t.Errorf("/metrics lacks%s (the store's size):\n%s", strings.TrimSuffix(want, "\n"), body)
	}
	// What the changes above wrote, counted by the store.
	commits, pages := e.store.WriteStats()
	if commits == 0 || pages < commits {
		t.Errorf("WriteStats = %d commits, %d pages; the test made changes", commits, pages)
	}
	for _, want := range []string{fmt.Sprintf("\ncardstop_database_commits_total %d\n", commits), fmt.Sprintf("\ncardstop_database_page_writes_total %d\n", pages)} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks%s", strings.TrimSuffix(want, "\n"))
		}
	}
	if rec.Code != 200 || strings.Contains(body, "cst_") {
		t.Fatalf("/metrics: %d, or a secret in it", rec.Code)
	}
}
