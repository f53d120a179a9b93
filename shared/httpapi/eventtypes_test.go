package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/publish"
)

// putType PUTs an event type and fails the test unless it answers 200 or 201.
func (e *env) putType(key, name, body string) gancho.EventType {
	e.t.Helper()
	r := e.json("PUT", "/v1/event-types/"+url.PathEscape(name), key, body)
	if r.status != 200 && r.status != 201 {
		e.t.Fatalf("PUT event type %s: %d %s", name, r.status, r.body)
	}
	var et gancho.EventType
	r.json(e.t, &et)
	return et
}

// listTypes reads the whole catalog, page by page.
func (e *env) listTypes(key string, limit int) []gancho.EventType {
	e.t.Helper()
	var out []gancho.EventType
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 50 {
			e.t.Fatal("catalog paging does not end")
		}
		r := e.call("GET", "/v1/event-types?limit="+itoa(limit)+"&cursor="+url.QueryEscape(cursor), key, "", "")
		if r.status != 200 {
			e.t.Fatalf("list event types: %d %s", r.status, r.body)
		}
		var l struct {
			Data       []gancho.EventType `json:"data"`
			NextCursor *string            `json:"nextCursor"`
		}
		r.json(e.t, &l)
		if l.Data == nil || len(l.Data) > limit {
			e.t.Fatalf("page of %d at limit %d: %s", len(l.Data), limit, r.body)
		}
		out = append(out, l.Data...)
		if l.NextCursor == nil {
			return out
		}
		cursor = *l.NextCursor
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func typeNames(ets []gancho.EventType) []string {
	var out []string
	for _, et := range ets {
		out = append(out, et.Name)
	}
	return out
}

func findType(t *testing.T, ets []gancho.EventType, name string) gancho.EventType {
	t.Helper()
	for _, et := range ets {
		if et.Name == name {
			return et
		}
	}
	t.Fatalf("%s not in the catalog %v", name, typeNames(ets))
	return gancho.EventType{}
}

// seedTypes are the types newEnv's tenants start with (see registerTypes).
var seedTypes = []string{"a.b", "crm.lead.created", "order.created", "invoice.paid", "webhook.ping"}

// registerTypes adds the event types that tests publish and subscribe to.
func (e *env) registerTypes(key string, names ...string) {
	e.t.Helper()
	for _, n := range names {
		e.putType(key, n, `{"description":"test type"}`)
	}
}

func TestEventTypeCatalogLifecycle(t *testing.T) {
	e := newEnv(t)
	const schema = `{"type":"object","required":["leadId"],"properties":{"leadId":{"type":"string"}}}`

	// A fresh tenant (apart from the seed types) lists the built-in types:
	// webhook.test and the operational gancho.* ones.
	before := e.listTypes(e.keyA, 100)
	fresh := slices.Clone(seedTypes)
	for _, b := range gancho.BuiltInEventTypes() {
		fresh = append(fresh, b.Name)
	}
	if got := typeNames(before); !slices.Equal(got, slices.Sorted(slices.Values(fresh))) {
		t.Fatalf("catalog = %v", got)
	}
	if wt := findType(t, before, gancho.TypeTest); !wt.BuiltIn || wt.Archived || wt.Description == "" {
		t.Errorf("webhook.test = %+v", wt)
	}

	r := e.json("PUT", "/v1/event-types/crm.lead.moved", e.keyA, `{"description":"a lead changed stage","schema":`+schema+`}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if loc := r.header.Get("Location"); loc != "/v1/event-types/crm.lead.moved" {
		t.Errorf("Location = %q", loc)
	}
	var created gancho.EventType
	r.json(t, &created)
	if created.Name != "crm.lead.moved" || created.Description != "a lead changed stage" || string(created.Schema) != schema ||
		created.Archived || created.BuiltIn || created.CreatedAt.IsZero() || !created.CreatedAt.Equal(created.UpdatedAt) {
		t.Fatalf("created = %+v", created)
	}

	time.Sleep(5 * time.Millisecond)
	r = e.json("PUT", "/v1/event-types/crm.lead.moved", e.keyA, `{"description":"moved"}`)
	if r.status != 200 || r.header.Get("Location") != "" {
		t.Fatalf("update: %d %s (Location %q)", r.status, r.body, r.header.Get("Location"))
	}
	var updated gancho.EventType
	r.json(t, &updated)
	if !updated.CreatedAt.Equal(created.CreatedAt) || !updated.UpdatedAt.After(created.UpdatedAt) || updated.Description != "moved" || updated.Schema != nil {
		t.Fatalf("updated = %+v (PUT replaces: the omitted schema is removed)", updated)
	}

	all := e.listTypes(e.keyA, 100)
	got := findType(t, all, "crm.lead.moved")
	if got.Description != "moved" || got.Schema != nil || !got.UpdatedAt.Equal(updated.UpdatedAt) {
		t.Errorf("listed = %+v", got)
	}
	if !slices.IsSorted(typeNames(all)) {
		t.Errorf("catalog not sorted by name: %v", typeNames(all))
	}
	raw := e.call("GET", "/v1/event-types", e.keyA, "", "")
	if !strings.Contains(string(raw.body), `"nextCursor":null`) {
		t.Errorf("list shape: %s", raw.body)
	}
}

func TestPutEventTypeBadInput(t *testing.T) {
	e := newEnv(t)
	e.putType(e.keyA, "crm.lead.created", `{"description":"keep","schema":{"type":"object"}}`)
	before := e.listTypes(e.keyA, 100)
	tooLarge := `{"schema":{"description":"` + strings.Repeat("x", 64<<10) + `"}}`
	tests := []struct {
		name, method, path, contentType, body string
		status                                int
		field                                 string
	}{
		{"empty segment", "PUT", "crm..lead", "application/json", `{}`, 422, "name"},
		{"space", "PUT", "crm%20lead", "application/json", `{}`, 422, "name"},
		{"prefix wildcard", "PUT", "crm.*", "application/json", `{}`, 422, "name"},
		{"star", "PUT", "*", "application/json", `{}`, 422, "name"},
		{"name too long", "PUT", strings.Repeat("a", 201), "application/json", `{}`, 422, "name"},
		{"built-in", "PUT", "webhook.test", "application/json", `{"description":"mine"}`, 409, "name"},
		{"archive built-in", "DELETE", "webhook.test", "", ``, 409, "name"},
		{"invalid schema", "PUT", "crm.lead.created", "application/json", `{"schema":{"type":"objekt"}}`, 422, "schema"},
		{"schema not an object", "PUT", "crm.lead.created", "application/json", `{"schema":"object"}`, 422, "schema"},
		{"remote $ref", "PUT", "crm.lead.created", "application/json", `{"schema":{"$ref":"http://127.0.0.1:9/s.json"}}`, 422, "schema"},
		{"relative $ref", "PUT", "a.new", "application/json", `{"schema":{"$ref":"defs.json#/x"}}`, 422, "schema"},
		{"remote $schema", "PUT", "a.new", "application/json", `{"schema":{"$schema":"http://127.0.0.1:9/meta"}}`, 422, "schema"},
		{"schema too large", "PUT", "crm.lead.created", "application/json", tooLarge, 422, "schema"},
		// Once seconds to compile: nesting and numbers are bounded.
		{"schema nested too deep", "PUT", "crm.lead.created", "application/json", `{"schema":` + strings.Repeat(`{"properties":{"a":`, 1000) + `{}` + strings.Repeat(`}}`, 1000) + `}`, 422, "schema"},
		{"costly number in schema", "PUT", "crm.lead.created", "application/json", `{"schema":{"multipleOf":1e-999999}}`, 422, "schema"},
		{"description too long", "PUT", "crm.lead.created", "application/json", `{"description":"` + strings.Repeat("d", 501) + `"}`, 422, "description"},
		{"description not a string", "PUT", "crm.lead.created", "application/json", `{"description":5}`, 422, "description"},
		{"unknown field", "PUT", "crm.lead.created", "application/json", `{"name":"other"}`, 422, "name"},
		{"malformed JSON", "PUT", "crm.lead.created", "application/json", `{"schema":`, 400, ""},
		{"empty body", "PUT", "a.new", "application/json", ``, 400, ""},
		{"not JSON", "PUT", "a.new", "text/plain", `description=x`, 415, ""},
		{"archive unknown", "DELETE", "a.unknown", "", ``, 404, ""},
		{"archive invalid name", "DELETE", "a..b", "", ``, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.method, "/v1/event-types/"+tc.path, e.keyA, tc.contentType, tc.body)
			wantProblem(t, r, tc.status, tc.field)
			if tc.field == "schema" && strings.Contains(string(r.body), "gancho.invalid") {
				t.Errorf("problem shows the internal schema location: %s", r.body)
			}
		})
	}
	after := e.listTypes(e.keyA, 100)
	if len(after) != len(before) {
		t.Fatalf("catalog changed: %v, was %v", typeNames(after), typeNames(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.Name != b.Name || a.Description != b.Description || string(a.Schema) != string(b.Schema) || a.Archived != b.Archived || !a.UpdatedAt.Equal(b.UpdatedAt) {
			t.Errorf("catalog entry changed: %+v, was %+v", a, b)
		}
	}
}

func TestEventTypePaging(t *testing.T) {
	e := newEnv(t)
	// Around webhook.test in name order: '-' < '.' < digits < upper case < '_' < lower case.
	e.registerTypes(e.keyA, "webhook-x.a", "webhook.a", "webhook.tesu", "webhook.test2", "webhook_z", "x.y", "A.b")
	var want []string
	for _, b := range gancho.BuiltInEventTypes() {
		want = append(want, b.Name)
	}
	want = append(want, seedTypes...)
	want = append(want, "webhook-x.a", "webhook.a", "webhook.tesu", "webhook.test2", "webhook_z", "x.y", "A.b")
	slices.Sort(want)
	for _, limit := range []int{1, 2, 3, 5, 11, 12, 100} {
		t.Run("limit "+itoa(limit), func(t *testing.T) {
			if got := typeNames(e.listTypes(e.keyA, limit)); !slices.Equal(got, want) {
				t.Fatalf("paged %v, want %v", got, want)
			}
		})
	}
	wantProblem(t, e.call("GET", "/v1/event-types?cursor=%21%21", e.keyA, "", ""), 400, "cursor")
	wantProblem(t, e.call("GET", "/v1/event-types?cursor=YS4uYg", e.keyA, "", ""), 400, "cursor") // "a..b"
	wantProblem(t, e.call("GET", "/v1/event-types?limit=0", e.keyA, "", ""), 400, "limit")
	wantProblem(t, e.call("GET", "/v1/event-types?limit=101", e.keyA, "", ""), 400, "limit")
}

func TestArchiveEventType(t *testing.T) {
	e := newEnv(t)
	e.registerTypes(e.keyA, "chat.message.sent")
	existing := e.createSub(e.keyA, `{"url":"https://example.com/chat","events":["chat.message.sent"]}`)

	if r := e.call("DELETE", "/v1/event-types/chat.message.sent", e.keyA, "", ""); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("archive: %d %s", r.status, r.body)
	}
	if !findType(t, e.listTypes(e.keyA, 100), "chat.message.sent").Archived {
		t.Fatal("archived type not listed as archived")
	}
	if r := e.call("DELETE", "/v1/event-types/chat.message.sent", e.keyA, "", ""); r.status != 204 {
		t.Fatalf("archive again: %d %s", r.status, r.body)
	}
	for _, events := range []string{`["chat.message.sent"]`, `["chat.*"]`, `["chat.message.*"]`} {
		wantProblem(t, e.json("POST", "/v1/subscriptions", e.keyA, `{"url":"https://example.com/x","events":`+events+`}`), 422, "events[0]")
	}
	wantProblem(t, e.json("POST", "/v1/events", e.keyA, `{"type":"chat.message.sent","payload":{}}`), 422, "type")
	// Existing subscriptions keep working.
	if r := e.call("GET", "/v1/subscriptions/"+existing.ID, e.keyA, "", ""); r.status != 200 {
		t.Fatalf("subscription to the archived type: %d", r.status)
	}

	// PUT un-archives.
	if et := e.putType(e.keyA, "chat.message.sent", `{}`); et.Archived {
		t.Fatalf("PUT left it archived: %+v", et)
	}
	if findType(t, e.listTypes(e.keyA, 100), "chat.message.sent").Archived {
		t.Fatal("listed as archived after PUT")
	}
	e.createSub(e.keyA, `{"url":"https://example.com/y","events":["chat.*"]}`)
	if r := e.json("POST", "/v1/events", e.keyA, `{"type":"chat.message.sent","payload":{}}`); r.status != 202 {
		t.Fatalf("publish after un-archive: %d %s", r.status, r.body)
	}
}

func TestEventTypeIsolation(t *testing.T) {
	e := newEnv(t)
	e.putType(e.keyA, "secret.thing", `{"description":"A's","schema":{"type":"object"}}`)
	if names := typeNames(e.listTypes(e.keyB, 100)); slices.Contains(names, "secret.thing") {
		t.Fatalf("B lists A's type: %v", names)
	}
	wantProblem(t, e.call("DELETE", "/v1/event-types/secret.thing", e.keyB, "", ""), 404, "")
	wantProblem(t, e.json("POST", "/v1/subscriptions", e.keyB, `{"url":"https://example.com/b","events":["secret.thing"]}`), 422, "events[0]")
	wantProblem(t, e.json("POST", "/v1/subscriptions", e.keyB, `{"url":"https://example.com/b","events":["secret.*"]}`), 422, "events[0]")
	wantProblem(t, e.json("POST", "/v1/events", e.keyB, `{"type":"secret.thing","payload":{}}`), 422, "type")

	// B's PUT of the same name creates B's own type; A's is untouched.
	r := e.json("PUT", "/v1/event-types/secret.thing", e.keyB, `{"description":"B's"}`)
	if r.status != 201 {
		t.Fatalf("B's PUT: %d %s", r.status, r.body)
	}
	a := findType(t, e.listTypes(e.keyA, 100), "secret.thing")
	if a.Description != "A's" || string(a.Schema) != `{"type":"object"}` || a.Archived {
		t.Fatalf("A's type after B's writes: %+v", a)
	}
	// A's cursor means the same names on B's list and reveals nothing.
	if b := findType(t, e.listTypes(e.keyB, 1), "secret.thing"); b.Description != "B's" {
		t.Fatalf("B's type: %+v", b)
	}
}

func TestEventTypeScopesAndOwners(t *testing.T) {
	e := newEnv(t)
	alice := e.create(e.tenantA, "alice", gancho.AllTenantScopes)
	reader := e.create(e.tenantA, "", []string{gancho.ScopeSubscriptionsRead})
	publisher := e.create(e.tenantA, "", []string{gancho.ScopeEventsWrite})

	if names := typeNames(e.listTypes(alice, 100)); !slices.Contains(names, "a.b") {
		t.Fatalf("owner-bound key lists %v", names)
	}
	if names := typeNames(e.listTypes(reader, 100)); !slices.Contains(names, "a.b") {
		t.Fatalf("read-only key lists %v", names)
	}
	wantProblem(t, e.json("PUT", "/v1/event-types/alice.thing", alice, `{}`), 403, "")
	wantProblem(t, e.call("DELETE", "/v1/event-types/a.b", alice, "", ""), 403, "")
	wantProblem(t, e.json("PUT", "/v1/event-types/reader.thing", reader, `{}`), 403, "")
	wantProblem(t, e.call("DELETE", "/v1/event-types/a.b", reader, "", ""), 403, "")
	wantProblem(t, e.call("GET", "/v1/event-types", publisher, "", ""), 403, "")
	wantProblem(t, e.call("GET", "/v1/event-types", "", "", ""), 401, "")
	if et := findType(t, e.listTypes(e.keyA, 100), "a.b"); et.Archived {
		t.Fatal("a refused DELETE archived the type")
	}
	if names := typeNames(e.listTypes(e.keyA, 100)); slices.Contains(names, "alice.thing") || slices.Contains(names, "reader.thing") {
		t.Fatalf("a refused PUT created a type: %v", names)
	}
	// An owner-bound key subscribes against the tenant's catalog.
	e.createSub(alice, `{"url":"https://example.com/alice","events":["a.b"]}`)
	wantProblem(t, e.json("POST", "/v1/subscriptions", alice, `{"url":"https://example.com/alice","events":["alice.thing"]}`), 422, "events[0]")
}

func TestSubscriptionPatternsAgainstCatalog(t *testing.T) {
	e := newEnv(t)
	e.registerTypes(e.keyA, "crm.lead.moved", "crm.leads", "chat.conversation.created")
	if r := e.call("DELETE", "/v1/event-types/chat.conversation.created", e.keyA, "", ""); r.status != 204 {
		t.Fatalf("archive: %d", r.status)
	}
	tests := []struct {
		name   string
		events string
		field  string // "" = accepted
	}{
		{"every type", `["*"]`, ""},
		{"omitted means every type", ``, ""},
		{"exact", `["crm.lead.created"]`, ""},
		{"prefix with a matching type", `["crm.*"]`, ""},
		{"nested prefix", `["crm.lead.*"]`, ""},
		{"built-in type", `["webhook.test"]`, ""},
		{"several", `["crm.lead.created","invoice.*","*"]`, ""},
		{"unknown type", `["crm.lead.deleted"]`, "events[0]"},
		{"prefix without a matching type", `["contact.*"]`, "events[0]"},
		{"nested prefix without a matching type", `["crm.lead.moved.*"]`, "events[0]"},
		{"prefix is not a name prefix", `["crm.leads.*"]`, "events[0]"},
		{"archived only", `["chat.*"]`, "events[0]"},
		{"archived exact", `["chat.conversation.created"]`, "events[0]"},
		{"second entry", `["crm.*","order.paid"]`, "events[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"url":"https://example.com/p"}`
			if tc.events != "" {
				body = `{"url":"https://example.com/p","events":` + tc.events + `}`
			}
			r := e.json("POST", "/v1/subscriptions", e.keyA, body)
			if tc.field == "" {
				if r.status != 201 {
					t.Fatalf("refused: %d %s", r.status, r.body)
				}
				return
			}
			wantProblem(t, r, 422, tc.field)
			if !strings.Contains(string(r.body), "GET /v1/event-types") {
				t.Errorf("problem does not say how to see the catalog: %s", r.body)
			}
		})
	}
}

