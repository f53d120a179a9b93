package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
)

// The isolation walk (the API contract, "Who calls it": one tenant, or owner, can never see,
// change or learn of another's objects; a foreign id is 404).
//
// Tenant A first makes, through the API, one of everything: a subscription with a
// secret, an auth value and a sensitive header, an API key, an event with delivery
// records, and catalog types. Its owner "alice" makes the same for herself with an
// owner-bound key. Every route of httpapi.Routes() is then called
//
//   - with tenant B's key holding every scope, on A's ids;
//   - with tenant A's owner-bound key of "bob" holding every scope, on alice's ids;
//   - with a tenant-wide key of A holding every scope but the route's, on A's ids
//     (admin routes: with A's key holding every tenant scope);
//   - with no credentials at all.
//
// Every answer to those callers is searched for A's and alice's ids, secrets,
// credentials, URLs and marker strings. An answer may echo what its caller sent
// (a 404 names the id it was asked for), nothing else. Afterwards A reads its
// objects again: nothing may have changed.
//
// A route added to Routes() without a case in isolationCases fails the test.

// victim is one party's objects under attack, with the requests that made them
// (callers send the same Idempotency-Keys, and for subscriptions and keys the same
// bodies, to try to get the stored answers).
type victim struct {
	who    string // "tenant A" or "alice"
	marker string // in every object this party made
	key    string // the raw credential that made them

	sub, subSecret, subURL, subBody, subIdem    string
	authValue, headerValue                      string
	event, eventBody, eventIdem                 string
	delivery                                    string
	apiKey, apiKeyValue, apiKeyBody, apiKeyIdem string
}

// needle is a value that must not reach a caller.
type needle struct{ what, value string }

func (v *victim) needles() []needle {
	return []needle{
		{v.who + "'s marker", v.marker},
		{v.who + "'s subscription id", v.sub},
		{v.who + "'s subscription secret", v.subSecret},
		{v.who + "'s subscription URL", v.subURL},
		{v.who + "'s auth value", v.authValue},
		{v.who + "'s sensitive header value", v.headerValue},
		{v.who + "'s event id", v.event},
		{v.who + "'s delivery id", v.delivery},
		{v.who + "'s API key id", v.apiKey},
		{v.who + "'s API key value", v.apiKeyValue},
		{v.who + "'s credential", v.key},
	}
}

type isoFixture struct {
	e     *env
	store testStore

	tenantA, tenantB string
	bob              string            // owner-bound key of tenant A for "bob", every scope
	lacking          map[string]string // scope → tenant-wide key of A with every scope but that one

	shared       string // marker of A's tenant-wide settings and catalog (readable by A's owners)
	tenantSecret string // A's default signing secret
	typeName     string // A's catalog type that callers try to archive
	typePut      string // A's catalog type whose name tenant B PUTs into its own catalog

	cursors map[string]string // list route → a nextCursor tenant A got from it

	wide  victim // A's tenant-wide objects, attacked by tenant B
	alice victim // alice's objects (made with her owner-bound key), attacked by bob

	credentials []string // every raw key of the test: no answer may hold one
}

// isoCase is what the walk expects of one route.
type isoCase struct {
	about string // why, shown on failure
	// target is the value of the route's path parameter, if it has one.
	target func(f *isoFixture, v *victim) string
	query  func(f *isoFixture, as *isoCaller) string
	body   func(f *isoFixture, v *victim) string
	// idem sends the victim's own Idempotency-Key, with its body: another caller
	// must never get the victim's stored answer.
	idem func(v *victim) string
	// cursor: the route is a list; B and bob also send a cursor tenant A got from
	// it, which must be refused (400) or page only their own objects.
	cursor  bool
	foreign int // tenant B's key with every scope, on A's objects
	owner   int // bob's key (tenant A, every scope), on alice's objects
	// check looks further at an answer with the expected 2xx status.
	check func(t *testing.T, x *isoCall, r response)
}

var (
	onSub      = func(_ *isoFixture, v *victim) string { return v.sub }
	onEvent    = func(_ *isoFixture, v *victim) string { return v.event }
	onDelivery = func(_ *isoFixture, v *victim) string { return v.delivery }
	onKey      = func(_ *isoFixture, v *victim) string { return v.apiKey }
	bodyOf     = func(s string) func(*isoFixture, *victim) string {
		return func(*isoFixture, *victim) string { return s }
	}
	pageAll = func(_ *isoFixture, as *isoCaller) string {
		if as.owner != "" {
			return "?limit=100&ownerId=alice" // the filter must not widen an owner-bound key
		}
		return "?limit=100"
	}
)

