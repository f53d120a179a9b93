package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/httpapi"
)

// TestAdmitBoundsRequestsInFlight: beyond the limit a request waits for a slot; one
// that gets none within the wait is refused with 503 problem+json and Retry-After,
// without reaching the handler; health checks are always answered.
func TestAdmitBoundsRequestsInFlight(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		path       string
		freeASlot  bool // a request in flight ends while the extra one waits
		wantStatus int
	}{
		{"refused when no slot frees within the wait", time.Millisecond, "/v1/events", false, http.StatusServiceUnavailable},
		{"admitted when a slot frees within the wait", time.Minute, "/v1/events", true, http.StatusAccepted},
		{"health is never refused", time.Millisecond, "/v1/health", false, http.StatusAccepted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			entered := make(chan struct{}, 10)
			var reached sync.Map
			h := httpapi.Admit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reached.Store(r.Header.Get("X-N"), true)
				entered <- struct{}{}
				if r.Header.Get("X-N") != "extra" {
					<-release
				}
				w.WriteHeader(http.StatusAccepted)
			}), 2, tc.wait)
			var busy sync.WaitGroup
			for _, n := range []string{"a", "b"} {
				busy.Go(func() {
					req := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
					req.Header.Set("X-N", n)
					h.ServeHTTP(httptest.NewRecorder(), req)
				})
				<-entered
			}
			if tc.freeASlot {
				go func() { release <- struct{}{} }() // one of the two ends; the extra one takes its slot
			}
			req := httptest.NewRequest(http.MethodPost, tc.path, nil)
			req.Header.Set("X-N", "extra")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			close(release)
			busy.Wait()

			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			_, got := reached.Load("extra")
			if tc.wantStatus == http.StatusServiceUnavailable {
				var p struct {
					Type   string `json:"type"`
					Status int    `json:"status"`
					Detail string `json:"detail"`
				}
				if got {
					t.Error("a refused request reached the handler")
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if rec.Header().Get("Retry-After") == "" {
					t.Error("no Retry-After")
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != 503 || p.Type == "" || p.Detail == "" {
					t.Errorf("problem %+v (%v): %s", p, err, rec.Body)
				}
			} else if !got {
				t.Error("the admitted request did not reach the handler")
			}
		})
	}
}
