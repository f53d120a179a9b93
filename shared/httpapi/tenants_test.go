package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// testClock is the API's clock in these tests: real time plus an offset tests move.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// tenv is an API server on the test backend configured with an admin key, a clock and
// an outbound client that may reach loopback (for JWKS served by httptest).
type tenv struct {
	t     *testing.T
	srv   *httptest.Server
	store testStore
	clock *testClock
	admin string
}

func newTenv(t *testing.T, policy gancho.TargetPolicy) *tenv {
	t.Helper()
	b := newBackend(t)
	admin := "gk_admin_" + auth.NewAPIKey()[3:]
	clock := &testClock{}
	api := b.api(t, httpapi.Config{
		Publisher:    b.publisher(clock.Now),
		Policy:       policy,
		AdminKeyHash: auth.HashKey(admin),
		HTTPClient:   outbound.NewClient(outbound.Options{AllowPrivate: true}),
		Now:          clock.Now,
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &tenv{t: t, srv: srv, store: b.store, clock: clock, admin: admin}
}

// do sends a request with cred as a bearer credential (none when empty) and body
// as JSON (none when empty).
func (e *tenv) do(method, path, cred, body string) response {
	e.t.Helper()
	return e.doHeaders(method, path, body, map[string]string{"Authorization": bearer(cred)})
}

func bearer(cred string) string {
	if cred == "" {
		return ""
	}
	return "Bearer " + cred
}

func (e *tenv) doHeaders(method, path, body string, headers map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

// createdTenant is the body of POST /v1/tenants.
type createdTenant struct {
	Tenant gancho.Tenant `json:"tenant"`
	APIKey struct {
		gancho.APIKey
		Key string `json:"key"`
	} `json:"apiKey"`
}

// newTenant creates a tenant through the admin route and returns it with its key.
func (e *tenv) newTenant(name string) (gancho.Tenant, string) {
	e.t.Helper()
	r := e.do("POST", "/v1/tenants", e.admin, `{"name":"`+name+`"}`)
	if r.status != 201 {
		e.t.Fatalf("create tenant: %d %s", r.status, r.body)
	}
	var c createdTenant
	r.json(e.t, &c)
	return c.Tenant, c.APIKey.Key
}

// mintKey creates an API key with cred and returns its value and id.
func (e *tenv) mintKey(cred, body string) (string, gancho.APIKey) {
	e.t.Helper()
	r := e.do("POST", "/v1/api-keys", cred, body)
	if r.status != 201 {
		e.t.Fatalf("create key %s: %d %s", body, r.status, r.body)
	}
	var k struct {
		gancho.APIKey
		Key string `json:"key"`
	}
	r.json(e.t, &k)
	return k.Key, k.APIKey
}

func (e *tenv) getTenant(cred string) response {
	e.t.Helper()
	r := e.do("GET", "/v1/tenant", cred, "")
	if r.status != 200 {
		e.t.Fatalf("get tenant: %d %s", r.status, r.body)
	}
	return r
}

func TestCreateTenantByAdmin(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	_, existing := e.newTenant("Existing")
	body := `{"name":"JuriChat"}`
	t.Run("refused", func(t *testing.T) {
		wantProblem(t, e.do("POST", "/v1/tenants", "", body), 401, "")
		wantProblem(t, e.do("POST", "/v1/tenants", "gk_unknown", body), 401, "")
		wantProblem(t, e.do("POST", "/v1/tenants", existing, body), 403, "")
	})

	r := e.do("POST", "/v1/tenants", e.admin, body)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var c createdTenant
	r.json(t, &c)
	if loc := r.header.Get("Location"); loc != "/v1/tenant" {
		t.Errorf("Location = %q", loc)
	}
	if !strings.HasPrefix(c.Tenant.ID, "ten_") || c.Tenant.Name != "JuriChat" || !c.Tenant.AllowedEventTypesOnly || c.Tenant.CreatedAt.IsZero() {
		t.Errorf("tenant = %+v", c.Tenant)
	}
	if !strings.HasPrefix(c.Tenant.Secret, "****") || len(c.Tenant.Secret) != 8 {
		t.Errorf("the create response shows the tenant secret as %q, want it masked", c.Tenant.Secret)
	}
	k := c.APIKey
	if !strings.HasPrefix(k.Key, "gk_") || !strings.HasPrefix(k.ID, "key_") || k.TenantID != c.Tenant.ID ||
		!slices.Equal(k.Scopes, gancho.AllTenantScopes) || k.OwnerID != "" || k.MaskedKey != "****"+k.Key[len(k.Key)-4:] {
		t.Errorf("first key = %+v", k)
	}
	stored, err := e.store.GetTenant(context.Background(), c.Tenant.ID)
	if err != nil || !strings.HasPrefix(stored.Secret, "whsec_") || c.Tenant.Secret != gancho.Mask(stored.Secret) {
		t.Fatalf("stored tenant %+v, %v", stored, err)
	}

	// The key works at once, with every tenant scope; the admin key is refused on tenant routes.
	var got gancho.Tenant
	e.getTenant(k.Key).json(t, &got)
	if got.ID != c.Tenant.ID {
		t.Fatalf("GET /v1/tenant with the new key = %+v", got)
	}
	if r := e.do("GET", "/v1/subscriptions", k.Key, ""); r.status != 200 {
		t.Fatalf("list subscriptions with the new key: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("GET", "/v1/tenant", e.admin, ""), 403, "")
	wantProblem(t, e.do("GET", "/v1/subscriptions", e.admin, ""), 403, "")
	wantProblem(t, e.do("POST", "/v1/api-keys", e.admin, `{"name":"x","scopes":["keys:read"]}`), 403, "")
	if r := e.doHeaders("POST", "/v1/tenants", `{"name":"Via X-API-Key"}`, map[string]string{"X-API-Key": e.admin}); r.status != 201 {
		t.Fatalf("admin key in X-API-Key: %d %s", r.status, r.body)
	}

	// A chosen id, once.
	id := "jurichat-" + strings.ToLower(testenv.TenantID()[4:])
	if r := e.do("POST", "/v1/tenants", e.admin, `{"name":"Chosen","id":"`+id+`"}`); r.status != 201 {
		t.Fatalf("create with id: %d %s", r.status, r.body)
	} else {
		var c createdTenant
		r.json(t, &c)
		if c.Tenant.ID != id {
			t.Fatalf("id = %q, want %q", c.Tenant.ID, id)
		}
	}
	wantProblem(t, e.do("POST", "/v1/tenants", e.admin, `{"name":"Again","id":"`+id+`"}`), 409, "id")

	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"missing name", `{}`, 422, "name"},
		{"long name", `{"name":"` + strings.Repeat("n", 101) + `"}`, 422, "name"},
		{"bad id", `{"name":"x","id":"a#b"}`, 422, "id"},
		{"unknown field", `{"name":"x","plan":"gold"}`, 422, "plan"},
		{"name not a string", `{"name":5}`, 422, "name"},
		{"malformed", `{"name":`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.do("POST", "/v1/tenants", e.admin, tc.body), tc.status, tc.field)
		})
	}
}

func TestAdminRoutesOffWithoutAdminKey(t *testing.T) {
	b := newBackend(t)
	api := b.api(t, httpapi.Config{})
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	for _, cred := range []string{"", "anything"} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/tenants", strings.NewReader(`{"name":"x"}`))
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("credential %q: status %d, want 401", cred, resp.StatusCode)
		}
	}
}

