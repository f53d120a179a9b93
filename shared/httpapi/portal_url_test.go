package httpapi

import (
	"net/http/httptest"
	"testing"
)

// A link points at the tenant's publicBaseUrl when it has one (the address its
// customers reach), else at the host the request came to; the token is always in the
// fragment.
func TestPortalURL(t *testing.T) {
	tests := []struct {
		name, base, proto, want string
	}{
		{"request host", "", "", "http://api.test/portal#token=gk_1&provider=Acme+Inc"},
		{"forwarded https", "", "https", "https://api.test/portal#token=gk_1&provider=Acme+Inc"},
		{"public base URL", "https://hooks.acme.example/v", "", "https://hooks.acme.example/v/portal#token=gk_1&provider=Acme+Inc"},
		{"public base URL with a slash", "https://hooks.acme.example/", "http", "https://hooks.acme.example/portal#token=gk_1&provider=Acme+Inc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "http://api.test/v1/portal-links", nil)
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
			if got := portalURL(r, tc.base, "gk_1", "Acme Inc"); got != tc.want {
				t.Fatalf("portalURL = %q, want %q", got, tc.want)
			}
		})
	}
}
