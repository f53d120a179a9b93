package devstack

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/metrics"
)

// TestStatsEndpoint: GET /local/stats answers the counters as JSON; other paths reach
// the API unchanged; another method is refused with a problem.
func TestStatsEndpoint(t *testing.T) {
	c := metrics.NewCounters()
	c.EventsPublished(2)
	c.FanOut(3)
	c.Delivered(40 * time.Millisecond)
	c.Failed(metrics.ReasonHTTP5xx)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := withStats(api, c)

	for _, tc := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{http.MethodGet, StatsPath, http.StatusOK, "application/json"},
		{http.MethodPost, StatsPath, http.StatusMethodNotAllowed, "application/problem+json"},
		{http.MethodGet, "/v1/events", http.StatusTeapot, ""},
		{http.MethodGet, StatsPath + "/", http.StatusTeapot, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status || rec.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, rec.Code, rec.Header().Get("Content-Type"), tc.status, tc.ctype)
		}
		if tc.status != http.StatusOK {
			continue
		}
		var got metrics.Snapshot
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Summary() != c.Snapshot().Summary() || got.FailuresByReason["http_5xx"] != 1 {
			t.Errorf("stats %s, want %s", got.Summary(), c.Snapshot().Summary())
		}
	}
}