// countingPublisher counts the events that reach the publisher.
type countingPublisher struct {
	httpapi.Publisher
	count atomic.Int32
}

func (c *countingPublisher) Publish(ctx context.Context, ev gancho.Event, key, hash string) (publish.Result, error) {
	c.count.Add(1)
	return c.Publisher.Publish(ctx, ev, key, hash)
}

func (c *countingPublisher) PublishTo(ctx context.Context, ev gancho.Event, subscriptionID string) (string, error) {
	c.count.Add(1)
	return c.Publisher.PublishTo(ctx, ev, subscriptionID)
}

// countingStore counts catalog reads.
type countingStore struct {
	httpapi.Store
	catalogReads atomic.Int32
	schemaReads  atomic.Int32
}

func (c *countingStore) EventTypeCatalog(ctx context.Context, tenant string) ([]gancho.EventType, error) {
	c.catalogReads.Add(1)
	return c.Store.EventTypeCatalog(ctx, tenant)
}

func (c *countingStore) GetEventType(ctx context.Context, tenant, name string) (gancho.EventType, error) {
	c.schemaReads.Add(1)
	return c.Store.GetEventType(ctx, tenant, name)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// process is a second API process on e's store (and e's keys), with its own caches,
// a clock of its own and counters on its publisher and catalog reads.
type process struct {
	*env
	store *countingStore
	pub   *countingPublisher
	clock *clock
}

func newProcess(e *env) *process {
	e.t.Helper()
	p := &process{store: &countingStore{Store: e.b.store}, clock: &clock{at: time.Now()}}
	p.pub = &countingPublisher{Publisher: e.b.publisher(nil)}
	api := e.b.api(e.t, httpapi.Config{Store: p.store, Publisher: p.pub, Policy: e.b.policy, Now: p.clock.now})
	srv := httptest.NewServer(api.Handler())
	e.t.Cleanup(srv.Close)
	copied := *e
	copied.srv = srv
	p.env = &copied
	return p
}

func TestPublishAgainstSchema(t *testing.T) {
	e := newEnv(t)
	p := newProcess(e)
	p.putType(e.keyA, "order.paid", `{"schema":{"type":"object","required":["orderId","total"],"properties":{"orderId":{"type":"string"},"total":{"type":"number","minimum":0},"lines":{"type":"array","items":{"required":["sku"]}}}}}`)
	p.createSub(e.keyA, `{"url":"https://example.com/orders","events":["order.*"]}`)

	r := p.json("POST", "/v1/events", e.keyA, `{"type":"order.paid","payload":{"orderId":"o-1","total":10,"lines":[{"sku":"s"}]}}`)
	if r.status != 202 {
		t.Fatalf("valid payload: %d %s", r.status, r.body)
	}
	var pub struct {
		Deliveries int `json:"deliveries"`
	}
	r.json(t, &pub)
	if pub.Deliveries != 1 || p.pub.count.Load() != 1 {
		t.Fatalf("valid publish queued %d deliveries, %d publishes", pub.Deliveries, p.pub.count.Load())
	}

	refused := []struct {
		name, body string
		fields     []string
	}{
		{"wrong type", `{"type":"order.paid","payload":{"orderId":"o-1","total":"10"}}`, []string{"payload/total"}},
		{"missing fields", `{"type":"order.paid","payload":{"lines":[]}}`, []string{"payload/orderId", "payload/total"}},
		{"nested", `{"type":"order.paid","payload":{"orderId":"o","total":1,"lines":[{"sku":"a"},{"qty":1}]}}`, []string{"payload/lines/1/sku"}},
		{"not an object", `{"type":"order.paid","payload":[1]}`, []string{"payload"}},
		// Numbers the schema library would turn into big-number arithmetic.
		{"costly number", `{"type":"order.paid","payload":{"orderId":"o","total":1e999999}}`, []string{"payload/total"}},
		{"costly numbers anywhere", `{"type":"order.paid","payload":{"orderId":"o","total":1,"lines":[{"sku":"a","qty":1e-999999},{"sku":"b","qty":` + strings.Repeat("9", 101) + `}]}}`, []string{"payload/lines/0/qty", "payload/lines/1/qty"}},
		{"unknown type", `{"type":"order.refunded","payload":{}}`, []string{"type"}},
		{"type of another tenant", `{"type":"b.only","payload":{}}`, []string{"type"}},
	}
	e.putType(e.keyB, "b.only", `{}`)
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			r := p.json("POST", "/v1/events", e.keyA, tc.body)
			for _, f := range tc.fields {
				wantProblem(t, r, 422, f)
			}
			var prob problem
			r.json(t, &prob)
			if len(prob.Errors) != len(tc.fields) {
				t.Errorf("errors %+v, want exactly %v", prob.Errors, tc.fields)
			}
		})
	}
	t.Run("at most 20 errors", func(t *testing.T) {
		lines := strings.TrimSuffix(strings.Repeat(`{},`, 40), ",")
		r := p.json("POST", "/v1/events", e.keyA, `{"type":"order.paid","payload":{"orderId":"o","total":1,"lines":[`+lines+`]}}`)
		wantProblem(t, r, 422, "payload/lines/0/sku")
		var prob problem
		r.json(t, &prob)
		if len(prob.Errors) != 20 {
			t.Fatalf("%d errors, want 20", len(prob.Errors))
		}
	})
	if n := p.pub.count.Load(); n != 1 {
		t.Fatalf("refused publishes reached the publisher: %d publishes, want 1", n)
	}
}

