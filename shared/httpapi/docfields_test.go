package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/queue"
)

// schemaDoc is the served document as plain JSON, for walking bodies against it.
type schemaDoc map[string]any

func loadSchemaDoc(t *testing.T) schemaDoc {
	t.Helper()
	b, err := httpapi.OpenAPIJSON("/")
	if err != nil {
		t.Fatal(err)
	}
	var d schemaDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// at follows a JSON pointer ("#/a/b") in the document.
func (d schemaDoc) at(ref string) map[string]any {
	var cur any = map[string]any(d)
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := cur.(map[string]any)
		cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
	}
	m, _ := cur.(map[string]any)
	return m
}

func (d schemaDoc) resolve(s map[string]any) map[string]any {
	for i := 0; s != nil && i < 10; i++ {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = d.at(ref)
	}
	return s
}

// responseSchema is the documented body schema of method path answering status
// (nil: no body documented), and whether the status is documented at all.
func (d schemaDoc) responseSchema(method, path string, status int) (map[string]any, bool) {
	op := d.at("#/paths/" + strings.ReplaceAll(path, "/", "~1") + "/" + strings.ToLower(method))
	responses, _ := op["responses"].(map[string]any)
	r, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		r, ok = responses[fmt.Sprintf("%dXX", status/100)].(map[string]any)
	}
	if !ok {
		return nil, false
	}
	r = d.resolve(r)
	content, _ := r["content"].(map[string]any)
	for _, media := range []string{"application/json", "application/problem+json"} {
		if c, ok := content[media].(map[string]any); ok {
			s, _ := c["schema"].(map[string]any)
			return s, true
		}
	}
	return nil, true
}

