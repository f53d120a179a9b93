package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// env is one API server with two tenants, A and B, on the test backend.
type env struct {
	t       *testing.T
	b       *backend
	srv     *httptest.Server
	keyA    string
	keyB    string
	tenantA string
	create  func(tenant, owner string, scopes []string) string // returns a new key
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := newBackend(t)
	// Neither store's indexes lag: push results need not wait for fan-outs to settle.
	b.settle(0)
	api := b.api(t, httpapi.Config{Policy: b.policy})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, b: b, srv: srv}
	tenants := map[string]bool{}
	e.create = func(tenant, owner string, scopes []string) string {
		t.Helper()
		raw := auth.NewAPIKey()
		k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, time.Now()), TenantID: tenant, Name: "test", Scopes: scopes, OwnerID: owner, CreatedAt: time.Now()}
		var err error
		if !tenants[tenant] {
			tenants[tenant] = true
			err = b.store.CreateTenant(context.Background(), gancho.Tenant{ID: tenant, Name: tenant, AllowedEventTypesOnly: true, Secret: gancho.NewSecret(), CreatedAt: time.Now()}, k, auth.HashKey(raw))
		} else {
			err = b.store.PutAPIKey(context.Background(), k, auth.HashKey(raw))
		}
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	e.tenantA = testenv.TenantID()
	e.keyA = e.create(e.tenantA, "", gancho.AllTenantScopes)
	e.keyB = e.create(testenv.TenantID(), "", gancho.AllTenantScopes)
	e.registerTypes(e.keyA, seedTypes...)
	e.registerTypes(e.keyB, seedTypes...)
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (e *env) call(method, path, key, contentType, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) json(method, path, key, body string) response {
	return e.call(method, path, key, "application/json", body)
}

type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail"`
	Errors []gancho.FieldError `json:"errors"`
}

// wantProblem checks a problem+json response with status and, if field is set, an
// error naming it.
func wantProblem(t *testing.T, r response, status int, field string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (%s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problem
	r.json(t, &p)
	if p.Status != status || p.Title == "" || p.Type == "" || p.Detail == "" {
		t.Fatalf("problem = %+v", p)
	}
	if field == "" {
		return
	}
	for _, fe := range p.Errors {
		if fe.Field == field && fe.Message != "" {
			return
		}
	}
	t.Fatalf("problem does not name field %q: %s", field, r.body)
}

func (e *env) listIDs(key string) []string {
	e.t.Helper()
	r := e.call("GET", "/v1/subscriptions?limit=100", key, "", "")
	if r.status != 200 {
		e.t.Fatalf("list: %d %s", r.status, r.body)
	}
	var l struct {
		Data []gancho.Subscription `json:"data"`
	}
	r.json(e.t, &l)
	var ids []string
	for _, s := range l.Data {
		ids = append(ids, s.ID)
	}
	return ids
}

func (e *env) createSub(key, body string) gancho.Subscription {
	e.t.Helper()
	r := e.json("POST", "/v1/subscriptions", key, body)
	if r.status != 201 {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var s gancho.Subscription
	r.json(e.t, &s)
	return s
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	readOnly := e.create(e.tenantA, "", []string{gancho.ScopeSubscriptionsRead})
	tests := []struct {
		name   string
		header [2]string
		method string
		status int
	}{
		{"no credentials", [2]string{}, "GET", 401},
		{"unknown key", [2]string{"Authorization", "Bearer gk_unknown"}, "GET", 401},
		{"not bearer", [2]string{"Authorization", "Basic " + e.keyA}, "GET", 401},
		{"empty bearer", [2]string{"Authorization", "Bearer "}, "GET", 401},
		{"bearer key", [2]string{"Authorization", "Bearer " + e.keyA}, "GET", 200},
		{"lower-case scheme", [2]string{"Authorization", "bearer " + e.keyA}, "GET", 200},
		{"X-API-Key", [2]string{"X-API-Key", e.keyA}, "GET", 200},
		{"missing scope", [2]string{"X-API-Key", readOnly}, "POST", 403},
		{"scope held", [2]string{"X-API-Key", readOnly}, "GET", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+"/v1/subscriptions", strings.NewReader(`{"url":"https://example.com/h"}`))
			req.Header.Set("Content-Type", "application/json")
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			resp, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := response{resp.StatusCode, resp.Header, b}
			if tc.status >= 400 {
				wantProblem(t, r, tc.status, "")
			} else if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, b)
			}
		})
	}
	if ids := e.listIDs(e.keyA); len(ids) != 0 {
		t.Errorf("a refused request stored subscriptions: %v", ids)
	}
}

