package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/testenv"
)

func TestHelpListsEveryRoute(t *testing.T) {
	api := httpapi.New(httpapi.Config{Log: testenv.Logger(t)})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	_, r := do(t, srv, http.MethodGet, "/v1/help", "", "")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/help without credentials: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var got []map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	routes := httpapi.Routes()
	if len(got) != len(routes) {
		t.Fatalf("help lists %d routes, Routes() has %d", len(got), len(routes))
	}
	for i, rt := range routes {
		want := map[string]any{"method": rt.Method, "endpoint": rt.Path, "description": rt.Summary}
		if len(got[i]) != len(want) {
			t.Errorf("entry %d has fields %v, want exactly method, endpoint, description", i, got[i])
		}
		for k, v := range want {
			if got[i][k] != v {
				t.Errorf("entry %d (%s): %s = %v, want %v", i, rt.Name, k, got[i][k], v)
			}
		}
	}
}
