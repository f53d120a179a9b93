package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// jwksServer serves a JWKS document whose keys tests replace, counting fetches.
type jwksServer struct {
	srv *httptest.Server

	mu   sync.Mutex
	keys []map[string]string
	hits int
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{}
	j.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.hits++
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
	}))
	t.Cleanup(j.srv.Close)
	return j
}

func (j *jwksServer) set(keys ...map[string]string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.keys = keys
}

func (j *jwksServer) fetches() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.hits
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PrivateKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(t *testing.T, kid string, k *ecdsa.PrivateKey) map[string]string {
	b, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(b[1:33]), "y": b64(b[33:])}
}

// sign makes a token with claims, signed by method with key, with kid when set.
func sign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned makes an alg "none" token.
func unsigned(claims jwt.MapClaims) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return b64(h) + "." + b64(c) + "."
}

// jwtTenant creates a tenant whose JWT settings are jwtJSON (with %ISS% replaced by
// a unique issuer) and returns its key and issuer.
func (e *tenv) jwtTenant(name, jwtJSON string) (gancho.Tenant, string, string) {
	e.t.Helper()
	ten, key := e.newTenant(name)
	iss := "https://idp.example/" + ten.ID
	r := e.do("PATCH", "/v1/tenant", key, `{"jwt":`+strings.ReplaceAll(jwtJSON, "%ISS%", iss)+`}`)
	if r.status != 200 {
		e.t.Fatalf("configure jwt: %d %s", r.status, r.body)
	}
	return ten, key, iss
}