var isolationCases = map[string]isoCase{
	"health": {about: "public route: the same answer for everyone, with nothing of any tenant",
		foreign: 200, owner: 200},
	"help": {about: "public route: lists routes, nothing of any tenant",
		foreign: 200, owner: 200},
	"openapi": {about: "public route: the document, nothing of any tenant",
		foreign: 200, owner: 200},

	"create-tenant": {about: "operator only: a tenant key, whatever its scopes, is 403",
		body: bodyOf(`{"name":"made by a tenant key"}`), foreign: 403, owner: 403},
	"get-tenant": {about: "a caller reads its own tenant, never another's",
		foreign: 200, owner: 200, check: checkOwnTenant},
	"update-tenant": {about: "B changes only its own tenant; tenant-wide settings, like the catalog, are not writable by an owner-bound key",
		body: bodyOf(`{"signatureHeader":"X-Iso-Signature"}`), foreign: 200, owner: 403, check: checkOwnTenant},
	"get-tenant-secret": {about: "B reads only its own default secret; the tenant's default secret signs every owner's callbacks, so an owner-bound key must not read it",
		foreign: 200, owner: 403, check: checkOwnTenantSecret},
	"rotate-tenant-secret": {about: "B rotates only its own default secret; an owner-bound key must not rotate the tenant's",
		foreign: 200, owner: 403, check: checkOwnTenantSecret},

	"create-api-key": {about: "replaying the victim's key creation (same body, same Idempotency-Key) makes the caller's own key, confined to the caller",
		body: func(_ *isoFixture, v *victim) string { return v.apiKeyBody }, idem: func(v *victim) string { return v.apiKeyIdem },
		foreign: 201, owner: 201, check: checkCreatedKey},
	"list-api-keys": {about: "the list holds only the caller's own keys",
		query: pageAll, cursor: true, foreign: 200, owner: 200, check: checkKeyList},
	"get-api-key": {about: "a foreign key id is 404",
		target: onKey, foreign: 404, owner: 404},
	"delete-api-key": {about: "a foreign key id is 404 and the key keeps working",
		target: onKey, foreign: 404, owner: 404},

	"list-event-types": {about: "B sees only its own catalog; the tenant's catalog is readable by its owner-bound keys",
		query: func(*isoFixture, *isoCaller) string { return "?limit=100" }, cursor: true, foreign: 200, owner: 200, check: checkCatalog},
	"put-event-type": {about: "B's PUT of A's type name makes a type in B's own catalog and leaves A's alone; an owner-bound key cannot change the catalog (403)",
		target: func(f *isoFixture, _ *victim) string { return f.typePut }, body: bodyOf(`{"description":"put by the caller"}`),
		foreign: 201, owner: 403},
	"delete-event-type": {about: "B has no type of that name (404); an owner-bound key cannot change the catalog (403)",
		target: func(f *isoFixture, _ *victim) string { return f.typeName }, foreign: 404, owner: 403},

	"create-subscription": {about: "replaying the victim's creation (same body, same Idempotency-Key) makes the caller's own subscription, never a replay of the victim's",
		body: func(_ *isoFixture, v *victim) string { return v.subBody }, idem: func(v *victim) string { return v.subIdem },
		foreign: 201, owner: 201, check: checkCreatedSub},
	"list-subscriptions": {about: "the list holds only the caller's own subscriptions",
		query: pageAll, cursor: true, foreign: 200, owner: 200, check: checkSubList},
	"get-subscription": {about: "a foreign subscription id is 404",
		target: onSub, foreign: 404, owner: 404},
	"replace-subscription": {about: "a foreign subscription id is 404 and it is not changed",
		target: onSub, body: bodyOf(`{"url":"http://127.0.0.1:1/taken-over"}`), foreign: 404, owner: 404},
	"update-subscription": {about: "a foreign subscription id is 404 and it is not changed",
		target: onSub, body: bodyOf(`{"url":"http://127.0.0.1:1/taken-over","isActive":false}`), foreign: 404, owner: 404},
	"delete-subscription": {about: "a foreign subscription id is 404 and it is not deleted",
		target: onSub, foreign: 404, owner: 404},
	"get-subscription-secret": {about: "a foreign subscription's secret is 404",
		target: onSub, foreign: 404, owner: 404},
	"rotate-subscription-secret": {about: "a foreign subscription's secret is 404 and not rotated",
		target: onSub, foreign: 404, owner: 404},
	"test-subscription": {about: "no test event to a foreign subscription (404)",
		target: onSub, foreign: 404, owner: 404},
	"list-subscription-deliveries": {about: "a foreign subscription's deliveries are 404",
		target: onSub, foreign: 404, owner: 404},
	"recover-subscription": {about: "a foreign subscription's deliveries are not re-queued (404)",
		target: onSub, body: bodyOf(`{"since":"2000-01-01T00:00:00Z"}`), foreign: 404, owner: 404},
	"subscription-callback": {about: "a foreign subscription's needView is 404",
		target: onSub, foreign: 404, owner: 404},
	"subscription-results": {about: "a foreign subscription's results are 404 and are not marked seen",
		target: onSub, body: bodyOf(`{"size":"100"}`), foreign: 404, owner: 404},

	"publish-event": {about: "publishing with the victim's idempotency key (header and body) publishes the caller's own event, never a replay or a conflict, and it reaches none of the victim's subscriptions",
		body: func(_ *isoFixture, v *victim) string {
			// The caller's own payload: events cannot be deleted, and later lists of
			// the caller's events must hold nothing of the victim's.
			return `{"type":"order.created","payload":{"by":"the caller"},"idempotencyKey":"` + v.eventIdem + `"}`
		},
		idem: func(v *victim) string { return v.eventIdem }, foreign: 202, owner: 202, check: checkPublished},
	"publish-events-batch": {about: "a batch with the victim's idempotency key (header and body) publishes the caller's own event, never a replay or a conflict, and it reaches none of the victim's subscriptions",
		body: func(_ *isoFixture, v *victim) string {
			return `{"events":[{"type":"order.created","payload":{"by":"the caller"},"idempotencyKey":"` + v.eventIdem + `"}]}`
		},
		idem: func(v *victim) string { return v.eventIdem }, foreign: 202, owner: 202, check: checkBatchPublished},
	"list-events": {about: "the list holds only the caller's own events",
		query: pageAll, cursor: true, foreign: 200, owner: 200, check: checkEventList},
	"get-event": {about: "a foreign event id is 404",
		target: onEvent, foreign: 404, owner: 404},
	"list-event-deliveries": {about: "a foreign event's deliveries are 404",
		target: onEvent, foreign: 404, owner: 404},
	"get-delivery": {about: "a foreign delivery is 404",
		target: onDelivery, foreign: 404, owner: 404},
	"retry-delivery": {about: "a foreign delivery is 404 and not re-queued",
		target: onDelivery, foreign: 404, owner: 404},
	"redrive-dead-letters": {about: "operator only: a tenant key, whatever its scopes, is 403",
		foreign: 403, owner: 403},
}

