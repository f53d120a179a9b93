package outbound_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/outbound"
)

// server counts the requests it receives and answers with h (or 200 "ok").
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestGuardRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, nil)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	cases := []struct{ name, url string }{
		{"loopback literal", srv.URL + "/hooks"},
		{"localhost name", "http://localhost:" + port + "/hooks"},
		{"ipv6 loopback", "http://[::1]:" + port + "/hooks"},
		{"ipv4-mapped loopback", "http://[::ffff:127.0.0.1]:" + port + "/hooks"},
	}
	client := outbound.NewClient(outbound.Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := get(t, client, tc.url)
			if err == nil {
				t.Fatalf("request to %s succeeded with %d", tc.url, resp.StatusCode)
			}
			if !outbound.Guarded(err) {
				t.Errorf("error %v is not reported as guarded", err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the private server received %d requests", n)
	}
}

func TestGuardedOnlyForGuardErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"other error", io.EOF, false},
		{"guard error", outbound.ErrForbiddenAddress, true},
		{"wrapped guard error", &wrapped{outbound.ErrForbiddenAddress}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := outbound.Guarded(tc.err); got != tc.want {
				t.Errorf("Guarded(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "dial: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

func TestAllowPrivate(t *testing.T) {
	t.Parallel()
	srv, hits := server(t, nil)
	resp, err := get(t, outbound.NewClient(outbound.Options{AllowPrivate: true}), srv.URL+"/hooks")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Errorf("got %d %q, want 200 ok", resp.StatusCode, body)
	}
	if hits.Load() != 1 {
		t.Errorf("server received %d requests, want 1", hits.Load())
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	target, targetHits := server(t, nil)
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			location := target.URL + "/elsewhere"
			srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", location)
				w.WriteHeader(code)
			})
			resp, err := get(t, outbound.NewClient(outbound.Options{AllowPrivate: true}), srv.URL+"/hooks")
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != code {
				t.Errorf("status %d, want %d", resp.StatusCode, code)
			}
			if got := resp.Header.Get("Location"); got != location {
				t.Errorf("Location %q, want %q", got, location)
			}
		})
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests", n)
	}
}

// Not parallel: it changes the process environment.
func TestEnvironmentProxyIgnored(t *testing.T) {
	proxy, proxyHits := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	for _, name := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"} {
		t.Setenv(name, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	// The standard library never proxies loopback targets, so a request alone cannot
	// show that the environment is ignored; the transport must have no proxy at all.
	tr, ok := client.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport %T, want *http.Transport", client.Transport)
	}
	if tr.Proxy != nil {
		t.Error("transport has a Proxy function; the environment's proxy could be used")
	}

	target, targetHits := server(t, nil)
	resp, err := get(t, client, target.URL+"/hooks")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200 from the target", resp.StatusCode)
	}
	if targetHits.Load() != 1 || proxyHits.Load() != 0 {
		t.Errorf("target saw %d requests, proxy %d; want 1 and 0", targetHits.Load(), proxyHits.Load())
	}
}

func TestRedirectGuardedClientDoesNotFollow(t *testing.T) {
	t.Parallel()
	// The guarded client must not follow either (it could otherwise be sent to a
	// private address by a public receiver): CheckRedirect stops at the first response.
	client := outbound.NewClient(outbound.Options{})
	if client.CheckRedirect == nil {
		t.Fatal("no CheckRedirect: redirects would be followed")
	}
	req, _ := http.NewRequest(http.MethodGet, "https://receiver.example/", nil)
	if err := client.CheckRedirect(req, []*http.Request{req}); err != http.ErrUseLastResponse {
		t.Errorf("CheckRedirect = %v, want http.ErrUseLastResponse", err)
	}
}
