package deliver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
)

// tokenServer issues "tok-1", "tok-2", ... and records the requests it got.
type tokenServer struct {
	issued    atomic.Int32
	expiresIn any
	status    int
	mu        sync.Mutex
	bodies    []string
	types     []string
}

func (s *tokenServer) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.bodies = append(s.bodies, string(b))
		s.types = append(s.types, r.Header.Get("Content-Type"))
		s.mu.Unlock()
		if s.status != 0 {
			w.WriteHeader(s.status)
			return
		}
		n := s.issued.Add(1)
		resp := map[string]any{"data": map[string]any{"access_token": "tok-" + string(rune('0'+n))}}
		if s.expiresIn != nil {
			resp["expires_in"] = s.expiresIn
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// tokenReceiver accepts only the token named by valid() and records the header.
func tokenReceiver(t *testing.T, valid func(string) bool, seen *[]string) string {
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*seen = append(*seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if !valid(r.Header.Get("Authorization")) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func tokenRequest(url, tokenURL, encoding string, tokens *Tokens) request {
	return request{
		delivery: gancho.Delivery{ID: "dlv_1"},
		event:    gancho.Event{ID: "evt_1", Type: "doc.done", Payload: []byte(`{}`)},
		attempt:  1,
		tokens:   tokens,
		sub: gancho.Subscription{
			URL: url, Method: "POST", Format: "envelope", TimeoutSeconds: 5, Secret: gancho.NewSecret(),
			Auth: gancho.Auth{Type: gancho.AuthToken, URL: tokenURL, Method: "POST", BodyEncoding: encoding,
				Body: map[string]string{"username": "root", "password": "pw"}, TokenField: "data.access_token",
				ExpiresInField: "expires_in", Header: "Authorization", Scheme: "Bearer"},
		},
	}
}

func TestTokenAuthCachesUntilExpiry(t *testing.T) {
	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	ts := &tokenServer{expiresIn: 120}
	tokenURL := ts.start(t)
	var seen []string
	url := tokenReceiver(t, func(h string) bool { return strings.HasPrefix(h, "Bearer tok-") }, &seen)
	now := time.Now()
	clock := func() time.Time { return now }
	tokens := NewTokens(client, clock)
	r := tokenRequest(url, tokenURL, "form", tokens)

	for i := 0; i < 3; i++ {
		if a := send(context.Background(), client, r, now); a.Outcome != gancho.OutcomeSuccess {
			t.Fatalf("send %d: %+v", i, a)
		}
	}
	if ts.issued.Load() != 1 {
		t.Fatalf("token fetched %d times for 3 sends, want 1 (cached)", ts.issued.Load())
	}
	if ts.types[0] != "application/x-www-form-urlencoded" || !strings.Contains(ts.bodies[0], "password=pw") {
		t.Fatalf("form body %q (%s)", ts.bodies[0], ts.types[0])
	}
	now = now.Add(2 * time.Minute) // past expires_in
	send(context.Background(), client, r, now)
	if ts.issued.Load() != 2 || seen[len(seen)-1] != "Bearer tok-2" {
		t.Fatalf("after expiry: issued %d, last header %q", ts.issued.Load(), seen[len(seen)-1])
	}
}

func TestTokenAuthRefetchesOnceOn401(t *testing.T) {
	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	ts := &tokenServer{} // no expires_in: cached for the default 5 minutes
	tokenURL := ts.start(t)
	var seen []string
	// The receiver has revoked tok-1 before its expiry.
	url := tokenReceiver(t, func(h string) bool { return h == "Bearer tok-2" }, &seen)
	tokens := NewTokens(client, time.Now)
	r := tokenRequest(url, tokenURL, "json", tokens)
	a := send(context.Background(), client, r, time.Now())
	if a.Outcome != gancho.OutcomeSuccess || a.StatusCode != 200 {
		t.Fatalf("attempt = %+v", a)
	}
	if strings.Join(seen, ",") != "Bearer tok-1,Bearer tok-2" {
		t.Fatalf("receiver saw %v", seen)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(ts.bodies[0]), &body); err != nil || body["username"] != "root" || ts.types[0] != "application/json" {
		t.Fatalf("json body %q (%s)", ts.bodies[0], ts.types[0])
	}
	// A receiver that refuses every token: one refetch, then the 401 is the outcome.
	seen = nil
	url2 := tokenReceiver(t, func(string) bool { return false }, &seen)
	a = send(context.Background(), client, tokenRequest(url2, tokenURL, "json", tokens), time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.StatusCode != 401 || len(seen) != 2 {
		t.Fatalf("always 401: %+v after %d calls", a, len(seen))
	}
}

func TestTokenEndpointFailureFailsTheAttempt(t *testing.T) {
	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	var seen []string
	url := tokenReceiver(t, func(string) bool { return true }, &seen)
	ts := &tokenServer{status: http.StatusInternalServerError}
	a := send(context.Background(), client, tokenRequest(url, ts.start(t), "json", NewTokens(client, time.Now)), time.Now())
	if a.Outcome != gancho.OutcomeFailure || !strings.Contains(a.Error, "token endpoint") || !strings.Contains(a.Error, "500") {
		t.Fatalf("attempt = %+v", a)
	}
	if len(seen) != 0 {
		t.Fatal("the webhook was sent without a token")
	}
	missing := &tokenServer{}
	missingURL := missing.start(t)
	r := tokenRequest(url, missingURL, "json", NewTokens(client, time.Now))
	r.sub.Auth.TokenField = "token"
	if a := send(context.Background(), client, r, time.Now()); !strings.Contains(a.Error, `no string field "token"`) {
		t.Fatalf("missing field: %+v", a)
	}
}

func TestStaticAuthHeader(t *testing.T) {
	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	var seen []string
	url := tokenReceiver(t, func(h string) bool { return h == "Bearer fixed" }, &seen)
	r := tokenRequest(url, "", "", nil)
	r.sub.Auth = gancho.Auth{Type: gancho.AuthStatic, Header: "Authorization", Value: "Bearer fixed"}
	r.sub.Headers = map[string]string{"Authorization": "overridden by auth"}
	if a := send(context.Background(), client, r, time.Now()); a.Outcome != gancho.OutcomeSuccess {
		t.Fatalf("static auth: %+v (saw %v)", a, seen)
	}
}

// A cold consumer that gets a burst of deliveries for one token subscription asks
// the customer's login endpoint once, not once per delivery.
func TestConcurrentDeliveriesShareOneTokenRequest(t *testing.T) {
	const n = 10
	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	var arrived atomic.Int32
	tokens := NewTokens(client, time.Now)
	var r request
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived.Add(1)
		// Answer once every delivery asks: either all n came here, or they wait for this one.
		waitUntil(t, func() bool { return arrived.Load() == n || tokens.cache.Waiters(cacheKey(r.sub.Auth)) == n })
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"access_token": "tok"}, "expires_in": 300})
	}))
	t.Cleanup(login.Close)
	var seen []string
	url := tokenReceiver(t, func(h string) bool { return h == "Bearer tok" }, &seen)
	r = tokenRequest(url, login.URL, "json", tokens)

	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a := send(context.Background(), client, r, time.Now()); a.Outcome != gancho.OutcomeSuccess {
				t.Errorf("attempt = %+v", a)
			}
		}()
	}
	wg.Wait()
	if got := arrived.Load(); got != 1 {
		t.Fatalf("%d token requests for %d concurrent deliveries, want 1", got, n)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("condition not met in 5 s")
			return
		}
	}
}