func TestIsolationEveryRoute(t *testing.T) {
	f := newIsoFixture(t)
	before := f.snapshot(t)

	routes := httpapi.Routes()
	names := map[string]bool{}
	for _, rt := range routes {
		names[rt.Name] = true
		c, ok := isolationCases[rt.Name]
		if !ok {
			t.Errorf("add an isolation case for %s (%s %s, scope %q) to isolationCases in isolation_test.go: "+
				"what tenant B and an owner-bound key of another owner get on tenant A's objects", rt.Name, rt.Method, rt.Path, rt.Scope)
			continue
		}
		t.Run(rt.Name, func(t *testing.T) { f.walk(t, rt, c) })
	}
	for name := range isolationCases {
		if !names[name] {
			t.Errorf("isolationCases has a case for %s, which is no route of Routes(): remove or rename it", name)
		}
	}

	t.Run("A's objects unchanged", func(t *testing.T) {
		after := f.snapshot(t)
		for _, k := range sortedKeys(before) {
			if before[k] != after[k] {
				t.Errorf("%s changed during the walk:\nbefore: %s\nafter:  %s", k, before[k], after[k])
			}
		}
		for _, v := range []*victim{&f.wide, &f.alice} {
			r := f.send(t, "GET", "/v1/subscriptions", v.apiKeyValue, "", "")
			if r.status != 200 {
				t.Errorf("%s's API key %s stopped working during the walk: %d %s", v.who, v.apiKey, r.status, r.body)
			}
		}
	})
}

// An owner-bound key must not be able to make itself a tenant-wide credential, e.g.
// by pointing the tenant's JWT settings at a secret it knows and signing tokens
// without an owner claim, which see every owner's objects.
func TestIsolationOwnerKeyCannotWidenItself(t *testing.T) {
	e := newEnv(t)
	alice := e.create(e.tenantA, "alice", gancho.AllTenantScopes)
	bob := e.create(e.tenantA, "bob", gancho.AllTenantScopes)
	own := e.createSub(alice, `{"url":"http://127.0.0.1:1/alice","events":["order.created"]}`)
	secret := "bob-knows-this-hs256-secret-" + strings.Repeat("b", 20)
	iss := "https://idp.example/" + e.tenantA + "/bob"
	r := e.json("PATCH", "/v1/tenant", bob, `{"jwt":{"issuer":"`+iss+`","audience":"gancho","algorithm":"HS256","secret":"`+secret+`"}}`)
	if r.status != http.StatusForbidden {
		t.Errorf("PATCH /v1/tenant (jwt settings) with bob's owner-bound key: %d, want 403: %s", r.status, r.body)
	}
	tok := sign(t, jwt.SigningMethodHS256, []byte(secret), "", jwt.MapClaims{"iss": iss, "aud": "gancho", "sub": "bob",
		"exp": time.Now().Add(time.Minute).Unix(), "scope": gancho.ScopeSubscriptionsRead})
	got := e.call("GET", "/v1/subscriptions/"+own.ID, tok, "", "")
	if got.status != http.StatusUnauthorized || strings.Contains(string(got.body), own.ID+`"`) {
		t.Errorf("LEAK GET /v1/subscriptions/%s with a token bob signed himself (no owner claim): %d, want 401: %s", own.ID, got.status, got.body)
	}
}

// isoCaller is one credential the walk calls routes with.
type isoCaller struct {
	name    string // for messages
	key     string
	tenant  string // the caller's tenant
	owner   string // the caller's owner, for owner-bound keys
	victim  *victim
	needles []needle
}

// isoCall is one request of the walk.
type isoCall struct {
	f      *isoFixture
	rt     httpapi.Route
	c      isoCase
	as     *isoCaller
	method string
	path   string
	body   string
	idem   string
	status int
}

