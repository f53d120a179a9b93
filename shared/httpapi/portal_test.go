package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// newPortalEnv is an API on the in-memory store with an admin key and a clock tests move.
func newPortalEnv(t *testing.T) *tenv {
	t.Helper()
	admin := "gk_admin_" + auth.NewAPIKey()[3:]
	clock := &testClock{}
	api := httpapi.New(httpapi.Config{
		Store:        memstore.New(),
		Log:          testenv.Logger(t),
		Policy:       gancho.TargetPolicy{AllowInsecure: true},
		AdminKeyHash: auth.HashKey(admin),
		Now:          clock.Now,
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return &tenv{t: t, srv: srv, clock: clock, admin: admin}
}

func (e *tenv) portalLink(cred, body string) (gancho.PortalLink, string) {
	e.t.Helper()
	r := e.do("POST", "/v1/portal-links", cred, body)
	if r.status != 201 {
		e.t.Fatalf("portal link: %d %s", r.status, r.body)
	}
	var l gancho.PortalLink
	r.json(e.t, &l)
	u, err := url.Parse(l.URL)
	if err != nil {
		e.t.Fatal(err)
	}
	frag, err := url.ParseQuery(u.Fragment)
	if err != nil {
		e.t.Fatal(err)
	}
	return l, frag.Get("token")
}

func TestPortalLinkValidation(t *testing.T) {
	e := newPortalEnv(t)
	_, root := e.newTenant("Acme")
	aliceKey, _ := e.mintKey(root, `{"name":"alice","scopes":["subscriptions:write","subscriptions:read"],"ownerId":"alice"}`)
	readOnly, _ := e.mintKey(root, `{"name":"reader","scopes":["subscriptions:read"]}`)
	for _, tc := range []struct {
		name, cred, body string
		status           int
		field            string
	}{
		{"tenant-wide key without ownerId", root, `{}`, 422, "ownerId"},
		{"no body at all", root, ``, 422, "ownerId"},
		{"bad ownerId", root, `{"ownerId":"a#b"}`, 422, "ownerId"},
		{"empty ownerId", root, `{"ownerId":""}`, 422, "ownerId"},
		{"too short", root, `{"ownerId":"alice","expiresIn":59}`, 422, "expiresIn"},
		{"too long", root, `{"ownerId":"alice","expiresIn":86401}`, 422, "expiresIn"},
		{"not a number", root, `{"ownerId":"alice","expiresIn":"soon"}`, 422, "expiresIn"},
		{"unknown field", root, `{"ownerId":"alice","scopes":["keys:write"]}`, 400, ""},
		{"owner-bound key for another owner", aliceKey, `{"ownerId":"bob"}`, 403, "ownerId"},
		{"without subscriptions:write", readOnly, `{"ownerId":"alice"}`, 403, ""},
		{"no credential", "", `{"ownerId":"alice"}`, 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/v1/portal-links", tc.cred, tc.body)
			if tc.status == 400 && r.status == 422 {
				tc.status = 422 // unknown fields may be either, as elsewhere
			}
			wantProblem(t, r, tc.status, tc.field)
		})
	}
}

func TestPortalLink(t *testing.T) {
	e := newPortalEnv(t)
	_, root := e.newTenant("Acme Corp")
	before := e.clock.Now()
	link, token := e.portalLink(root, `{"ownerId":"alice","expiresIn":120}`)
	u, err := url.Parse(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	// The token travels in the fragment only: never in the path or the query.
	if u.Path != "/portal" || u.RawQuery != "" || u.Host != strings.TrimPrefix(e.srv.URL, "http://") ||
		!strings.HasPrefix(token, "gk_") || strings.Contains(u.Path, token) {
		t.Fatalf("url = %s", link.URL)
	}
	if frag, _ := url.ParseQuery(u.Fragment); frag.Get("provider") != "Acme Corp" {
		t.Errorf("fragment = %q, want the provider's name", u.Fragment)
	}
	if d := link.ExpiresAt.Sub(before); d < 119*time.Second || d > 121*time.Second {
		t.Errorf("expiresAt = %v, %v after the request; want 120 s", link.ExpiresAt, d)
	}
	// Forwarded HTTPS (API Gateway) makes an https link.
	r := e.doHeaders("POST", "/v1/portal-links", `{"ownerId":"alice"}`, map[string]string{"Authorization": "Bearer " + root, "X-Forwarded-Proto": "https"})
	var l2 gancho.PortalLink
	r.json(t, &l2)
	if !strings.HasPrefix(l2.URL, "https://") || l2.ExpiresAt.Sub(before) < 59*time.Minute {
		t.Errorf("default link = %+v, want https and 1 h", l2)
	}

	// The token is an owner-bound key: it sees and makes alice's subscriptions only.
	e.do("POST", "/v1/subscriptions", root, `{"url":"http://127.0.0.1:9/bob","ownerId":"bob"}`)
	if r := e.do("POST", "/v1/subscriptions", token, `{"url":"http://127.0.0.1:9/alice"}`); r.status != 201 {
		t.Fatalf("create with the token: %d %s", r.status, r.body)
	}
	var subs struct{ Data []gancho.Subscription }
	e.do("GET", "/v1/subscriptions", token, "").json(t, &subs)
	if len(subs.Data) != 1 || subs.Data[0].OwnerID != "alice" {
		t.Fatalf("the token lists %+v, want alice's one subscription", subs.Data)
	}
	for _, path := range []string{"/v1/event-types", "/v1/events"} {
		if r := e.do("GET", path, token, ""); r.status != 200 {
			t.Errorf("GET %s with the token: %d %s", path, r.status, r.body)
		}
	}
	// It cannot make keys or links, publish, or touch the tenant.
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/api-keys", `{"name":"x","scopes":["subscriptions:read"]}`},
		{"GET", "/v1/api-keys", ""},
		{"POST", "/v1/portal-links", `{}`},
		{"POST", "/v1/portal-links", `{"ownerId":"alice"}`},
		{"POST", "/v1/events", `{"type":"webhook.test","payload":{}}`},
		{"PATCH", "/v1/tenant", `{"name":"mine"}`},
		{"GET", "/v1/tenant/secret", ""},
	} {
		wantProblem(t, e.do(c.method, c.path, token, c.body), 403, "")
	}

	// Cached by now; at expiresAt it is refused all the same, with a problem that says so.
	e.clock.Advance(link.ExpiresAt.Sub(e.clock.Now()))
	r = e.do("GET", "/v1/subscriptions", token, "")
	wantProblem(t, r, 401, "")
	if !strings.Contains(string(r.body), "expired") {
		t.Errorf("expired token: %s, want a problem saying it expired", r.body)
	}
	// The tenant's own key is untouched.
	if r := e.do("GET", "/v1/subscriptions", root, ""); r.status != 200 {
		t.Errorf("root key after the link expired: %d", r.status)
	}
}

// An owner-bound key makes links for its own owner, with no more scopes than it holds.
func TestPortalLinkFromOwnerBoundKey(t *testing.T) {
	e := newPortalEnv(t)
	_, root := e.newTenant("Acme")
	key, _ := e.mintKey(root, `{"name":"alice","scopes":["subscriptions:write","subscriptions:read","events:read"],"ownerId":"alice"}`)
	link, token := e.portalLink(key, `{}`)
	var k gancho.APIKey
	e.do("GET", "/v1/api-keys/"+link.KeyID, root, "").json(t, &k)
	if k.OwnerID != "alice" || !k.Portal || k.ExpiresAt == nil || !k.ExpiresAt.Equal(link.ExpiresAt) ||
		!slices.Equal(k.Scopes, []string{"subscriptions:read", "subscriptions:write", "events:read"}) {
		t.Fatalf("the link's key = %+v", k)
	}
	wantProblem(t, e.do("GET", "/v1/subscriptions/x/deliveries", token, ""), 403, "")
	// Revoking the key ends the link before it expires.
	if r := e.do("DELETE", "/v1/api-keys/"+link.KeyID, root, ""); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	wantProblem(t, e.do("GET", "/v1/subscriptions", token, ""), 401, "")
}

var inlineScript = regexp.MustCompile(`(?is)<script\b[^>]*>\s*[^<\s]`)

// The page and its assets are static, with a strict Content-Security-Policy: scripts,
// styles and connections from this origin only; no inline script or style.
func TestPortalPage(t *testing.T) {
	e := newPortalEnv(t)
	page := e.do("GET", "/portal", "", "")
	if page.status != 200 || !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /portal: %d %q", page.status, page.header.Get("Content-Type"))
	}
	html := string(page.body)
	if inlineScript.MatchString(html) || strings.Contains(html, "<style") || strings.Contains(html, " style=") ||
		regexp.MustCompile(`(?i)\son[a-z]+=`).MatchString(html) {
		t.Errorf("the page has inline script or style:\n%s", html)
	}
	if strings.Contains(html, "gk_") || strings.Contains(html, "whsec_") {
		t.Errorf("the page holds a secret")
	}
	refs := regexp.MustCompile(`(?:src|href)="portal/([^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 2 {
		t.Fatalf("the page references %v, want its script and stylesheet", refs)
	}
	assets := map[string]string{"app.js": "text/javascript", "api.js": "text/javascript", "chart.js": "text/javascript",
		"example.js": "text/javascript", "app.css": "text/css"}
	for _, m := range refs {
		if _, ok := assets[m[1]]; !ok {
			t.Errorf("the page references %s, which this test does not check", m[1])
		}
	}
	check := func(path string, r response) {
		t.Helper()
		csp := r.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") {
			t.Errorf("%s: Content-Security-Policy %q allows unsafe sources", path, csp)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, r.header)
		}
	}
	check("/portal", page)
	for name, ct := range assets {
		r := e.do("GET", "/portal/"+name, "", "")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), ct) || len(r.body) == 0 {
			t.Errorf("GET /portal/%s: %d %q", name, r.status, r.header.Get("Content-Type"))
		}
		check("/portal/"+name, r)
		if strings.Contains(string(r.body), "eval(") || strings.Contains(string(r.body), "innerHTML") {
			t.Errorf("/portal/%s uses eval or innerHTML", name)
		}
		// Revalidation answers 304 without the body.
		etag := r.header.Get("ETag")
		r2 := e.doHeaders("GET", "/portal/"+name, "", map[string]string{"If-None-Match": etag})
		if etag == "" || r2.status != http.StatusNotModified {
			t.Errorf("GET /portal/%s with If-None-Match %q: %d", name, etag, r2.status)
		}
	}
	for _, path := range []string{"/portal/nope.js", "/portal/..%2fportal.go", "/portal/web"} {
		r := e.do("GET", path, "", "")
		if r.status != 404 {
			t.Errorf("GET %s: %d, want 404", path, r.status)
		}
	}
	// The app reads the token from the fragment, never from the query or path.
	app := string(e.do("GET", "/portal/app.js", "", "").body)
	if !strings.Contains(app, "location.hash") || strings.Contains(app, "URLSearchParams(location.search") || strings.Contains(app, "searchParams.get('token')") {
		t.Errorf("app.js does not read the token from the fragment only")
	}
}

func init() {
	// The portal's page and assets are text: the contract check reads them as strings.
	text := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	for _, media := range []string{"text/html", "text/javascript", "text/css"} {
		openapi3filter.RegisterBodyDecoder(media, text)
	}

	isolationCases["create-portal-link"] = isoCase{
		about: "B's link is for its own tenant's owner and reaches nothing of A's; bob cannot make a link for alice",
		body:  bodyOf(`{"ownerId":"alice","expiresIn":600}`), foreign: 201, owner: 403, check: checkPortalLinkIsolated}
	isolationCases["portal"] = isoCase{about: "public, static page: the same for everyone, with nothing of any tenant",
		foreign: 200, owner: 200}
	isolationCases["portal-asset"] = isoCase{about: "public, static script: the same for everyone, with nothing of any tenant",
		target: func(*isoFixture, *victim) string { return "app.js" }, foreign: 200, owner: 200}
}

// checkPortalLinkIsolated: the link B made for "alice" is of B's tenant; its token
// reaches none of A's alice's objects.
func checkPortalLinkIsolated(t *testing.T, x *isoCall, r response) {
	var l gancho.PortalLink
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode link: %v: %s", err, r.body)
	}
	u, err := url.Parse(l.URL)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(u.Fragment)
	token := frag.Get("token")
	v := x.as.victim
	x.follow(t, "GET", "/v1/subscriptions/"+v.sub, token, "", 404)
	x.follow(t, "GET", "/v1/deliveries/"+v.delivery, token, "", 404)
	x.follow(t, "DELETE", "/v1/api-keys/"+l.KeyID, x.as.key, "", 204)
}

// The portal routes answer as the document says: the link, the page and an asset.
func TestPortalAnswersAsDocumented(t *testing.T) {
	e := newPortalEnv(t)
	_, root := e.newTenant("Documented")
	doc, _ := servedDocument(t)
	c := contract{t: t, doc: doc}
	routes := map[string]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		routes[rt.Name] = rt
	}
	for _, tc := range []struct {
		route, path, key, body string
		want                   int
	}{
		{"create-portal-link", "/v1/portal-links", root, `{"ownerId":"o-1","expiresIn":60}`, 201},
		{"create-portal-link", "/v1/portal-links", root, `{"expiresIn":1}`, 422},
		{"portal", "/portal", "", "", 200},
		{"portal-asset", "/portal/app.js", "", "", 200},
		{"portal-asset", "/portal/app.css", "", "", 200},
		{"portal-asset", "/portal/missing.js", "", "", 404},
	} {
		req, r := do(t, e.srv, routes[tc.route].Method, tc.path, tc.key, tc.body)
		if r.status != tc.want {
			t.Errorf("%s: %d, want %d: %s", tc.path, r.status, tc.want, r.body)
		}
		c.check(routes[tc.route], req, r)
	}
}