// undocumented lists the object members of v, at any depth, that schema s does not
// document. A schema without properties (any value, a free-form object) documents
// every member; additionalProperties documents the members of a map.
func (d schemaDoc) undocumented(s map[string]any, v any, at string) []string {
	s = d.resolve(s)
	if s == nil || v == nil {
		return nil
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		alts, ok := s[key].([]any)
		if !ok {
			continue
		}
		var first []string
		for _, alt := range alts {
			if !d.fits(alt.(map[string]any), v) {
				continue
			}
			bad := d.undocumented(alt.(map[string]any), v, at)
			if len(bad) == 0 {
				return nil
			}
			if first == nil {
				first = bad
			}
		}
		return first
	}
	// allOf: a member is documented when any part documents it.
	parts := []map[string]any{s}
	if all, ok := s["allOf"].([]any); ok {
		for _, p := range all {
			parts = append(parts, d.resolve(p.(map[string]any)))
		}
	}
	switch v := v.(type) {
	case map[string]any:
		var out []string
		hasProps := false
		for _, p := range parts {
			if _, ok := p["properties"]; ok {
				hasProps = true
			}
		}
		for name, member := range v {
			var schemas []map[string]any
			for _, p := range parts {
				props, _ := p["properties"].(map[string]any)
				if ps, ok := props[name].(map[string]any); ok {
					schemas = append(schemas, ps)
				} else if ap, ok := p["additionalProperties"].(map[string]any); ok {
					schemas = append(schemas, ap)
				}
			}
			if len(schemas) == 0 {
				if hasProps {
					out = append(out, at+"/"+name)
				}
				continue
			}
			for _, ms := range schemas {
				out = append(out, d.undocumented(ms, member, at+"/"+name)...)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	case []any:
		var out []string
		for _, p := range parts {
			items, ok := p["items"].(map[string]any)
			if !ok {
				continue
			}
			for i, e := range v {
				out = append(out, d.undocumented(items, e, at+"/"+strconv.Itoa(i))...)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return nil
}

// fits reports whether s allows v's JSON type (a schema without a type allows any).
func (d schemaDoc) fits(s map[string]any, v any) bool {
	s = d.resolve(s)
	var types []any
	switch t := s["type"].(type) {
	case string:
		types = []any{t}
	case []any:
		types = t
	default:
		return true
	}
	var kind []any
	switch v.(type) {
	case nil:
		kind = []any{"null"}
	case map[string]any:
		kind = []any{"object"}
	case []any:
		kind = []any{"array"}
	case string:
		kind = []any{"string"}
	case bool:
		kind = []any{"boolean"}
	case float64:
		kind = []any{"number", "integer"}
	}
	for _, k := range kind {
		if slices.Contains(types, k) {
			return true
		}
	}
	return false
}

// emptyDLQ is a dead-letter queue with nothing in it.
type emptyDLQ struct{}

func (emptyDLQ) ReceiveDeadLetters(context.Context, time.Duration) ([]queue.DeadLetter, error) {
	return nil, nil
}
func (emptyDLQ) DeleteDeadLetters(context.Context, []string) error          { return nil }
func (emptyDLQ) Send(context.Context, []queue.Message, time.Duration) error { return nil }

// TestResponsesCarryOnlyDocumentedFields calls every route of Routes() through its
// handler, on the test backend, with requests that fill in as much of each answer as
// the API has, and walks every JSON answer against the document: a member that the
// documented schema of its status lacks fails the test. The document is generated
// from the handlers' types; this catches a handler that encodes something else.
func TestResponsesCarryOnlyDocumentedFields(t *testing.T) {
	b := newBackend(t)
	b.settle(0)
	admin := "gk_admin_" + auth.NewAPIKey()[3:]
	api := b.api(t, httpapi.Config{
		DeadLetters:  emptyDLQ{},
		Policy:       b.policy,
		AdminKeyHash: auth.HashKey(admin),
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	doc := loadSchemaDoc(t)
	routes := map[string]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		routes[rt.Name] = rt
	}

	called := map[string]bool{}
	// call sends one request of route name and checks its answer: want's status
	// and only documented members.
	call := func(name, key, path, body string, want int) map[string]any {
		t.Helper()
		rt, ok := routes[name]
		if !ok {
			t.Fatalf("no route %s", name)
		}
		called[name] = true
		req, err := http.NewRequest(rt.Method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d, want %d: %s", rt.Method, path, resp.StatusCode, want, b)
		}
		schema, documented := doc.responseSchema(rt.Method, rt.Path, resp.StatusCode)
		if !documented {
			t.Errorf("%s: status %d is not documented", name, resp.StatusCode)
		}
		if len(b) == 0 || !strings.Contains(resp.Header.Get("Content-Type"), "json") { // the portal's page and assets
			return nil
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: the answer is not JSON: %v: %s", name, err, b)
		}
		if schema == nil {
			t.Errorf("%s: answered %d with a body, but the document has none for it: %s", name, resp.StatusCode, b)
		} else if bad := doc.undocumented(schema, v, ""); len(bad) > 0 {
			t.Errorf("%s: answered %d with members its documented schema lacks: %s\nbody: %s", name, resp.StatusCode, strings.Join(bad, ", "), b)
		}
		m, _ := v.(map[string]any)
		return m
	}
	str := func(m map[string]any, path ...string) string {
		t.Helper()
		var cur any = m
		for _, p := range path {
			cur = cur.(map[string]any)[p]
		}
		s, ok := cur.(string)
		if !ok {
			t.Fatalf("no string at %v in %v", path, m)
		}
		return s
	}

	created := call("create-tenant", admin, "/v1/tenants", `{"name":"Documented"}`, 201)
	key := str(created, "apiKey", "key")
	call("update-tenant", key, "/v1/tenant", `{"signatureHeader":"X-Sig","publicBaseUrl":"https://hooks.example.com",`+
		`"jwt":{"issuer":"https://id.example.com/`+str(created, "tenant", "id")+`","audience":"gancho","algorithm":"HS256","secret":"`+strings.Repeat("s", gancho.MinJWTSecretBytes)+`"}}`, 200)
	call("rotate-tenant-secret", key, "/v1/tenant/secret/rotate", "", 200)
	call("get-tenant-secret", key, "/v1/tenant/secret", "", 200)
	call("get-tenant", key, "/v1/tenant", "", 200)

	k := call("create-api-key", key, "/v1/api-keys", `{"name":"reader","scopes":["events:read"],"ownerId":"owner-1"}`, 201)
	call("list-api-keys", key, "/v1/api-keys", "", 200)
	call("get-api-key", key, "/v1/api-keys/"+str(k, "id"), "", 200)
	call("delete-api-key", key, "/v1/api-keys/"+str(k, "id"), "", 204)

	call("put-event-type", key, "/v1/event-types/crm.lead.created", `{"description":"a lead","schema":{"type":"object"}}`, 201)
	call("put-event-type", key, "/v1/event-types/crm.lead.created", `{"description":"a new lead","schema":{"type":"object"}}`, 200)
	call("put-event-type", key, "/v1/event-types/crm.lead.lost", `{}`, 201)
	call("list-event-types", key, "/v1/event-types", "", 200)

	subBody := `{"name":"CRM","url":"https://example.com/hooks/:id","events":["crm.*"],"headers":{"X-Custom":"v"},"metadata":{"a":1},` +
		`"auth":{"type":"static","header":"Authorization","value":"Bearer abcdefghijk"}}`
	sub := call("create-subscription", key, "/v1/subscriptions", subBody, 201)
	subPath := "/v1/subscriptions/" + str(sub, "id")
	call("get-subscription", key, subPath, "", 200)
	call("list-subscriptions", key, "/v1/subscriptions", "", 200)
	call("replace-subscription", key, subPath, subBody, 200)
	call("update-subscription", key, subPath, `{"name":"CRM 2"}`, 200)
	call("rotate-subscription-secret", key, subPath+"/secret/rotate", "", 200)
	call("get-subscription-secret", key, subPath+"/secret", "", 200)

	ev := call("publish-event", key, "/v1/events", `{"type":"crm.lead.created","payload":{"id":1},"subject":"42","ownerId":"*","idempotencyKey":"doc-1"}`, 202)
	call("publish-events-batch", key, "/v1/events/batch",
		`{"events":[{"type":"crm.lead.created","payload":{"id":2}},{"type":"crm.lead.created","payload":{"id":1},"idempotencyKey":"doc-1"},{"type":"unknown.type","payload":{}}]}`, 202)
	evPath := "/v1/events/" + str(ev, "id")
	call("list-events", key, "/v1/events", "", 200)
	call("get-event", key, evPath, "", 200)
	call("list-event-deliveries", key, evPath+"/deliveries", "", 200)
	dlvPath := "/v1/deliveries/" + gancho.DeliveryID(str(ev, "id"), str(sub, "id"))
	call("get-delivery", key, dlvPath, "", 200)
	call("retry-delivery", key, dlvPath+"/retry", "", 409) // pending: already queued
	call("list-subscription-deliveries", key, subPath+"/deliveries", "", 200)
	call("test-subscription", key, subPath+"/test", `{"subject":"s-1"}`, 202)
	call("recover-subscription", key, subPath+"/recover", `{"since":"2020-01-01T00:00:00Z"}`, 202)
	call("subscription-callback", key, subPath+"/callback", "", 200)
	call("subscription-results", key, subPath+"/results", "", 200)
	call("subscription-results", key, subPath+"/results?all=true", `{"size":"10"}`, 200)

	call("delete-event-type", key, "/v1/event-types/crm.lead.lost", "", 204)
	call("delete-subscription", key, subPath, "", 204)
	call("redrive-dead-letters", admin, "/v1/dead-letters/redrive", "", 202)
	call("health", "", "/v1/health", "", 200)
	call("help", "", "/v1/help", "", 200)
	call("openapi", "", "/v1/openapi.json", "", 200)
	call("create-portal-link", key, "/v1/portal-links", `{"ownerId":"owner-1","expiresIn":600}`, 201)
	call("portal", "", "/portal", "", 200)
	call("portal-asset", "", "/portal/app.js", "", 200)

	for _, rt := range httpapi.Routes() {
		if !called[rt.Name] {
			t.Errorf("route %s is not called here: add a call of it", rt.Name)
		}
	}
}

// TestNoticeCarriesOnlyDocumentedFields: a notify subscription's notice, as package
// deliver builds it, has only members the document's notice webhook documents.
func TestNoticeCarriesOnlyDocumentedFields(t *testing.T) {
	doc := loadSchemaDoc(t)
	op := doc.at("#/webhooks/notice/post")
	schema := doc.at("#/webhooks/notice/post/requestBody/content/application~1json/schema")
	if op == nil || schema == nil {
		t.Fatal("the document has no notice webhook body")
	}
	now := time.Now()
	full := gancho.Subscription{ID: "sub_2", OwnerID: "owner-1"}
	full.LastUpdateAt, full.LastViewedAt = &now, &now
	for _, sub := range []gancho.Subscription{{ID: "sub_1"}, full} {
		b, err := deliver.NoticeBody(sub, "https://hooks.example.com")
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if bad := doc.undocumented(schema, v, ""); len(bad) > 0 {
			t.Errorf("notice %s has members the document lacks: %v", b, bad)
		}
	}
}

// TestUndocumentedFinds checks the walker itself on a small document.
func TestUndocumentedFinds(t *testing.T) {
	d := schemaDoc{"components": map[string]any{"schemas": map[string]any{
		"A": map[string]any{"type": "object", "properties": map[string]any{
			"x":    map[string]any{"type": "string"},
			"tags": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
			"b":    map[string]any{"anyOf": []any{map[string]any{"$ref": "#/components/schemas/B"}, map[string]any{"type": "null"}}},
			"bs":   map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/B"}},
			"any":  map[string]any{},
		}},
		"B": map[string]any{"type": "object", "properties": map[string]any{"y": map[string]any{}}},
		"C": map[string]any{"allOf": []any{map[string]any{"$ref": "#/components/schemas/B"}}, "properties": map[string]any{"z": map[string]any{}}},
	}}}
	ref := func(n string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + n} }
	for _, c := range []struct {
		name   string
		schema string
		body   string
		want   []string
	}{
		{"documented", "A", `{"x":"1","tags":{"k":"v"},"b":{"y":1},"bs":[{"y":2}],"any":{"free":1}}`, nil},
		{"top-level member", "A", `{"x":"1","w":2}`, []string{"/w"}},
		{"in a nullable reference", "A", `{"b":{"y":1,"q":1}}`, []string{"/b/q"}},
		{"in an array item", "A", `{"bs":[{"y":1},{"r":1}]}`, []string{"/bs/1/r"}},
		{"allOf documents the union", "C", `{"y":1,"z":2}`, nil},
		{"allOf lacks", "C", `{"y":1,"s":2}`, []string{"/s"}},
		{"null is no member", "A", `{"b":null}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(c.body), &v); err != nil {
				t.Fatal(err)
			}
			if got := d.undocumented(ref(c.schema), v, ""); !slices.Equal(got, c.want) {
				t.Errorf("undocumented = %v, want %v", got, c.want)
			}
		})
	}
}
