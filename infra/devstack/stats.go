package devstack

import (
	"encoding/json"
	"net/http"

	"github.com/gancho-dev/gancho/shared/metrics"
)

// StatsPath serves the local server's metrics as JSON (metrics.Snapshot): the figures
// the deployed functions write as CloudWatch metrics, counted since the server
// started. It exists on the local server only, on loopback, and needs no key: it holds
// no tenant's data.
const StatsPath = "/local/stats"

// withStats serves StatsPath from c and everything else from api, untouched.
func withStats(api http.Handler, c *metrics.Counters) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != StatsPath {
			api.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": "Method Not Allowed",
				"status": http.StatusMethodNotAllowed, "detail": StatsPath + " answers GET only"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(c.Snapshot())
	})
}