func TestCatalogCache(t *testing.T) {
	e := newEnv(t)
	writer := newProcess(e) // another process: its own cache
	p := newProcess(e)
	valid := `{"type":"order.paid","payload":{"id":"o-1"}}`
	writer.putType(e.keyA, "order.paid", `{"schema":{"required":["id"]}}`)

	for i := 0; i < 5; i++ {
		if r := p.json("POST", "/v1/events", e.keyA, valid); r.status != 202 {
			t.Fatalf("publish %d: %d %s", i, r.status, r.body)
		}
	}
	if c, s := p.store.catalogReads.Load(), p.store.schemaReads.Load(); c != 1 || s != 1 {
		t.Fatalf("5 publishes read the catalog %d and the schema %d times, want once each", c, s)
	}

	// Another process changes the schema: this process keeps its copy for at most 30 s.
	writer.putType(e.keyA, "order.paid", `{"schema":{"required":["name"]}}`)
	p.clock.advance(29 * time.Second)
	if r := p.json("POST", "/v1/events", e.keyA, valid); r.status != 202 {
		t.Fatalf("within 30 s: %d %s", r.status, r.body)
	}
	p.clock.advance(2 * time.Second)
	wantProblem(t, p.json("POST", "/v1/events", e.keyA, valid), 422, "payload/name")

	// A PUT in this process takes effect here at once.
	p.putType(e.keyA, "order.paid", `{"schema":{"required":["id"]}}`)
	if r := p.json("POST", "/v1/events", e.keyA, valid); r.status != 202 {
		t.Fatalf("after this process's PUT: %d %s", r.status, r.body)
	}

	// A type another process just added is usable at once: a refusal reads the
	// catalog again (at most once a second).
	writer.putType(e.keyA, "order.shipped", `{}`)
	p.clock.advance(2 * time.Second)
	if r := p.json("POST", "/v1/events", e.keyA, `{"type":"order.shipped","payload":{}}`); r.status != 202 {
		t.Fatalf("type added by another process: %d %s", r.status, r.body)
	}
	if r := p.json("POST", "/v1/subscriptions", e.keyA, `{"url":"https://example.com/s","events":["order.shipped"]}`); r.status != 201 {
		t.Fatalf("subscribe to a type added by another process: %d %s", r.status, r.body)
	}
	reads := p.store.catalogReads.Load()
	for i := 0; i < 5; i++ {
		wantProblem(t, p.json("POST", "/v1/events", e.keyA, `{"type":"order.unknown","payload":{}}`), 422, "type")
	}
	if n := p.store.catalogReads.Load() - reads; n > 1 {
		t.Fatalf("5 refused publishes within a second read the catalog %d times", n)
	}

	// An archive elsewhere reaches this process within 30 s.
	if r := writer.call("DELETE", "/v1/event-types/order.shipped", e.keyA, "", ""); r.status != 204 {
		t.Fatalf("archive: %d", r.status)
	}
	p.clock.advance(31 * time.Second)
	wantProblem(t, p.json("POST", "/v1/events", e.keyA, `{"type":"order.shipped","payload":{}}`), 422, "type")
}