func (f *isoFixture) walk(t *testing.T, rt httpapi.Route, c isoCase) {
	if rt.Scope == httpapi.ScopeAdmin && (c.foreign != 403 || c.owner != 403) {
		t.Errorf("the case of admin route %s must expect 403 for tenant keys", rt.Name)
	}
	b := &isoCaller{name: "tenant B (every scope)", key: f.e.keyB, tenant: f.tenantB, victim: &f.wide, needles: f.needlesForB()}
	bob := &isoCaller{name: "bob (tenant A, owner-bound, every scope)", key: f.bob, tenant: f.tenantA, owner: "bob", victim: &f.alice, needles: f.needlesForBob()}
	none := &isoCaller{name: "no credentials", victim: &f.wide, needles: f.needlesForB()}

	t.Run("tenant B", func(t *testing.T) { f.call(t, rt, c, b, c.foreign) })
	t.Run("owner bob", func(t *testing.T) { f.call(t, rt, c, bob, c.owner) })
	switch rt.Scope {
	case httpapi.ScopeNone:
		t.Run("no key", func(t *testing.T) { f.call(t, rt, c, none, http.StatusOK) })
	case httpapi.ScopeAdmin:
		t.Run("no key", func(t *testing.T) { f.call(t, rt, c, none, http.StatusUnauthorized) })
		a := &isoCaller{name: "tenant A (every tenant scope)", key: f.e.keyA, tenant: f.tenantA, victim: &f.wide, needles: f.needlesForB()}
		t.Run("tenant key", func(t *testing.T) { f.call(t, rt, c, a, http.StatusForbidden) })
	case httpapi.ScopeAuthenticated:
		// There is no scope to lack: any valid credential may call it.
		t.Run("no key", func(t *testing.T) { f.call(t, rt, c, none, http.StatusUnauthorized) })
	default:
		t.Run("no key", func(t *testing.T) { f.call(t, rt, c, none, http.StatusUnauthorized) })
		key, ok := f.lacking[rt.Scope]
		if !ok {
			t.Fatalf("route %s needs scope %q, which is no tenant scope", rt.Name, rt.Scope)
		}
		lacking := &isoCaller{name: "tenant A without " + rt.Scope, key: key, tenant: f.tenantA, victim: &f.wide, needles: f.needlesForB()}
		t.Run("missing scope", func(t *testing.T) { f.call(t, rt, c, lacking, http.StatusForbidden) })
	}
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// call sends the case's request as one caller and checks the answer.
func (f *isoFixture) call(t *testing.T, rt httpapi.Route, c isoCase, as *isoCaller, want int) {
	x := &isoCall{f: f, rt: rt, c: c, as: as, method: rt.Method, path: rt.Path}
	if pathParam.MatchString(rt.Path) {
		if c.target == nil {
			t.Fatalf("the isolation case of %s does not say which object fills %s", rt.Name, rt.Path)
		}
		x.path = pathParam.ReplaceAllString(rt.Path, c.target(f, as.victim))
	}
	if c.query != nil {
		x.path += c.query(f, as)
	}
	if c.body != nil {
		x.body = c.body(f, as.victim)
	}
	if c.idem != nil {
		x.idem = c.idem(as.victim)
	}
	r := x.send(t, rt.Method, x.path, as.key, x.body, x.idem)
	x.status = r.status
	x.expect(t, r, want)
	if r.status == want && want < 300 && c.check != nil && as.key != "" && want == x.expected() {
		c.check(t, x, r)
	}
	if c.cursor && r.status == want && want == http.StatusOK && x.expected() == want {
		x.withVictimCursor(t)
	}
}

// withVictimCursor lists again with the cursor tenant A got from the same list.
func (x *isoCall) withVictimCursor(t *testing.T) {
	t.Helper()
	cur, ok := x.f.cursors[x.rt.Name]
	if !ok {
		t.Fatalf("no cursor of tenant A for %s", x.rt.Name)
	}
	y := *x
	y.path += "&cursor=" + url.QueryEscape(cur)
	r := y.send(t, y.method, y.path, y.as.key, "", "")
	t.Logf("%s with tenant A's cursor as %s: %d", y.rt.Name, y.as.name, r.status)
	switch r.status {
	case http.StatusOK:
		y.expect(t, r, http.StatusOK)
		if y.c.check != nil {
			y.c.check(t, &y, r)
		}
	case http.StatusBadRequest:
		y.expect(t, r, http.StatusBadRequest)
	default:
		t.Errorf("%s %s as %s with tenant A's cursor: %d, want 400 (or 200 with only the caller's own): %s", y.method, y.path, y.as.name, r.status, r.body)
	}
}

// expected is the status the table gives for this call's caller.
func (x *isoCall) expected() int {
	switch x.as.key {
	case x.f.e.keyB:
		return x.c.foreign
	case x.f.bob:
		return x.c.owner
	}
	return -1
}

func (x *isoCall) send(t *testing.T, method, path, key, body, idem string) response {
	t.Helper()
	return x.f.send(t, method, path, key, body, idem)
}

// expect checks an answer's status and shape and that it holds nothing the caller
// may not learn.
func (x *isoCall) expect(t *testing.T, r response, want int) {
	t.Helper()
	what := fmt.Sprintf("%s %s as %s", x.method, pathOnly(x.path), x.as.name)
	if r.status != want {
		t.Errorf("%s: status %d, want %d: %s\nresponse: %s", what, r.status, want, x.c.about, r.body)
	}
	if r.status >= 400 {
		checkProblem(t, what, r)
		for _, p := range []string{"whsec_", auth.KeyPrefix} {
			if strings.Contains(string(r.body), p) {
				t.Errorf("%s: the %d answer holds a %q value: %s", what, r.status, p, r.body)
			}
		}
	}
	x.leaks(t, what, r)
}

// leaks reports every needle in r that the caller did not send itself.
func (x *isoCall) leaks(t *testing.T, what string, r response) {
	t.Helper()
	sent := x.path + "\n" + x.body + "\n" + x.idem
	body := string(r.body) + "\nLocation: " + r.header.Get("Location")
	for _, n := range x.as.needles {
		if n.value == "" || strings.Contains(sent, n.value) {
			continue
		}
		if strings.Contains(body, n.value) {
			t.Errorf("LEAK %s: the answer (%d) holds %s (%q): %s\nresponse: %s", what, r.status, n.what, n.value, x.c.about, r.body)
		}
	}
	for _, k := range x.f.credentials {
		if strings.Contains(body, k) {
			t.Errorf("LEAK %s: the answer (%d) holds a raw API key: %s", what, r.status, r.body)
		}
	}
}

// follow sends one more request as part of a case, with key, and checks it like the
// case's own answers.
func (x *isoCall) follow(t *testing.T, method, path, key, body string, want int) response {
	t.Helper()
	y := *x
	y.method, y.path, y.body, y.idem = method, path, body, ""
	r := y.send(t, method, path, key, body, "")
	y.expect(t, r, want)
	return r
}

func pathOnly(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i] + " (" + p[i:] + ")"
	}
	return p
}