func TestTenantSettingsValidation(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	_, key := e.newTenant("Validation")
	setup := `{"signatureHeader":"X-JuriChat-Signature","publicBaseUrl":"https://hooks.jurichat.example","jwt":{"issuer":"https://idp.example/` +
		testenv.TenantID() + `","audience":"gancho","algorithm":"HS256","secret":"` + strings.Repeat("s", 40) + `"}}`
	if r := e.do("PATCH", "/v1/tenant", key, setup); r.status != 200 {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	before := e.getTenant(key).body
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"blank name", `{"name":"  "}`, 422, "name"},
		{"long name", `{"name":"` + strings.Repeat("n", 101) + `"}`, 422, "name"},
		{"clear name", `{"name":null}`, 422, "name"},
		{"header with space", `{"signatureHeader":"X Sig"}`, 422, "signatureHeader"},
		{"header Host", `{"signatureHeader":"Host"}`, 422, "signatureHeader"},
		{"header Content-Length", `{"signatureHeader":"content-length"}`, 422, "signatureHeader"},
		{"header Transfer-Encoding", `{"signatureHeader":"Transfer-Encoding"}`, 422, "signatureHeader"},
		{"header Connection", `{"signatureHeader":"Connection"}`, 422, "signatureHeader"},
		{"header User-Agent", `{"signatureHeader":"User-Agent"}`, 422, "signatureHeader"},
		{"header webhook-*", `{"signatureHeader":"webhook-signature"}`, 422, "signatureHeader"},
		{"header X-Gancho-*", `{"signatureHeader":"X-Gancho-Signature"}`, 422, "signatureHeader"},
		{"header not a string", `{"signatureHeader":7}`, 422, "signatureHeader"},
		{"relative base url", `{"publicBaseUrl":"/hooks"}`, 422, "publicBaseUrl"},
		{"base url with query", `{"publicBaseUrl":"https://x.example/?a=1"}`, 422, "publicBaseUrl"},
		{"ftp base url", `{"publicBaseUrl":"ftp://x.example"}`, 422, "publicBaseUrl"},
		{"jwt without issuer", `{"jwt":{"issuer":null}}`, 422, "jwt.issuer"},
		{"jwt without audience", `{"jwt":{"audience":""}}`, 422, "jwt.audience"},
		{"jwt alg none", `{"jwt":{"algorithm":"none"}}`, 422, "jwt.algorithm"},
		{"jwt alg HS512", `{"jwt":{"algorithm":"HS512"}}`, 422, "jwt.algorithm"},
		{"jwt short secret", `{"jwt":{"secret":"` + strings.Repeat("s", 31) + `"}}`, 422, "jwt.secret"},
		{"jwt cleared secret", `{"jwt":{"secret":null}}`, 422, "jwt.secret"},
		{"jwt RS256 without url", `{"jwt":{"algorithm":"RS256"}}`, 422, "jwt.jwksUrl"},
		{"jwt RS256 over http", `{"jwt":{"algorithm":"RS256","jwksUrl":"http://idp.example/jwks"}}`, 422, "jwt.jwksUrl"},
		{"jwt RS256 to loopback", `{"jwt":{"algorithm":"ES256","jwksUrl":"https://127.0.0.1/jwks"}}`, 422, "jwt.jwksUrl"},
		{"jwt unknown member", `{"jwt":{"kid":"k1"}}`, 422, "jwt.kid"},
		{"jwt not an object", `{"jwt":[]}`, 422, "jwt"},
		{"flag not a bool", `{"allowedEventTypesOnly":"no"}`, 422, "allowedEventTypesOnly"},
		{"read-only id", `{"id":"other"}`, 422, "id"},
		{"read-only secret", `{"secret":"whsec_x"}`, 422, "secret"},
		{"unknown field", `{"colour":"red"}`, 422, "colour"},
		{"valid and invalid together", `{"name":"Changed","signatureHeader":"Host"}`, 422, "signatureHeader"},
		{"malformed", `{"name":`, 400, ""},
		{"not an object", `["name"]`, 400, ""},
		{"null body", `null`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.do("PATCH", "/v1/tenant", key, tc.body), tc.status, tc.field)
			if after := e.getTenant(key).body; string(after) != string(before) {
				t.Fatalf("a refused patch changed the tenant:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	r := e.doHeaders("PATCH", "/v1/tenant", `name=x`, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "text/plain"})
	wantProblem(t, r, 415, "")
}

func TestTenantMergePatch(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	ten, key := e.newTenant("Merge")
	issuer := "https://idp.example/" + ten.ID
	jwtSecret := "hs256-secret-" + strings.Repeat("x", 30) + "WXYZ"
	patch := func(body string) gancho.Tenant {
		t.Helper()
		r := e.do("PATCH", "/v1/tenant", key, body)
		if r.status != 200 {
			t.Fatalf("patch %s: %d %s", body, r.status, r.body)
		}
		if strings.Contains(string(r.body), jwtSecret) {
			t.Fatalf("the patch response shows the jwt secret: %s", r.body)
		}
		var got gancho.Tenant
		r.json(t, &got)
		var read gancho.Tenant
		e.getTenant(key).json(t, &read)
		if read.Name != got.Name || read.SignatureHeader != got.SignatureHeader || !read.UpdatedAt.Equal(got.UpdatedAt) {
			t.Fatalf("PATCH answered %+v but GET reads %+v", got, read)
		}
		return got
	}
	stored := func() gancho.Tenant {
		t.Helper()
		s, err := e.store.GetTenant(context.Background(), ten.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	got := patch(`{"signatureHeader":"X-JuriChat-Signature","publicBaseUrl":"https://hooks.jurichat.example/","allowedEventTypesOnly":false,` +
		`"jwt":{"issuer":"` + issuer + `","audience":"gancho","algorithm":"HS256","secret":"` + jwtSecret + `"}}`)
	if got.SignatureHeader != "X-JuriChat-Signature" || got.PublicBaseURL != "https://hooks.jurichat.example" || got.AllowedEventTypesOnly ||
		got.JWT == nil || got.JWT.Secret != "****WXYZ" || got.JWT.Issuer != issuer || !got.UpdatedAt.After(ten.UpdatedAt) {
		t.Fatalf("after the first patch: %+v jwt %+v", got, got.JWT)
	}
	// Only the named member changes.
	if got = patch(`{"name":"Renamed"}`); got.Name != "Renamed" || got.SignatureHeader != "X-JuriChat-Signature" || got.JWT == nil {
		t.Fatalf("after rename: %+v", got)
	}
	// The GET form sent back (masked secret) with one change keeps the secret.
	var read map[string]any
	e.getTenant(key).json(t, &read)
	j := read["jwt"].(map[string]any)
	j["audience"] = "gancho-v2"
	back, _ := json.Marshal(map[string]any{"jwt": j})
	if got = patch(string(back)); got.JWT.Audience != "gancho-v2" || stored().JWT.Secret != jwtSecret {
		t.Fatalf("sending back the masked secret: %+v, stored secret %q", got.JWT, stored().JWT.Secret)
	}
	// Omitting it keeps it too.
	if got = patch(`{"jwt":{"audience":"gancho-v3"}}`); got.JWT.Audience != "gancho-v3" || stored().JWT.Secret != jwtSecret {
		t.Fatalf("omitting the secret: %+v", got.JWT)
	}
	// null clears optional members; allowedEventTypesOnly returns to its default.
	got = patch(`{"signatureHeader":null,"publicBaseUrl":null,"allowedEventTypesOnly":null}`)
	if got.SignatureHeader != "" || got.PublicBaseURL != "" || !got.AllowedEventTypesOnly || got.JWT == nil {
		t.Fatalf("after clearing: %+v", got)
	}
	r := e.getTenant(key)
	if strings.Contains(string(r.body), "signatureHeader") || strings.Contains(string(r.body), "publicBaseUrl") {
		t.Fatalf("cleared settings still read back: %s", r.body)
	}
	// application/merge-patch+json is accepted.
	r = e.doHeaders("PATCH", "/v1/tenant", `{"name":"Merge Patch"}`, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/merge-patch+json"})
	if r.status != 200 {
		t.Fatalf("merge-patch+json: %d %s", r.status, r.body)
	}
	// Clearing jwt releases the issuer for another tenant.
	if got = patch(`{"jwt":null}`); got.JWT != nil {
		t.Fatalf("jwt after null: %+v", got.JWT)
	}
	_, otherKey := e.newTenant("Other")
	r = e.do("PATCH", "/v1/tenant", otherKey, `{"jwt":{"issuer":"`+issuer+`","audience":"a","algorithm":"HS256","secret":"`+jwtSecret+`"}}`)
	if r.status != 200 {
		t.Fatalf("claiming a released issuer: %d %s", r.status, r.body)
	}
	// A key without tenant:write cannot patch, but may read.
	reader, _ := e.mintKey(key, `{"name":"reader","scopes":["subscriptions:read"]}`)
	wantProblem(t, e.do("PATCH", "/v1/tenant", reader, `{"name":"nope"}`), 403, "")
	e.getTenant(reader)
}

func TestIssuerUniqueAcrossTenants(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	a, keyA := e.newTenant("A")
	_, keyB := e.newTenant("B")
	issuer := "https://idp.example/" + a.ID
	settings := `{"jwt":{"issuer":"` + issuer + `","audience":"gancho","algorithm":"HS256","secret":"` + strings.Repeat("a", 32) + `"}}`
	if r := e.do("PATCH", "/v1/tenant", keyA, settings); r.status != 200 {
		t.Fatalf("A: %d %s", r.status, r.body)
	}
	before := e.getTenant(keyB).body
	wantProblem(t, e.do("PATCH", "/v1/tenant", keyB, `{"name":"B2",`+settings[1:]), 409, "jwt.issuer")
	if after := e.getTenant(keyB).body; string(after) != string(before) {
		t.Fatalf("B changed by a refused patch:\n%s\n%s", before, after)
	}
	// A may re-send its own issuer.
	if r := e.do("PATCH", "/v1/tenant", keyA, settings); r.status != 200 {
		t.Fatalf("A again: %d %s", r.status, r.body)
	}
}

func TestTenantSecret(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	ten, key := e.newTenant("Secrets")
	var s1 struct {
		Secret             string     `json:"secret"`
		PreviousValidUntil *time.Time `json:"previousValidUntil"`
	}
	r := e.do("GET", "/v1/tenant/secret", key, "")
	if r.status != 200 {
		t.Fatalf("get secret: %d %s", r.status, r.body)
	}
	r.json(t, &s1)
	if !strings.HasPrefix(s1.Secret, "whsec_") || s1.PreviousValidUntil != nil {
		t.Fatalf("secret = %+v", s1)
	}
	// Reads elsewhere show it masked only.
	for _, path := range []string{"/v1/tenant", "/v1/api-keys"} {
		r := e.do("GET", path, key, "")
		if r.status != 200 || strings.Contains(string(r.body), s1.Secret) || strings.Contains(string(r.body), s1.Secret[6:]) {
			t.Fatalf("GET %s: %d shows the secret: %s", path, r.status, r.body)
		}
	}
	var read gancho.Tenant
	e.getTenant(key).json(t, &read)
	if read.Secret != "****"+s1.Secret[len(s1.Secret)-4:] {
		t.Fatalf("masked secret = %q", read.Secret)
	}

	rotatedAt := e.clock.Now()
	r = e.do("POST", "/v1/tenant/secret/rotate", key, "")
	if r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	var s2 struct {
		Secret             string     `json:"secret"`
		PreviousValidUntil *time.Time `json:"previousValidUntil"`
	}
	r.json(t, &s2)
	if !strings.HasPrefix(s2.Secret, "whsec_") || s2.Secret == s1.Secret || s2.PreviousValidUntil == nil {
		t.Fatalf("rotated = %+v", s2)
	}
	if d := s2.PreviousValidUntil.Sub(rotatedAt.Add(24 * time.Hour)); d < -time.Minute || d > time.Minute {
		t.Fatalf("previousValidUntil = %v, want about now + 24 h", s2.PreviousValidUntil)
	}
	stored, err := e.store.GetTenant(context.Background(), ten.ID)
	if err != nil || stored.Secret != s2.Secret || stored.PreviousSecret != s1.Secret {
		t.Fatalf("stored after rotation: %+v %v", stored, err)
	}
	if got := stored.SigningSecrets(e.clock.Now()); !slices.Equal(got, []string{s2.Secret, s1.Secret}) {
		t.Fatalf("signing secrets = %v", got)
	}
	var s3 struct {
		Secret             string     `json:"secret"`
		PreviousValidUntil *time.Time `json:"previousValidUntil"`
	}
	e.do("GET", "/v1/tenant/secret", key, "").json(t, &s3)
	if s3.Secret != s2.Secret || s3.PreviousValidUntil == nil || !s3.PreviousValidUntil.Equal(*s2.PreviousValidUntil) {
		t.Fatalf("secret after rotation = %+v", s3)
	}
	r = e.getTenant(key)
	r.json(t, &read)
	if read.PreviousSecret != "****"+s1.Secret[len(s1.Secret)-4:] || read.PreviousSecretValidUntil == nil || strings.Contains(string(r.body), s1.Secret[6:]) {
		t.Fatalf("tenant after rotation: %s", r.body)
	}
	// A day later the previous secret is gone from reads.
	e.clock.Advance(24*time.Hour + time.Minute)
	var s4 struct {
		PreviousValidUntil *time.Time `json:"previousValidUntil"`
	}
	e.do("GET", "/v1/tenant/secret", key, "").json(t, &s4)
	if s4.PreviousValidUntil != nil {
		t.Fatalf("previousValidUntil a day later = %v", s4.PreviousValidUntil)
	}
	var later gancho.Tenant
	e.getTenant(key).json(t, &later)
	if later.PreviousSecret != "" || later.PreviousSecretValidUntil != nil {
		t.Fatalf("previous secret a day later: %+v", later)
	}

	wantProblem(t, e.do("POST", "/v1/tenant/secret/rotate", key, `{"secret":"mine"}`), 400, "")
	reader, _ := e.mintKey(key, `{"name":"reader","scopes":["subscriptions:read","keys:read"]}`)
	wantProblem(t, e.do("GET", "/v1/tenant/secret", reader, ""), 403, "")
	wantProblem(t, e.do("POST", "/v1/tenant/secret/rotate", reader, ""), 403, "")
}

// A tenant stored without a default secret (only items written before every tenant
// got one at creation) is not given one by the read: GET /v1/tenant/secret runs with
// read-only table access. It answers 409 pointing at the rotate route, which creates
// the secret.
func TestTenantSecretMissingIsNotCreatedOnRead(t *testing.T) {
	e := newTenv(t, gancho.TargetPolicy{})
	ctx := context.Background()
	id := testenv.TenantID()
	raw := auth.NewAPIKey()
	k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, time.Now()), TenantID: id, Name: "old", Scopes: gancho.AllTenantScopes, CreatedAt: time.Now()}
	if err := e.store.CreateTenant(ctx, gancho.Tenant{ID: id, Name: "Old", Secret: gancho.NewSecret(), CreatedAt: time.Now()}, k, auth.HashKey(raw)); err != nil {
		t.Fatal(err)
	}
	before, err := e.store.GetTenant(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	old := before
	old.Secret, old.UpdatedAt = "", time.Now().UTC()
	if err := e.store.UpdateTenant(ctx, before, old); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		r := e.do("GET", "/v1/tenant/secret", raw, "")
		wantProblem(t, r, 409, "secret")
		if !strings.Contains(string(r.body), "/v1/tenant/secret/rotate") {
			t.Errorf("the 409 does not say how to get a secret: %s", r.body)
		}
	}
	if stored, err := e.store.GetTenant(ctx, id); err != nil || stored.Secret != "" || !stored.UpdatedAt.Equal(old.UpdatedAt) {
		t.Fatalf("the read wrote the tenant: secret %q updatedAt %v (%v)", stored.Secret, stored.UpdatedAt, err)
	}

	var rotated struct {
		Secret             string     `json:"secret"`
		PreviousValidUntil *time.Time `json:"previousValidUntil"`
	}
	e.do("POST", "/v1/tenant/secret/rotate", raw, "").json(t, &rotated)
	if !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.PreviousValidUntil != nil {
		t.Fatalf("rotate gave %+v; want a new secret and no previous one", rotated)
	}
	var read struct {
		Secret string `json:"secret"`
	}
	e.do("GET", "/v1/tenant/secret", raw, "").json(t, &read)
	if read.Secret != rotated.Secret {
		t.Fatalf("read %q after rotate; want %q", read.Secret, rotated.Secret)
	}
}