func TestCreateSubscriptionBadInput(t *testing.T) {
	e := newEnv(t)
	existing := e.createSub(e.keyA, `{"url":"https://example.com/keep","events":["a.b"]}`)
	big := `{"url":"https://example.com/x","description":"` + strings.Repeat("x", 300<<10) + `"}`
	tests := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"malformed JSON", "application/json", `{"url":`, 400, ""},
		{"not an object", "application/json", `[1,2]`, 400, ""},
		{"empty body", "application/json", ``, 400, ""},
		{"two objects", "application/json", `{"url":"https://example.com"} {}`, 400, ""},
		{"not JSON", "text/plain", `url=https://example.com`, 415, ""},
		{"form", "application/x-www-form-urlencoded", `url=https://example.com`, 415, ""},
		{"too large", "application/json", big, 413, ""},
		{"missing url", "application/json", `{"events":["a.b"]}`, 422, "url"},
		{"url not a string", "application/json", `{"url":5}`, 422, "url"},
		{"relative url", "application/json", `{"url":"/hooks"}`, 422, "url"},
		{"ftp url", "application/json", `{"url":"ftp://example.com/x"}`, 422, "url"},
		{"url without host", "application/json", `{"url":"https:///x"}`, 422, "url"},
		{"empty events", "application/json", `{"url":"https://example.com","events":[]}`, 422, "events"},
		{"bad event pattern", "application/json", `{"url":"https://example.com","events":["a..b"]}`, 422, "events[0]"},
		{"events not a list", "application/json", `{"url":"https://example.com","events":"a.b"}`, 422, "events"},
		{"unknown field", "application/json", `{"url":"https://example.com","colour":"red"}`, 422, "colour"},
		{"bad method", "application/json", `{"url":"https://example.com","method":"TRACE"}`, 422, "method"},
		{"reserved header", "application/json", `{"url":"https://example.com","headers":{"Host":"x"}}`, 422, "headers.Host"},
		{"timeout out of range", "application/json", `{"url":"https://example.com","timeoutSeconds":99}`, 422, "timeoutSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", "/v1/subscriptions", e.keyA, tc.contentType, tc.body)
			wantProblem(t, r, tc.status, tc.field)
		})
	}
	ids := e.listIDs(e.keyA)
	if len(ids) != 1 || ids[0] != existing.ID {
		t.Fatalf("after refused requests the tenant has %v, want only %s", ids, existing.ID)
	}
	var got gancho.Subscription
	e.call("GET", "/v1/subscriptions/"+existing.ID, e.keyA, "", "").json(t, &got)
	if got.URL != existing.URL || len(got.Events) != 1 || got.Events[0] != "a.b" {
		t.Fatalf("stored subscription changed: %+v", got)
	}
}