// checkProblem reports an error answer that is not a complete problem+json.
func checkProblem(t *testing.T, what string, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type %q, want application/problem+json", what, ct)
		return
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: problem does not decode: %v: %s", what, err, r.body)
		return
	}
	if p.Status != r.status || p.Title == "" || p.Type == "" || p.Detail == "" {
		t.Errorf("%s: incomplete problem %+v", what, p)
	}
}

// --- per-route checks of success answers ---------------------------------------

func checkOwnTenant(t *testing.T, x *isoCall, r response) {
	var ten gancho.Tenant
	if err := json.Unmarshal(r.body, &ten); err != nil {
		t.Fatalf("decode tenant: %v: %s", err, r.body)
	}
	if ten.ID != x.as.tenant {
		t.Errorf("%s %s as %s answered tenant %q, want the caller's own %q", x.method, x.path, x.as.name, ten.ID, x.as.tenant)
	}
}

func checkOwnTenantSecret(t *testing.T, x *isoCall, r response) {
	var s struct{ Secret string }
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode secret: %v: %s", err, r.body)
	}
	if s.Secret == x.f.tenantSecret || !strings.HasPrefix(s.Secret, "whsec_") {
		t.Errorf("%s %s as %s: secret %q is not the caller's own", x.method, x.path, x.as.name, s.Secret)
	}
}

func notReplayed(t *testing.T, x *isoCall, r response) {
	if v := r.header.Get(httpapi.HeaderIdempotentReplayed); v != "" {
		t.Errorf("LEAK %s %s as %s: the answer is a replay (%s: %s) of %s's request: %s",
			x.method, x.path, x.as.name, httpapi.HeaderIdempotentReplayed, v, x.as.victim.who, r.body)
	}
}

func checkCreatedKey(t *testing.T, x *isoCall, r response) {
	notReplayed(t, x, r)
	var k struct {
		gancho.APIKey
		Key string `json:"key"`
	}
	if err := json.Unmarshal(r.body, &k); err != nil {
		t.Fatalf("decode key: %v: %s", err, r.body)
	}
	v := x.as.victim
	if k.ID == v.apiKey || k.Key == v.apiKeyValue || k.TenantID != x.as.tenant || k.OwnerID != x.as.owner {
		t.Errorf("%s made key %+v; want a new key of tenant %q, owner %q", x.as.name, k.APIKey, x.as.tenant, x.as.owner)
	}
	// The new key reaches nothing of the victim's.
	x.follow(t, "GET", "/v1/subscriptions/"+v.sub, k.Key, "", 404)
	// The victim's list does not show it.
	if ids := x.f.keyIDs(t, v.key); slices.Contains(ids, k.ID) {
		t.Errorf("%s's key list shows %s's new key %s: %v", v.who, x.as.name, k.ID, ids)
	}
	if x.as.owner != "" {
		// Nor may it mint one for the victim's owner.
		x.follow(t, "POST", "/v1/api-keys", x.as.key, `{"name":"for alice","scopes":["subscriptions:read"],"ownerId":"alice"}`, 403)
	}
	x.follow(t, "DELETE", "/v1/api-keys/"+k.ID, x.as.key, "", 204)
}

