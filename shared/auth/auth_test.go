package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// fakeKeys is a KeyStore in memory that counts lookups.
type fakeKeys struct {
	mu      sync.Mutex
	keys    map[string]gancho.APIKey
	lookups int
	before  func() // if set, runs (unlocked) before each lookup
}

func (f *fakeKeys) LookupAPIKey(_ context.Context, hash string) (gancho.APIKey, error) {
	if f.before != nil {
		f.before()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	k, ok := f.keys[hash]
	if !ok {
		return k, gancho.ErrNotFound
	}
	return k, nil
}

func (f *fakeKeys) remove(hash string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, hash)
}

// fakeIssuers is an IssuerStore in memory.
type fakeIssuers struct {
	mu      sync.Mutex
	tenants map[string]gancho.Tenant
	lookups int
	err     error
}

func (f *fakeIssuers) TenantByIssuer(_ context.Context, iss string) (gancho.Tenant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return gancho.Tenant{}, f.err
	}
	t, ok := f.tenants[iss]
	if !ok {
		return t, gancho.ErrNotFound
	}
	return t, nil
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const adminKey = "gk_admin_operator-secret-value"

func newTestAuth(t *testing.T) (*Authenticator, *fakeKeys, *fakeIssuers, *fakeClock, string) {
	t.Helper()
	raw := NewAPIKey()
	keys := &fakeKeys{keys: map[string]gancho.APIKey{
		HashKey(raw): {ID: "key_1", TenantID: "ten_a", Scopes: []string{gancho.ScopeKeysRead}, OwnerID: "alice"},
	}}
	issuers := &fakeIssuers{tenants: map[string]gancho.Tenant{}}
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	a := New(Config{Keys: keys, Issuers: issuers, AdminKeyHash: strings.ToUpper(HashKey(adminKey)), Now: clock.Now})
	return a, keys, issuers, clock, raw
}