func TestSubscriptionLifecycle(t *testing.T) {
	e := newEnv(t)
	r := e.json("POST", "/v1/subscriptions", e.keyA, `{"name":"CRM","url":"https://example.com/hooks/:id","events":["crm.lead.created","crm.*"],"headers":{"X-Custom":"v"},"metadata":{"team":"a"}}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	var created gancho.Subscription
	r.json(t, &created)
	if loc := r.header.Get("Location"); loc != "/v1/subscriptions/"+created.ID {
		t.Errorf("Location = %q", loc)
	}
	if !strings.HasPrefix(created.ID, "sub_") || !strings.HasPrefix(created.Secret, "whsec_") || created.TenantID != e.tenantA {
		t.Errorf("created = %+v", created)
	}
	g := e.call("GET", "/v1/subscriptions/"+created.ID, e.keyA, "", "")
	if g.status != 200 || strings.Contains(string(g.body), "whsec_") || strings.Contains(string(g.body), `"secret"`) {
		t.Fatalf("get: %d %s (must not show the secret)", g.status, g.body)
	}
	var got gancho.Subscription
	g.json(t, &got)
	if got.Name != "CRM" || got.Headers["X-Custom"] != "v" || string(got.Metadata) != `{"team":"a"}` || got.Method != "POST" {
		t.Errorf("get = %+v", got)
	}
	if d := e.call("DELETE", "/v1/subscriptions/"+created.ID, e.keyA, "", ""); d.status != 204 || len(d.body) != 0 {
		t.Fatalf("delete: %d %s", d.status, d.body)
	}
	wantProblem(t, e.call("GET", "/v1/subscriptions/"+created.ID, e.keyA, "", ""), 404, "")
	wantProblem(t, e.call("DELETE", "/v1/subscriptions/"+created.ID, e.keyA, "", ""), 404, "")
	wantProblem(t, e.call("GET", "/v1/subscriptions/sub_doesnotexist", e.keyA, "", ""), 404, "")
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := 0; i < 5; i++ {
		want = append(want, e.createSub(e.keyA, `{"url":"https://example.com/`+string(rune('a'+i))+`"}`).ID)
	}
	// Newest first is descending id order: ids start with their millisecond, and
	// subscriptions made within one millisecond (a fast store) order by the rest.
	slices.Sort(want)
	slices.Reverse(want)
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := e.call("GET", "/v1/subscriptions?limit=2&cursor="+cursor, e.keyA, "", "")
		var l struct {
			Data       []gancho.Subscription `json:"data"`
			NextCursor *string               `json:"nextCursor"`
		}
		r.json(t, &l)
		for _, s := range l.Data {
			got = append(got, s.ID)
		}
		if l.NextCursor == nil {
			break
		}
		cursor = *l.NextCursor
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("paged ids %v, want newest first %v", got, want)
	}
	wantProblem(t, e.call("GET", "/v1/subscriptions?limit=0", e.keyA, "", ""), 400, "limit")
	wantProblem(t, e.call("GET", "/v1/subscriptions?limit=101", e.keyA, "", ""), 400, "limit")
	wantProblem(t, e.call("GET", "/v1/subscriptions?cursor=garbage", e.keyA, "", ""), 400, "cursor")
	wantProblem(t, e.call("GET", "/v1/subscriptions?isActive=maybe", e.keyA, "", ""), 400, "isActive")
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a := e.createSub(e.keyA, `{"url":"https://example.com/a"}`)
	// Tenant B sees nothing of A: same 404 as an unknown id, and its list is empty.
	wantProblem(t, e.call("GET", "/v1/subscriptions/"+a.ID, e.keyB, "", ""), 404, "")
	wantProblem(t, e.call("DELETE", "/v1/subscriptions/"+a.ID, e.keyB, "", ""), 404, "")
	if ids := e.listIDs(e.keyB); len(ids) != 0 {
		t.Fatalf("tenant B lists %v", ids)
	}
	// A's cursor is refused on B's list.
	e.createSub(e.keyA, `{"url":"https://example.com/a2"}`)
	var l struct {
		NextCursor *string `json:"nextCursor"`
	}
	e.call("GET", "/v1/subscriptions?limit=1", e.keyA, "", "").json(t, &l)
	if l.NextCursor == nil {
		t.Fatal("no cursor")
	}
	wantProblem(t, e.call("GET", "/v1/subscriptions?limit=1&cursor="+*l.NextCursor, e.keyB, "", ""), 400, "cursor")
	// A's subscription survived B's delete.
	if r := e.call("GET", "/v1/subscriptions/"+a.ID, e.keyA, "", ""); r.status != 200 {
		t.Fatalf("A's subscription after B's delete: %d", r.status)
	}
}

func TestOwnerBoundKey(t *testing.T) {
	e := newEnv(t)
	alice := e.create(e.tenantA, "alice", gancho.AllTenantScopes)
	bob := e.create(e.tenantA, "bob", gancho.AllTenantScopes)
	own := e.createSub(alice, `{"url":"https://example.com/alice"}`)
	if own.OwnerID != "alice" {
		t.Fatalf("owner-bound key created a subscription for %q", own.OwnerID)
	}
	wantProblem(t, e.json("POST", "/v1/subscriptions", alice, `{"url":"https://example.com/x","ownerId":"bob"}`), 422, "ownerId")
	wantProblem(t, e.call("GET", "/v1/subscriptions/"+own.ID, bob, "", ""), 404, "")
	wantProblem(t, e.call("DELETE", "/v1/subscriptions/"+own.ID, bob, "", ""), 404, "")
	if ids := e.listIDs(bob); len(ids) != 0 {
		t.Fatalf("bob lists %v", ids)
	}
	if ids := e.listIDs(e.keyA); len(ids) != 1 {
		t.Fatalf("the tenant-wide key lists %v, want alice's subscription", ids)
	}
}

func TestPublishBadInput(t *testing.T) {
	e := newEnv(t)
	big := `{"type":"a.b","payload":{"x":"` + strings.Repeat("x", 257<<10) + `"}}`
	tests := []struct {
		name, body string
		status     int
		field      string
	}{
		{"malformed", `{"type":`, 400, ""},
		{"missing type", `{"payload":{}}`, 422, "type"},
		{"test type", `{"type":"webhook.test","payload":{}}`, 422, "type"},
		{"bad type", `{"type":"a b","payload":{}}`, 422, "type"},
		{"missing payload", `{"type":"a.b"}`, 422, "payload"},
		{"payload too large", big, 413, ""},
		{"reference without id", `{"type":"a.b","payload":{},"reference":{"type":"request"}}`, 422, "reference.id"},
		{"unknown field", `{"type":"a.b","payload":{},"extra":1}`, 422, "extra"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.json("POST", "/v1/events", e.keyA, tc.body), tc.status, tc.field)
		})
	}
	r := e.json("POST", "/v1/events", e.keyA, `{"type":"a.b","payload":{"ok":true}}`)
	if r.status != 202 {
		t.Fatalf("valid publish: %d %s", r.status, r.body)
	}
	var pub struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	r.json(t, &pub)
	if !strings.HasPrefix(pub.ID, "evt_") || pub.Deliveries != 0 {
		t.Fatalf("publish = %+v", pub)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.call("GET", "/v1/nothing", e.keyA, "", ""), 404, "")
	r := e.call("PUT", "/v1/events", e.keyA, "application/json", "{}")
	wantProblem(t, r, 405, "")
	if r.header.Get("Allow") != "POST, GET" {
		t.Errorf("Allow = %q", r.header.Get("Allow"))
	}
	if h := e.call("GET", "/v1/health", "", "", ""); h.status != 200 {
		t.Errorf("health without credentials: %d", h.status)
	}
}