func checkKeyList(t *testing.T, x *isoCall, r response) {
	var l struct{ Data []gancho.APIKey }
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
	for _, k := range l.Data {
		if k.TenantID != x.as.tenant || k.OwnerID != x.as.owner {
			t.Errorf("%s lists key %s of tenant %q owner %q", x.as.name, k.ID, k.TenantID, k.OwnerID)
		}
	}
}

func checkCatalog(t *testing.T, x *isoCall, r response) {
	var l struct{ Data []gancho.EventType }
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
	if x.as.owner != "" && !slices.Contains(typeNames(l.Data), x.f.typeName) {
		t.Errorf("an owner-bound key of tenant A does not see the tenant's catalog: %v", typeNames(l.Data))
	}
}

func checkCreatedSub(t *testing.T, x *isoCall, r response) {
	notReplayed(t, x, r)
	var s gancho.Subscription
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
	v := x.as.victim
	if s.ID == v.sub || s.Secret == v.subSecret || s.TenantID != x.as.tenant || s.OwnerID != x.as.owner {
		t.Errorf("%s made subscription %s (tenant %q, owner %q); want a new one of tenant %q, owner %q",
			x.as.name, s.ID, s.TenantID, s.OwnerID, x.as.tenant, x.as.owner)
	}
	if ids := x.f.subIDs(t, v.key); slices.Contains(ids, s.ID) {
		t.Errorf("%s's subscription list shows %s's new subscription %s: %v", v.who, x.as.name, s.ID, ids)
	}
	// Removed again, so the caller's later lists hold only its baseline.
	x.follow(t, "DELETE", "/v1/subscriptions/"+s.ID, x.as.key, "", 204)
}

func checkSubList(t *testing.T, x *isoCall, r response) {
	var l struct{ Data []gancho.Subscription }
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
	for _, s := range l.Data {
		if s.TenantID != x.as.tenant || s.OwnerID != x.as.owner {
			t.Errorf("%s lists subscription %s of tenant %q owner %q", x.as.name, s.ID, s.TenantID, s.OwnerID)
		}
	}
}

func checkEventList(t *testing.T, x *isoCall, r response) {
	var l struct{ Data []gancho.Event }
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
	for _, ev := range l.Data {
		if ev.OwnerID != x.as.owner {
			t.Errorf("%s lists event %s of owner %q", x.as.name, ev.ID, ev.OwnerID)
		}
	}
}

// checkBatchPublished checks the one event of a batch as checkPublished checks a
// single publish.
func checkBatchPublished(t *testing.T, x *isoCall, r response) {
	var b struct {
		Data []struct {
			Error json.RawMessage `json:"error"`
		} `json:"data"`
	}
	var raw struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || json.Unmarshal(r.body, &raw) != nil || len(b.Data) != 1 {
		t.Fatalf("decode: %v: %s; want one item", err, r.body)
	}
	// The caller's single publish of the same event with the same key came first
	// (publish-event), so the item may replay that, the caller's own event; it must
	// never be the victim's (checkPublished) nor a conflict with the victim's key.
	if b.Data[0].Error != nil {
		t.Errorf("LEAK %s as %s: the batch item conflicts with %s's use of the key: %s", x.path, x.as.name, x.as.victim.who, r.body)
	}
	item := r
	item.body = raw.Data[0]
	checkPublished(t, x, item)
}

func checkPublished(t *testing.T, x *isoCall, r response) {
	notReplayed(t, x, r)
	var p struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode: %v: %s", err, r.body)
	}
	v := x.as.victim
	if p.ID == "" || p.ID == v.event {
		t.Errorf("%s published %q; want a new event", x.as.name, p.ID)
	}
	if x.as.owner == "" && p.Deliveries != 0 {
		t.Errorf("LEAK %s's event (tenant B has no subscriptions) was queued for %d deliveries: it reached tenant A's subscriptions", x.as.name, p.Deliveries)
	}
	// The event's deliveries, as the publisher sees them, name none of the victim's
	// subscriptions, nor the tenant's owner-less ones an owner-bound key cannot read.
	dl := x.follow(t, "GET", "/v1/events/"+p.ID+"/deliveries", x.as.key, "", 200)
	var l struct{ Data []gancho.Delivery }
	if err := json.Unmarshal(dl.body, &l); err != nil {
		t.Fatalf("decode: %v: %s", err, dl.body)
	}
	for _, d := range l.Data {
		if x.as.owner == "" {
			continue // B's own subscriptions only; the needles above cover A's
		}
		sub := x.f.send(t, "GET", "/v1/subscriptions/"+d.SubscriptionID, x.as.key, "", "")
		if sub.status != 200 {
			t.Errorf("LEAK GET /v1/events/%s/deliveries as %s shows delivery %s to subscription %s, which that key cannot read (%d): "+
				"an owner-bound key learns the ids (and attempt log) of subscriptions that are not its owner's", p.ID, x.as.name, d.ID, d.SubscriptionID, sub.status)
		}
	}
}

// --- fixture ------------------------------------------------------------------