func request(headers ...string) *http.Request {
	r := httptest.NewRequest("GET", "/v1/tenant", nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return r
}

func TestAuthenticateCredentials(t *testing.T) {
	a, _, _, _, raw := newTestAuth(t)
	tenantKey := gancho.Principal{TenantID: "ten_a", KeyID: "key_1", Scopes: []string{gancho.ScopeKeysRead}, OwnerID: "alice"}
	admin := gancho.Principal{KeyID: AdminKeyID, Scopes: []string{ScopeAdmin}}
	tests := []struct {
		name    string
		headers []string
		want    gancho.Principal
		fails   bool
	}{
		{"X-API-Key", []string{"X-API-Key", raw}, tenantKey, false},
		{"bearer", []string{"Authorization", "Bearer " + raw}, tenantKey, false},
		{"lower-case bearer", []string{"Authorization", "bearer " + raw}, tenantKey, false},
		{"X-API-Key wins", []string{"X-API-Key", raw, "Authorization", "Bearer gk_other"}, tenantKey, false},
		{"admin bearer", []string{"Authorization", "Bearer " + adminKey}, admin, false},
		{"admin X-API-Key", []string{"X-API-Key", adminKey}, admin, false},
		{"nothing", nil, gancho.Principal{}, true},
		{"basic", []string{"Authorization", "Basic " + raw}, gancho.Principal{}, true},
		{"empty bearer", []string{"Authorization", "Bearer  "}, gancho.Principal{}, true},
		{"unknown key", []string{"X-API-Key", "gk_nope"}, gancho.Principal{}, true},
		{"admin key with a suffix", []string{"X-API-Key", adminKey + "x"}, gancho.Principal{}, true},
		{"JWT of no issuer", []string{"Authorization", "Bearer a.b.c"}, gancho.Principal{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Authenticate(request(tc.headers...))
			if tc.fails {
				if gancho.KindOf(err) != gancho.KindUnauthorized {
					t.Fatalf("err = %v, want unauthorized", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.TenantID != tc.want.TenantID || p.KeyID != tc.want.KeyID || p.OwnerID != tc.want.OwnerID || !slices.Equal(p.Scopes, tc.want.Scopes) {
				t.Fatalf("principal = %+v, want %+v", p, tc.want)
			}
		})
	}
}

func TestNoAdminKeyConfigured(t *testing.T) {
	a := New(Config{Keys: &fakeKeys{keys: map[string]gancho.APIKey{}}})
	// The hash of the empty string must not become an admin key either.
	for _, cred := range []string{adminKey, " "} {
		if _, err := a.Authenticate(request("X-API-Key", cred)); gancho.KindOf(err) != gancho.KindUnauthorized {
			t.Errorf("credential %q: %v", cred, err)
		}
	}
}

func TestAuthorize(t *testing.T) {
	admin := gancho.Principal{KeyID: AdminKeyID, Scopes: []string{ScopeAdmin}}
	full := gancho.Principal{TenantID: "t", Scopes: gancho.AllTenantScopes}
	reader := gancho.Principal{TenantID: "t", Scopes: []string{gancho.ScopeSubscriptionsRead}}
	// Tenant credentials never hold admin (keys refuse it, tokens drop it); were one
	// to, it would still not pass as the operator.
	smuggled := gancho.Principal{TenantID: "t", Scopes: []string{ScopeAdmin}}
	tests := []struct {
		name  string
		p     gancho.Principal
		scope string
		ok    bool
	}{
		{"admin on admin route", admin, ScopeAdmin, true},
		{"admin on any-credential route", admin, ScopeAuthenticated, false},
		{"admin on tenant route", admin, gancho.ScopeSubscriptionsRead, false},
		{"tenant on admin route", full, ScopeAdmin, false},
		{"tenant on any-credential route", reader, ScopeAuthenticated, true},
		{"scope held", reader, gancho.ScopeSubscriptionsRead, true},
		{"scope missing", reader, gancho.ScopeSubscriptionsWrite, false},
		{"tenant principal holding admin", smuggled, ScopeAdmin, false},
		{"open route", gancho.Principal{}, ScopeNone, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Authorize(tc.p, tc.scope)
			if tc.ok != (err == nil) {
				t.Fatalf("Authorize = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && gancho.KindOf(err) != gancho.KindForbidden {
				t.Fatalf("kind = %v, want forbidden", gancho.KindOf(err))
			}
		})
	}
}

func TestKeyCacheAndRevocation(t *testing.T) {
	a, keys, _, clock, raw := newTestAuth(t)
	req := func() error {
		_, err := a.Authenticate(request("X-API-Key", raw))
		return err
	}
	if err := req(); err != nil {
		t.Fatal(err)
	}
	if err := req(); err != nil || keys.lookups != 1 {
		t.Fatalf("second request: %v, %d lookups (want 1: cached)", err, keys.lookups)
	}
	// Revoked elsewhere: this process honours it within KeyCacheTTL.
	keys.remove(HashKey(raw))
	if err := req(); err != nil {
		t.Fatalf("within the cache lifetime: %v", err)
	}
	clock.Advance(KeyCacheTTL + time.Second)
	if err := req(); gancho.KindOf(err) != gancho.KindUnauthorized {
		t.Fatalf("after the cache lifetime: %v", err)
	}
	// Unknown keys are remembered briefly.
	n := keys.lookups
	_, _ = a.Authenticate(request("X-API-Key", "gk_unknown"))
	_, _ = a.Authenticate(request("X-API-Key", "gk_unknown"))
	if keys.lookups != n+1 {
		t.Fatalf("unknown key looked up %d times, want 1", keys.lookups-n)
	}
}

// A cold route Lambda that gets a burst of requests with one key looks it up once.
func TestConcurrentRequestsShareOneKeyLookup(t *testing.T) {
	const n = 10
	a, keys, _, _, raw := newTestAuth(t)
	var arrived atomic.Int32
	keys.before = func() {
		arrived.Add(1)
		waitUntil(t, func() bool { return arrived.Load() == n || a.keyCache.Waiters(HashKey(raw)) == n })
	}
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Authenticate(request("X-API-Key", raw)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if keys.lookups != 1 {
		t.Fatalf("%d key lookups for %d concurrent requests, want 1", keys.lookups, n)
	}
}

func TestRevokedInThisProcess(t *testing.T) {
	a, keys, _, clock, raw := newTestAuth(t)
	if _, err := a.Authenticate(request("X-API-Key", raw)); err != nil {
		t.Fatal(err)
	}
	// The store marks the key revoked; this process drops its cached copy, so its
	// next request here reads the revocation (other processes within KeyCacheTTL).
	keys.mu.Lock()
	k := keys.keys[HashKey(raw)]
	k.Revoked = true
	keys.keys[HashKey(raw)] = k
	keys.mu.Unlock()
	a.Revoked("ten_a", "key_1")
	for _, d := range []time.Duration{0, KeyCacheTTL / 2, KeyCacheTTL + time.Second} {
		clock.Advance(d)
		if _, err := a.Authenticate(request("X-API-Key", raw)); gancho.KindOf(err) != gancho.KindUnauthorized {
			t.Fatalf("%v after revocation: %v", d, err)
		}
	}
	// Another tenant's key with the same id is unaffected.
	other := NewAPIKey()
	a.keys.(*fakeKeys).keys[HashKey(other)] = gancho.APIKey{ID: "key_1", TenantID: "ten_b", Scopes: []string{gancho.ScopeKeysRead}}
	if _, err := a.Authenticate(request("X-API-Key", other)); err != nil {
		t.Fatalf("same id in another tenant: %v", err)
	}
}

func TestJWTIssuerCache(t *testing.T) {
	a, _, issuers, clock, _ := newTestAuth(t)
	secret := strings.Repeat("s", 32)
	issuers.tenants["https://idp"] = gancho.Tenant{ID: "ten_a", JWT: &gancho.JWTSettings{Issuer: "https://idp", Audience: "aud", Algorithm: gancho.AlgHS256, Secret: secret}}
	tok := func() string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://idp", "aud": "aud", "sub": "u",
			"exp": clock.Now().Add(time.Minute).Unix(), "scope": "keys:read bogus keys:read", "owner": "o"}).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	p, err := a.Authenticate(request("Authorization", "Bearer "+tok()))
	if err != nil {
		t.Fatal(err)
	}
	if p.TenantID != "ten_a" || p.KeyID != "jwt:https://idp#u" || p.OwnerID != "o" || !slices.Equal(p.Scopes, []string{gancho.ScopeKeysRead}) {
		t.Fatalf("principal = %+v", p)
	}
	_, _ = a.Authenticate(request("Authorization", "Bearer "+tok()))
	if issuers.lookups != 1 {
		t.Fatalf("%d issuer lookups, want 1 (cached)", issuers.lookups)
	}
	// A change elsewhere shows within KeyCacheTTL; TenantChanged applies it at once.
	issuers.mu.Lock()
	delete(issuers.tenants, "https://idp")
	issuers.mu.Unlock()
	if _, err := a.Authenticate(request("Authorization", "Bearer "+tok())); err != nil {
		t.Fatalf("cached issuer: %v", err)
	}
	a.TenantChanged("https://idp")
	if _, err := a.Authenticate(request("Authorization", "Bearer "+tok())); gancho.KindOf(err) != gancho.KindUnauthorized {
		t.Fatalf("after TenantChanged: %v", err)
	}
	// Store failures are internal errors, not a 401 that hides an outage.
	issuers.mu.Lock()
	issuers.err = errors.New("table unavailable")
	issuers.mu.Unlock()
	clock.Advance(time.Minute)
	if _, err := a.Authenticate(request("Authorization", "Bearer "+tok())); gancho.KindOf(err) != gancho.KindInternal {
		t.Fatalf("store failure: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecBytes, _ := ec.PublicKey.Bytes()
	rsaJWK := func(kid string, k *rsa.PrivateKey, extra map[string]string) map[string]string {
		m := map[string]string{"kty": "RSA", "kid": kid, "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
		for a, v := range extra {
			m[a] = v
		}
		return m
	}
	doc := map[string]any{"keys": []any{
		rsaJWK("good-rsa", rsa2048, nil),
		rsaJWK("weak-rsa", rsa1024, nil),
		rsaJWK("enc-rsa", rsa2048, map[string]string{"use": "enc"}),
		rsaJWK("ps-rsa", rsa2048, map[string]string{"alg": "PS256"}),
		map[string]string{"kty": "EC", "kid": "good-ec", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
		map[string]string{"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[1:33])},
		map[string]string{"kty": "EC", "kid": "p384", "crv": "P-384", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
		map[string]string{"kty": "oct", "kid": "sym", "k": b64([]byte("secret"))},
		"not an object",
	}}
	body, _ := json.Marshal(doc)
	keys, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.kid+"/"+k.alg)
	}
	if want := []string{"good-rsa/RS256", "good-ec/ES256"}; !slices.Equal(kids, want) {
		t.Fatalf("kept %v, want %v", kids, want)
	}
	if _, err := parseJWKS([]byte("not json")); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"status 500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }},
		{"too large", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", maxJWKSBytes) + `"}`))
		}},
		{"not json", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			clock := &fakeClock{now: time.Now()}
			c := newJWKSCache(srv.Client(), clock.Now)
			c.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			// The same failure is reported until a retry (not before jwksRetry) succeeds.
			for _, wait := range []time.Duration{0, time.Second, jwksRetry} {
				clock.Advance(wait)
				_, err := c.key(context.Background(), srv.URL, gancho.AlgRS256, "k1")
				if !errors.Is(err, errJWKSFailure) {
					t.Fatalf("after %v: err = %v, want a JWKS failure", wait, err)
				}
			}
		})
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

// A key with an expiry (a portal link's) stops authenticating at expiresAt, even while
// it is cached, with a problem that says it expired; its principal carries Portal.
func TestExpiringKeyRefusedWhenCached(t *testing.T) {
	a, keys, _, clock, _ := newTestAuth(t)
	raw := NewAPIKey()
	expires := clock.Now().Add(30 * time.Second) // within KeyCacheTTL
	keys.mu.Lock()
	keys.keys[HashKey(raw)] = gancho.APIKey{ID: "key_p", TenantID: "ten_a", OwnerID: "alice",
		Scopes: []string{gancho.ScopeSubscriptionsRead}, ExpiresAt: &expires, Portal: true}
	keys.mu.Unlock()
	for _, tc := range []struct {
		name    string
		advance time.Duration
		wantErr bool
	}{
		{"fresh", 0, false},
		{"cached, before expiry", 29 * time.Second, false},
		{"cached, at expiry", time.Second, true},
	} {
		clock.Advance(tc.advance)
		p, err := a.Authenticate(request("Authorization", "Bearer "+raw))
		switch {
		case tc.wantErr && (gancho.KindOf(err) != gancho.KindUnauthorized || !strings.Contains(err.Error(), "expired")):
			t.Errorf("%s: %v, want 401 saying it expired", tc.name, err)
		case !tc.wantErr && (err != nil || !p.Portal || p.OwnerID != "alice"):
			t.Errorf("%s: %+v, %v, want the portal principal of alice", tc.name, p, err)
		}
	}
	if keys.lookups != 1 {
		t.Errorf("%d lookups, want 1: the expiry applies to the cached key", keys.lookups)
	}
	clock.Advance(time.Hour)
	if _, err := a.Authenticate(request("X-API-Key", raw)); gancho.KindOf(err) != gancho.KindUnauthorized {
		t.Errorf("read again after expiry: %v, want 401", err)
	}
}