// A tenant that turns allowedEventTypesOnly off may subscribe to and publish types
// outside its catalog; archived types stay refused and schemas still apply.
func TestOpenCatalogWhenAllowedEventTypesOnlyIsOff(t *testing.T) {
	e := newEnv(t)
	wantProblem(t, e.json("POST", "/v1/events", e.keyA, `{"type":"free.form","payload":{}}`), 422, "type")
	if r := e.call("PATCH", "/v1/tenant", e.keyA, "application/merge-patch+json", `{"allowedEventTypesOnly":false}`); r.status != 200 {
		t.Fatalf("PATCH tenant: %d %s", r.status, r.body)
	}
	// Another API instance, so no cached catalog hides the change.
	fresh := *e
	fresh.srv = e.otherAPI(nil, nil)
	if r := fresh.json("POST", "/v1/subscriptions", e.keyA, `{"url":"https://example.com/h","events":["free.*","other.type"]}`); r.status != 201 {
		t.Fatalf("subscribe outside the catalog: %d %s", r.status, r.body)
	}
	if r := fresh.json("POST", "/v1/events", e.keyA, `{"type":"free.form","payload":{}}`); r.status != 202 {
		t.Fatalf("publish outside the catalog: %d %s", r.status, r.body)
	}
	e.putType(e.keyA, "gone.type", `{"description":"archived"}`)
	e.call("DELETE", "/v1/event-types/gone.type", e.keyA, "", "")
	again := *e
	again.srv = e.otherAPI(nil, nil)
	wantProblem(t, again.json("POST", "/v1/events", e.keyA, `{"type":"gone.type","payload":{}}`), 422, "type")
}