func TestJWTHS256(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{AllowInsecure: true})
	secret := []byte("tenant-a-hs256-secret-" + strings.Repeat("a", 20))
	ten, key, iss := e.jwtTenant("JWT A", `{"issuer":"%ISS%","audience":"gancho-api","algorithm":"HS256","secret":"`+string(secret)+`"}`)
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		now := e.clock.Now()
		c := jwt.MapClaims{"iss": iss, "aud": "gancho-api", "sub": "user-1", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"scope": "subscriptions:read subscriptions:write keys:read keys:write openid admin"}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hs := func(extra jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, secret, "", claims(extra)) }

	// Subscriptions of two owners and none, made with the tenant's key.
	mk := func(body string) string {
		r := e.do("POST", "/v1/subscriptions", key, body)
		if r.status != 201 {
			t.Fatalf("create subscription: %d %s", r.status, r.body)
		}
		var s gancho.Subscription
		r.json(t, &s)
		return s.ID
	}
	aliceSub := mk(`{"url":"https://example.com/a","ownerId":"alice"}`)
	bobSub := mk(`{"url":"https://example.com/b","ownerId":"bob"}`)
	noOwnerSub := mk(`{"url":"https://example.com/n"}`)
	list := func(cred string) []string {
		t.Helper()
		r := e.do("GET", "/v1/subscriptions?limit=100", cred, "")
		if r.status != 200 {
			t.Fatalf("list with token: %d %s", r.status, r.body)
		}
		var l struct {
			Data []gancho.Subscription `json:"data"`
		}
		r.json(t, &l)
		var ids []string
		for _, s := range l.Data {
			ids = append(ids, s.ID)
		}
		slices.Sort(ids)
		return ids
	}

	// An owner claim confines the token like an owner-bound key.
	aliceTok := hs(jwt.MapClaims{"owner": "alice"})
	if got := list(aliceTok); !slices.Equal(got, []string{aliceSub}) {
		t.Fatalf("alice's token lists %v, want only %s", got, aliceSub)
	}
	wantProblem(t, e.do("GET", "/v1/subscriptions/"+bobSub, aliceTok, ""), 404, "")
	if r := e.do("GET", "/v1/subscriptions/"+aliceSub, aliceTok, ""); r.status != 200 {
		t.Fatalf("alice's own subscription: %d %s", r.status, r.body)
	}
	r := e.do("POST", "/v1/subscriptions", aliceTok, `{"url":"https://example.com/a2"}`)
	var made gancho.Subscription
	r.json(t, &made)
	if r.status != 201 || made.OwnerID != "alice" || made.TenantID != ten.ID {
		t.Fatalf("subscription made with alice's token: %d %s", r.status, r.body)
	}
	// Without an owner claim it sees the whole tenant.
	want := []string{aliceSub, bobSub, noOwnerSub, made.ID}
	slices.Sort(want)
	if got := list(hs(nil)); !slices.Equal(got, want) {
		t.Fatalf("tenant-wide token lists %v, want %v", got, want)
	}
	// Bearer scheme is case-insensitive, as for keys.
	if r := e.doHeaders("GET", "/v1/tenant", "", map[string]string{"Authorization": "bearer " + hs(nil)}); r.status != 200 {
		t.Fatalf("lower-case bearer: %d %s", r.status, r.body)
	}

	// Scopes come from the claim only; unknown ones (and admin) are ignored.
	wantProblem(t, e.do("POST", "/v1/events", hs(nil), `{"type":"a.b","payload":{}}`), 403, "")
	wantProblem(t, e.do("POST", "/v1/tenants", hs(nil), `{"name":"x"}`), 403, "")
	noScope := hs(jwt.MapClaims{"scope": nil})
	if r := e.do("GET", "/v1/tenant", noScope, ""); r.status != 200 {
		t.Fatalf("GET /v1/tenant with a scope-less token: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("GET", "/v1/subscriptions", noScope, ""), 403, "")
	arrayScope := hs(jwt.MapClaims{"scope": []string{"subscriptions:read"}})
	if r := e.do("GET", "/v1/subscriptions", arrayScope, ""); r.status != 200 {
		t.Fatalf("scope as an array: %d %s", r.status, r.body)
	}

	// A token mints keys within its own scopes and owner.
	r = e.do("POST", "/v1/api-keys", aliceTok, `{"name":"from token","scopes":["subscriptions:read"]}`)
	var k gancho.APIKey
	r.json(t, &k)
	if r.status != 201 || k.OwnerID != "alice" || k.CreatedBy != "jwt:"+iss+"#user-1" {
		t.Fatalf("key minted by a token: %d %s", r.status, r.body)
	}

	// Idempotency keys are per credential: another subject's token with the same
	// key and body makes its own subscription; the same subject's gets a replay.
	idem := func(tok string) (response, gancho.Subscription) {
		r := e.doHeaders("POST", "/v1/subscriptions", `{"url":"https://example.com/idem"}`,
			map[string]string{"Authorization": bearer(tok), "Idempotency-Key": "jwt-idem"})
		if r.status != 201 {
			t.Fatalf("create with an Idempotency-Key: %d %s", r.status, r.body)
		}
		var s gancho.Subscription
		r.json(t, &s)
		return r, s
	}
	first, s1 := idem(aliceTok)
	other, s2 := idem(hs(jwt.MapClaims{"owner": "alice", "sub": "user-2"}))
	if s2.ID == s1.ID || other.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("another subject got user-1's subscription %s (replayed=%q)", s1.ID, other.header.Get("Idempotent-Replayed"))
	}
	if again, s3 := idem(hs(jwt.MapClaims{"owner": "alice"})); s3.ID != s1.ID || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("the same subject's new token: %s replayed=%q, want a replay of %s (%d)", s3.ID, again.header.Get("Idempotent-Replayed"), s1.ID, first.status)
	}
	wantProblem(t, e.do("POST", "/v1/api-keys", aliceTok, `{"name":"x","scopes":["events:write"]}`), 403, "scopes")
	wantProblem(t, e.do("POST", "/v1/api-keys", aliceTok, `{"name":"x","scopes":["subscriptions:read"],"ownerId":"bob"}`), 403, "ownerId")

	// Another tenant's secret cannot sign for this issuer.
	otherSecret := []byte("tenant-b-hs256-secret-" + strings.Repeat("b", 20))
	_, _, issB := e.jwtTenant("JWT B", `{"issuer":"%ISS%","audience":"gancho-api","algorithm":"HS256","secret":"`+string(otherSecret)+`"}`)
	if r := e.do("GET", "/v1/tenant", sign(t, jwt.SigningMethodHS256, otherSecret, "", jwt.MapClaims{"iss": issB, "aud": "gancho-api", "exp": e.clock.Now().Add(time.Minute).Unix()}), ""); r.status != 200 {
		t.Fatalf("B's own token: %d %s", r.status, r.body)
	}

	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	past := e.clock.Now().Add(-time.Hour)
	tests := []struct {
		name  string
		token string
	}{
		{"alg none", unsigned(claims(nil))},
		{"alg none with a signature part", unsigned(claims(nil)) + b64([]byte("sig"))},
		{"RS256 token for an HS256 tenant", sign(t, jwt.SigningMethodRS256, rsaKey, "", claims(nil))},
		{"HS512 token", sign(t, jwt.SigningMethodHS512, secret, "", claims(nil))},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 40)), "", claims(nil))},
		{"signed with B's secret naming A's issuer", sign(t, jwt.SigningMethodHS256, otherSecret, "", claims(nil))},
		{"signed with A's secret naming B's issuer", hs(jwt.MapClaims{"iss": issB})},
		{"HMAC with the public key as secret", sign(t, jwt.SigningMethodHS256, pubPEM, "", claims(nil))},
		{"unknown issuer", hs(jwt.MapClaims{"iss": "https://unknown.example/" + testenv.TenantID()})},
		{"no issuer", hs(jwt.MapClaims{"iss": nil})},
		{"wrong audience", hs(jwt.MapClaims{"aud": "someone-else"})},
		{"audience list without ours", hs(jwt.MapClaims{"aud": []string{"x", "y"}})},
		{"no audience", hs(jwt.MapClaims{"aud": nil})},
		{"expired", hs(jwt.MapClaims{"exp": past.Unix(), "iat": past.Add(-time.Minute).Unix()})},
		{"no exp", hs(jwt.MapClaims{"exp": nil})},
		{"exp not a number", hs(jwt.MapClaims{"exp": "tomorrow"})},
		{"not yet valid", hs(jwt.MapClaims{"nbf": e.clock.Now().Add(time.Hour).Unix()})},
		{"issued in the future", hs(jwt.MapClaims{"iat": e.clock.Now().Add(time.Hour).Unix()})},
		{"owner not a string", hs(jwt.MapClaims{"owner": 42})},
		{"owner with #", hs(jwt.MapClaims{"owner": "a#b"})},
		{"tampered payload", func() string {
			p := strings.Split(hs(nil), ".")
			c, _ := json.Marshal(claims(jwt.MapClaims{"owner": nil, "scope": "tenant:write"}))
			return p[0] + "." + b64(c) + "." + p[2]
		}()},
		{"garbage with two dots", "not.a.token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", "/v1/tenant", tc.token, "")
			wantProblem(t, r, 401, "")
			var p problem
			r.json(t, &p)
			if !strings.HasPrefix(p.Detail, "invalid token") || strings.Contains(p.Detail, string(secret)) || strings.Contains(p.Detail, ten.ID) {
				t.Fatalf("detail = %q", p.Detail)
			}
		})
	}
	// A JWT is a bearer credential only.
	wantProblem(t, e.doHeaders("GET", "/v1/tenant", "", map[string]string{"X-API-Key": hs(nil)}), 401, "")

	// New settings apply to this process's next request.
	tok := hs(nil)
	if r := e.do("PATCH", "/v1/tenant", key, `{"jwt":{"audience":"gancho-api-v2"}}`); r.status != 200 {
		t.Fatalf("change audience: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("GET", "/v1/tenant", tok, ""), 401, "")
	if r := e.do("GET", "/v1/tenant", hs(jwt.MapClaims{"aud": "gancho-api-v2"}), ""); r.status != 200 {
		t.Fatalf("token for the new audience: %d %s", r.status, r.body)
	}
	if r := e.do("PATCH", "/v1/tenant", key, `{"jwt":null}`); r.status != 200 {
		t.Fatalf("clear jwt: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("GET", "/v1/tenant", hs(jwt.MapClaims{"aud": "gancho-api-v2"}), ""), 401, "")
}

func TestJWTRS256WithJWKS(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{AllowInsecure: true})
	j := newJWKSServer(t)
	k1, _ := rsa.GenerateKey(rand.Reader, 2048)
	k2, _ := rsa.GenerateKey(rand.Reader, 2048)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	j.set(rsaJWK("k1", k1), rsaJWK("weak", weak), map[string]string{"kty": "oct", "kid": "sym", "k": b64([]byte("shared"))})
	_, _, iss := e.jwtTenant("RS", `{"issuer":"%ISS%","audience":"gancho","algorithm":"RS256","jwksUrl":"`+j.srv.URL+`/jwks"}`)
	token := func(key any, method jwt.SigningMethod, kid string) string {
		now := e.clock.Now()
		return sign(t, method, key, kid, jwt.MapClaims{"iss": iss, "aud": "gancho", "sub": "svc", "exp": now.Add(5 * time.Minute).Unix(), "scope": "subscriptions:read"})
	}
	ok := func(tok, what string) {
		t.Helper()
		if r := e.do("GET", "/v1/subscriptions", tok, ""); r.status != 200 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
	}
	refused := func(tok, what string) {
		t.Helper()
		r := e.do("GET", "/v1/subscriptions", tok, "")
		if r.status != 401 {
			t.Fatalf("%s: %d %s, want 401", what, r.status, r.body)
		}
	}

	ok(token(k1, jwt.SigningMethodRS256, "k1"), "token of k1")
	ok(token(k1, jwt.SigningMethodRS256, "k1"), "token of k1 again")
	if n := j.fetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1 (cached)", n)
	}
	refused(token(weak, jwt.SigningMethodRS256, "weak"), "a 1024-bit key")
	refused(token([]byte("shared"), jwt.SigningMethodHS256, "sym"), "HS256 token for an RS256 tenant")
	pubDER, _ := x509.MarshalPKIXPublicKey(&k1.PublicKey)
	refused(token(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), jwt.SigningMethodHS256, "k1"), "HMAC with the public key")
	refused(unsigned(jwt.MapClaims{"iss": iss, "aud": "gancho", "exp": e.clock.Now().Add(time.Minute).Unix()}), "alg none")
	refused(token(k2, jwt.SigningMethodRS256, "k1"), "k2 signature under k1's kid")

	// Rotation: the provider now signs with k2 and dropped k1.
	j.set(rsaJWK("k2", k2))
	refused(token(k2, jwt.SigningMethodRS256, "k2"), "unknown kid right after a fetch (at most one refetch a minute)")
	if n := j.fetches(); n != 1 {
		t.Fatalf("JWKS fetched %d times within a minute, want 1", n)
	}
	e.clock.Advance(61 * time.Second)
	ok(token(k2, jwt.SigningMethodRS256, "k2"), "token of the rotated-in key")
	if n := j.fetches(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (one refetch for the new kid)", n)
	}
	refused(token(k1, jwt.SigningMethodRS256, "k1"), "token of the dropped key")
	refused(token(k1, jwt.SigningMethodRS256, "k1"), "token of the dropped key again")
	if n := j.fetches(); n != 2 {
		t.Fatalf("unknown kids refetched the JWKS: %d fetches, want 2", n)
	}
	// Without a kid, the set's only RS256 key is used.
	ok(token(k2, jwt.SigningMethodRS256, ""), "token without kid")
	// After 10 minutes the set is fetched again.
	e.clock.Advance(11 * time.Minute)
	ok(token(k2, jwt.SigningMethodRS256, "k2"), "token after the cache expired")
	if n := j.fetches(); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3 after expiry", n)
	}
	// While the JWKS is unreachable the last keys serve for up to an hour; then
	// tokens are refused with a 401, never a 5xx.
	j.srv.Close()
	e.clock.Advance(11 * time.Minute)
	ok(token(k2, jwt.SigningMethodRS256, "k2"), "token while the JWKS is down")
	e.clock.Advance(61 * time.Minute)
	r := e.do("GET", "/v1/subscriptions", token(k2, jwt.SigningMethodRS256, "k2"), "")
	wantProblem(t, r, 401, "")
	var p problem
	r.json(t, &p)
	if !strings.Contains(p.Detail, "JWKS") || strings.Contains(p.Detail, j.srv.URL) {
		t.Fatalf("detail with the JWKS down = %q", p.Detail)
	}
}