func newIsoFixture(t *testing.T) *isoFixture {
	t.Helper()
	e := newEnv(t)
	u := strconv.FormatInt(time.Now().UnixNano(), 36)
	f := &isoFixture{e: e, store: e.b.store, tenantA: e.tenantA, shared: "mkshared" + u,
		typeName: "iso.t" + u + ".archivable", typePut: "iso.t" + u + ".kept", lacking: map[string]string{}}
	f.alice.key = e.create(e.tenantA, "alice", gancho.AllTenantScopes)
	f.bob = e.create(e.tenantA, "bob", gancho.AllTenantScopes)
	f.credentials = append(f.credentials, e.keyA, e.keyB, f.alice.key, f.bob)
	for _, s := range gancho.AllTenantScopes {
		k := e.create(e.tenantA, "", slices.DeleteFunc(slices.Clone(gancho.AllTenantScopes), func(x string) bool { return x == s }))
		f.lacking[s] = k
		f.credentials = append(f.credentials, k)
	}
	var tb gancho.Tenant
	f.must(t, "GET", "/v1/tenant", e.keyB, "", "", 200).json(t, &tb)
	f.tenantB = tb.ID

	// A's tenant-wide settings and catalog.
	f.must(t, "PATCH", "/v1/tenant", e.keyA, `{"name":"Tenant `+f.shared+`"}`, "", 200)
	var sec struct{ Secret string }
	f.must(t, "GET", "/v1/tenant/secret", e.keyA, "", "", 200).json(t, &sec)
	f.tenantSecret = sec.Secret
	for _, n := range []string{f.typeName, f.typePut} {
		f.must(t, "PUT", "/v1/event-types/"+n, e.keyA, `{"description":"catalog `+f.shared+`","schema":{"type":"object"}}`, "", 201)
	}

	f.wide = victim{who: "tenant A", key: e.keyA}
	f.alice.who = "alice"
	// Idempotency keys hold no marker: callers send them back.
	f.makeObjects(t, &f.wide, "mkwide"+u, "wide-"+u)
	f.makeObjects(t, &f.alice, "mkalice"+u, "alice-"+u)
	f.credentials = append(f.credentials, f.wide.apiKeyValue, f.alice.apiKeyValue)

	f.cursors = map[string]string{}
	for _, rt := range httpapi.Routes() {
		if c, ok := isolationCases[rt.Name]; !ok || !c.cursor {
			continue
		}
		var l struct{ NextCursor *string }
		f.must(t, "GET", rt.Path+"?limit=1", e.keyA, "", "", 200).json(t, &l)
		if l.NextCursor == nil {
			t.Fatalf("GET %s?limit=1 with tenant A's key gave no cursor", rt.Path)
		}
		f.cursors[rt.Name] = *l.NextCursor
	}
	return f
}

// makeObjects has v's credential make v's objects through the API, each holding
// marker, and ends v's delivery failed, as the delivery worker would after a 500.
func (f *isoFixture) makeObjects(t *testing.T, v *victim, marker, tag string) {
	t.Helper()
	v.marker = marker
	v.subURL = "http://127.0.0.1:1/hooks/" + marker
	v.authValue = "auth-" + marker + "-credential"
	v.headerValue = "Bearer hdr-" + marker + "-credential"
	v.subBody = `{"name":"sub ` + marker + `","description":"of ` + marker + `","url":"` + v.subURL + `","events":["order.created"],` +
		`"headers":{"X-Custom":"visible-` + marker + `","Authorization":"` + v.headerValue + `"},` +
		`"auth":{"type":"static","header":"X-Api-Token","value":"` + v.authValue + `"},"metadata":{"marker":"` + marker + `"}}`
	v.subIdem = "idem-sub-" + tag
	var sub gancho.Subscription
	f.must(t, "POST", "/v1/subscriptions", v.key, v.subBody, v.subIdem, 201).json(t, &sub)
	v.sub, v.subSecret = sub.ID, sub.Secret

	v.apiKeyBody = `{"name":"key ` + marker + `","scopes":["subscriptions:read"]}`
	v.apiKeyIdem = "idem-key-" + tag
	var k struct {
		gancho.APIKey
		Key string `json:"key"`
	}
	f.must(t, "POST", "/v1/api-keys", v.key, v.apiKeyBody, v.apiKeyIdem, 201).json(t, &k)
	v.apiKey, v.apiKeyValue = k.ID, k.Key

	v.eventIdem = "idem-event-" + tag
	v.eventBody = `{"type":"order.created","payload":{"marker":"` + marker + `"},"subject":"subject-` + marker + `",` +
		`"reference":{"type":"request","id":"ref-` + marker + `"},"idempotencyKey":"` + v.eventIdem + `"}`
	var ev struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	f.must(t, "POST", "/v1/events", v.key, v.eventBody, v.eventIdem, 202).json(t, &ev)
	if ev.Deliveries < 1 {
		t.Fatalf("%s's event reached no subscription: %+v", v.who, ev)
	}
	v.event = ev.ID
	v.delivery = gancho.DeliveryID(ev.ID, v.sub)

	ctx := context.Background()
	d, err := f.store.GetDelivery(ctx, f.tenantA, v.delivery)
	if err != nil {
		t.Fatalf("%s's delivery: %v", v.who, err)
	}
	a := gancho.Attempt{Number: len(d.Attempts) + 1, At: time.Now().UTC(), StatusCode: 500, DurationMs: 7,
		Response: "receiver of " + marker + " failed", Outcome: gancho.OutcomeFailure}
	if err := f.store.RecordAttempt(ctx, d, a, gancho.StatusFailed, nil, false); err != nil {
		t.Fatalf("fail %s's delivery: %v", v.who, err)
	}
	var got gancho.Delivery
	f.must(t, "GET", "/v1/deliveries/"+v.delivery, v.key, "", "", 200).json(t, &got)
	if got.Status != gancho.StatusFailed || len(got.Attempts) != 1 {
		t.Fatalf("%s's delivery = %+v, want failed after one attempt", v.who, got)
	}
}

// needlesForB is everything of tenant A: its id, settings, catalog and every object
// of its own and of its owners.
func (f *isoFixture) needlesForB() []needle {
	out := []needle{
		{"tenant A's id", f.tenantA},
		{"tenant A's settings and catalog marker", f.shared},
		{"tenant A's default secret", f.tenantSecret},
		{"tenant A's catalog type", f.typeName},
		// f.typePut is left out: B PUTs that name into its own catalog and lists it.
	}
	out = append(out, f.wide.needles()...)
	return append(out, f.alice.needles()...)
}

// needlesForBob is everything of tenant A that is not tenant-wide readable: its
// default secret, its owner-less objects and alice's. The tenant's settings and
// catalog are the tenant's, readable by its owners.
func (f *isoFixture) needlesForBob() []needle {
	out := []needle{{"tenant A's default secret", f.tenantSecret}}
	out = append(out, f.wide.needles()...)
	return append(out, f.alice.needles()...)
}

// snapshot is what tenant A reads of its objects, by what it read.
func (f *isoFixture) snapshot(t *testing.T) map[string]string {
	t.Helper()
	a := f.e.keyA
	out := map[string]string{}
	get := func(path, key string) {
		r := f.send(t, "GET", path, key, "", "")
		out["GET "+path+" with "+keyName(f, key)] = fmt.Sprintf("%d %s", r.status, strings.TrimSpace(string(r.body)))
	}
	get("/v1/tenant", a)
	get("/v1/tenant/secret", a)
	for _, v := range []*victim{&f.wide, &f.alice} {
		get("/v1/subscriptions/"+v.sub, a)
		get("/v1/subscriptions/"+v.sub+"/secret", a)
		get("/v1/subscriptions/"+v.sub, v.key)
		get("/v1/api-keys/"+v.apiKey, a)
		get("/v1/deliveries/"+v.delivery, a)
		get("/v1/deliveries/"+v.delivery, v.key)
		get("/v1/events/"+v.event, a)
		get("/v1/events/"+v.event, v.key)
		get("/v1/events/"+v.event+"/deliveries", a)
	}
	var l struct{ Data []gancho.EventType }
	f.must(t, "GET", "/v1/event-types?limit=100", a, "", "", 200).json(t, &l)
	for _, name := range []string{f.typeName, f.typePut} {
		i := slices.IndexFunc(l.Data, func(et gancho.EventType) bool { return et.Name == name })
		if i < 0 {
			out["event type "+name] = "missing"
			continue
		}
		b, _ := json.Marshal(l.Data[i])
		out["event type "+name] = string(b)
	}
	out["tenant A's subscriptions"] = strings.Join(f.subIDs(t, a), ",")
	out["alice's subscriptions"] = strings.Join(f.subIDs(t, f.alice.key), ",")
	out["tenant A's API keys"] = strings.Join(f.keyIDs(t, a), ",")
	out["alice's API keys"] = strings.Join(f.keyIDs(t, f.alice.key), ",")
	return out
}

func keyName(f *isoFixture, key string) string {
	if key == f.e.keyA {
		return "tenant A's key"
	}
	return "alice's key"
}

func (f *isoFixture) subIDs(t *testing.T, key string) []string {
	t.Helper()
	var l struct{ Data []gancho.Subscription }
	f.must(t, "GET", "/v1/subscriptions?limit=100", key, "", "", 200).json(t, &l)
	var ids []string
	for _, s := range l.Data {
		ids = append(ids, s.ID)
	}
	return ids
}

func (f *isoFixture) keyIDs(t *testing.T, key string) []string {
	t.Helper()
	var l struct{ Data []gancho.APIKey }
	f.must(t, "GET", "/v1/api-keys?limit=100", key, "", "", 200).json(t, &l)
	var ids []string
	for _, k := range l.Data {
		ids = append(ids, k.ID)
	}
	return ids
}

// send makes one request on the test server: key as a bearer credential (none when
// empty), body as JSON (none when empty), idem as Idempotency-Key (none when empty).
func (f *isoFixture) send(t *testing.T, method, path, key, body, idem string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set(httpapi.HeaderIdempotencyKey, idem)
	}
	resp, err := f.e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// must sends a request the test depends on and stops the test unless it answers want.
func (f *isoFixture) must(t *testing.T, method, path, key, body, idem string, want int) response {
	t.Helper()
	r := f.send(t, method, path, key, body, idem)
	if r.status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