func TestJWTES256(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{AllowInsecure: true})
	j := newJWKSServer(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	j.set(ecJWK(t, "ec1", key))
	_, _, iss := e.jwtTenant("ES", `{"issuer":"%ISS%","audience":"gancho","algorithm":"ES256","jwksUrl":"`+j.srv.URL+`/jwks"}`)
	claims := jwt.MapClaims{"iss": iss, "aud": "gancho", "exp": e.clock.Now().Add(time.Minute).Unix(), "scope": "subscriptions:read", "owner": "office-42"}
	if r := e.do("GET", "/v1/subscriptions", sign(t, jwt.SigningMethodES256, key, "ec1", claims), ""); r.status != 200 {
		t.Fatalf("ES256 token: %d %s", r.status, r.body)
	}
	for name, tok := range map[string]string{
		"another key":  sign(t, jwt.SigningMethodES256, other, "ec1", claims),
		"ES384 token":  sign(t, jwt.SigningMethodES384, p384, "ec1", claims),
		"RS256 token":  sign(t, jwt.SigningMethodRS256, mustRSA(t), "ec1", claims),
		"unknown kid":  sign(t, jwt.SigningMethodES256, key, "ec2", claims),
		"alg none":     unsigned(claims),
		"HS256 with x": sign(t, jwt.SigningMethodHS256, []byte(ecJWK(t, "ec1", key)["x"]), "ec1", claims),
	} {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, e.do("GET", "/v1/subscriptions", tok, ""), 401, "")
		})
	}
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
