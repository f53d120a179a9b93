package httpapi_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/catalog"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// servedDocument fetches /v1/openapi.json from an API without storage (the route
// needs none) and loads it.
func servedDocument(t *testing.T) (*openapi3.T, []byte) {
	t.Helper()
	api := httpapi.New(httpapi.Config{Log: testenv.Logger(t)})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("load the served document: %v", err)
	}
	return doc, body
}

func TestOpenAPIDocumentIsValid31(t *testing.T) {
	doc, body := servedDocument(t)
	if doc.OpenAPI != httpapi.OpenAPIVersion || !doc.IsOpenAPI31OrLater() || doc.IsOpenAPI32OrLater() {
		t.Fatalf("openapi = %q, want 3.1", doc.OpenAPI)
	}
	err := doc.Validate(context.Background(), openapi3.EnableMultiError(), openapi3.EnableExamplesValidation())
	if err != nil {
		var me openapi3.MultiError
		if errAs(err, &me) {
			for _, e := range me {
				t.Errorf("invalid: %v", e)
			}
		}
		t.Fatalf("the document is not valid OpenAPI 3.1: %v", err)
	}
	if p := httpapi.OpenAPIProblems(); len(p) > 0 {
		t.Fatalf("the document is incomplete:\n%s", strings.Join(p, "\n"))
	}
	// What the brief of the document requires of every operation.
	var raw struct {
		Info struct {
			Description string `json:"description"`
		} `json:"info"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(raw.Info.Description, "Decisions") {
		t.Error("info.description does not record the decisions")
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			for code, r := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' {
					continue
				}
				if r.Value.Content.Get("application/problem+json") == nil {
					t.Errorf("%s: response %s is not problem+json", name, code)
				}
			}
			if method != http.MethodPost {
				continue
			}
			if p := op.Parameters.GetByInAndName("header", httpapi.HeaderIdempotencyKey); p == nil {
				t.Errorf("%s: no Idempotency-Key parameter", name)
			}
			for code, r := range op.Responses.Map() {
				if code[0] == '2' && r.Value.Headers[httpapi.HeaderIdempotentReplayed] == nil {
					t.Errorf("%s: response %s does not name Idempotent-Replayed", name, code)
				}
			}
		}
	}
	problem := doc.Components.Schemas["Problem"].Value
	for _, f := range []string{"type", "title", "status", "detail", "errors"} {
		if problem.Properties[f] == nil {
			t.Errorf("Problem has no %s", f)
		}
	}
	if fe := problem.Properties["errors"].Value.Items.Value; fe.Properties["field"] == nil || fe.Properties["message"] == nil {
		t.Errorf("Problem.errors items are not {field, message}")
	}
}

func errAs(err error, me *openapi3.MultiError) bool {
	m, ok := err.(openapi3.MultiError)
	if ok {
		*me = m
	}
	return ok
}

// TestOpenAPIMatchesRoutes: every route is documented, with its method, path, path
// parameters and security, and the document has nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, _ := servedDocument(t)
	want := map[string]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		want[rt.Method+" "+rt.Path] = rt
	}
	got := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			got[method+" "+path] = op
		}
	}
	for key := range got {
		if _, ok := want[key]; !ok {
			t.Errorf("the document has %s, which is not a route", key)
		}
	}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	for key, rt := range want {
		op := got[key]
		if op == nil {
			t.Errorf("route %s (%s) is not in the document", rt.Name, key)
			continue
		}
		if op.OperationID != rt.Name || op.Summary != rt.Summary {
			t.Errorf("%s: operationId %q summary %q, want %q %q", key, op.OperationID, op.Summary, rt.Name, rt.Summary)
		}
		for _, m := range param.FindAllStringSubmatch(rt.Path, -1) {
			if p := op.Parameters.GetByInAndName("path", m[1]); p == nil || !p.Required {
				t.Errorf("%s: path parameter %s is not documented as required", key, m[1])
			}
		}
		switch rt.Scope {
		case httpapi.ScopeNone:
			if op.Security == nil || len(*op.Security) != 0 {
				t.Errorf("%s needs no credentials but its security is %v", key, op.Security)
			}
			if op.Responses.Status(401) != nil {
				t.Errorf("%s needs no credentials but documents 401", key)
			}
		default:
			if op.Responses.Status(401) == nil || op.Responses.Status(403) == nil {
				t.Errorf("%s does not document 401 and 403", key)
			}
			if rt.Scope == httpapi.ScopeAuthenticated {
				continue
			}
			if op.Security == nil || len(*op.Security) == 0 {
				t.Errorf("%s: no security requirement", key)
				continue
			}
			for _, req := range *op.Security {
				for scheme, scopes := range req {
					if !slices.Equal(scopes, []string{rt.Scope}) {
						t.Errorf("%s: %s requires %v, want [%s]", key, scheme, scopes, rt.Scope)
					}
				}
			}
		}
	}
}

// contract checks live responses against the document.
type contract struct {
	t   *testing.T
	doc *openapi3.T
}

// check asserts that resp is one of the documented statuses of the route (ranges
// such as 5XX do not count) and that it matches
// the document: body schema, content type and headers.
func (c contract) check(rt httpapi.Route, req *http.Request, resp response) {
	c.t.Helper()
	item := c.doc.Paths.Find(rt.Path)
	if item == nil || item.GetOperation(rt.Method) == nil {
		c.t.Errorf("%s %s is not in the document", rt.Method, rt.Path)
		return
	}
	op := item.GetOperation(rt.Method)
	if op.Responses.Status(resp.status) == nil {
		c.t.Errorf("%s %s answered %d, which it does not document: %s", rt.Method, req.URL.Path, resp.status, resp.body)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: c.doc, Path: rt.Path, PathItem: item, Method: rt.Method, Operation: op},
		},
		Status:  resp.status,
		Header:  resp.header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(resp.body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.t.Errorf("%s %s → %d does not match the document: %v\nbody: %s", rt.Method, req.URL.Path, resp.status, err, resp.body)
	}
}

// do sends one request; key "" sends no credentials.
func do(t *testing.T, srv *httptest.Server, method, path, key, body string, header ...string) (*http.Request, response) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	// The validator reads the request again: give it a fresh body.
	req.Body = io.NopCloser(bytes.NewReader([]byte(body)))
	return req, response{res.StatusCode, res.Header, b}
}

// minimal is the smallest request of a route: unknown ids and an empty JSON object.
func minimal(rt httpapi.Route) (path, body string) {
	path = regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(rt.Path, "doesnotexist")
	if rt.Method == http.MethodPost || rt.Method == http.MethodPut || rt.Method == http.MethodPatch {
		body = "{}"
	}
	return path, body
}

// TestEveryRouteAnswersAsDocumented calls every route of the local server, on the
// emulators, without credentials and with a tenant key holding every scope, and checks
// each answer against the document.
func TestEveryRouteAnswersAsDocumented(t *testing.T) {
	e := newEnv(t)
	doc, _ := servedDocument(t)
	c := contract{t: t, doc: doc}
	for _, rt := range httpapi.Routes() {
		t.Run(rt.Name, func(t *testing.T) {
			c := contract{t: t, doc: doc}
			path, body := minimal(rt)
			req, r := do(t, e.srv, rt.Method, path, "", body)
			if rt.Scope != httpapi.ScopeNone && r.status != http.StatusUnauthorized {
				t.Errorf("without credentials: %d, want 401: %s", r.status, r.body)
			}
			c.check(rt, req, r)

			req, r = do(t, e.srv, rt.Method, path, e.keyA, body)
			c.check(rt, req, r)
		})
	}

	// The main paths of the implemented routes, each answer checked.
	routes := map[string]httpapi.Route{}
	for _, rt := range httpapi.Routes() {
		routes[rt.Name] = rt
	}
	call := func(name, path, body string, want int, header ...string) response {
		t.Helper()
		req, r := do(t, e.srv, routes[name].Method, path, e.keyA, body, header...)
		if r.status != want {
			t.Fatalf("%s %s: %d, want %d: %s", routes[name].Method, path, r.status, want, r.body)
		}
		c.check(routes[name], req, r)
		return r
	}
	created := call("create-subscription", "/v1/subscriptions",
		`{"name":"CRM","url":"https://example.com/hooks/:id","events":["crm.*"],"headers":{"X-Custom":"v"},"metadata":{"a":1}}`, 201,
		httpapi.HeaderIdempotencyKey, "contract-"+time.Now().Format(time.RFC3339Nano))
	var sub gancho.Subscription
	created.json(t, &sub)
	call("get-subscription", "/v1/subscriptions/"+sub.ID, "", 200)
	call("list-subscriptions", "/v1/subscriptions?limit=1", "", 200)
	call("list-subscriptions", "/v1/subscriptions?limit=0", "", 400)
	call("create-subscription", "/v1/subscriptions", `{"url":"ftp://x"}`, 422)
	call("create-subscription", "/v1/subscriptions", `{"url":`, 400)
	pub := call("publish-event", "/v1/events", `{"type":"crm.lead.created","payload":{"id":1},"subject":"42"}`, 202)
	var ev struct {
		ID string `json:"id"`
	}
	pub.json(t, &ev)
	call("get-delivery", "/v1/deliveries/"+gancho.DeliveryID(ev.ID, sub.ID), "", 200)
	call("delete-subscription", "/v1/subscriptions/"+sub.ID, "", 204)
	call("get-subscription", "/v1/subscriptions/"+sub.ID, "", 404)
	call("health", "/v1/health", "", 200)
	call("help", "/v1/help", "", 200)
	call("openapi", "/v1/openapi.json", "", 200)
}

// The document names the deployment it was fetched from as its server, so generated
// clients call that deployment: on Lambda the API Gateway domain of the request (what
// httpadapter puts in the URL), on the local server the Host it was reached at.
func TestOpenAPIServersAreTheDeployment(t *testing.T) {
	api := httpapi.New(httpapi.Config{Log: testenv.Logger(t)})
	local := httptest.NewServer(api.Handler())
	t.Cleanup(local.Close)
	lambda := func(domain string) func() *http.Request {
		return func() *http.Request {
			ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /v1/openapi.json", RawPath: "/v1/openapi.json",
				Headers: map[string]string{"host": domain}}
			ev.RequestContext.DomainName, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = domain, "GET", "/v1/openapi.json"
			r, err := (&core.RequestAccessorV2{}).EventToRequest(ev)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	for _, c := range []struct {
		name string
		req  func() *http.Request
		want string
	}{
		{"API Gateway default endpoint", lambda("k3xq8w2m1p.execute-api.us-east-1.amazonaws.com"), "https://k3xq8w2m1p.execute-api.us-east-1.amazonaws.com"},
		{"API Gateway custom domain", lambda("hooks.acme.example"), "https://hooks.acme.example"},
		{"local server", func() *http.Request {
			r, _ := http.NewRequest("GET", "/v1/openapi.json", nil)
			r.Host = strings.TrimPrefix(local.URL, "http://")
			return r
		}, local.URL},
		{"local server on IPv6 loopback", func() *http.Request {
			r, _ := http.NewRequest("GET", "/v1/openapi.json", nil)
			r.Host = "[::1]:8080"
			return r
		}, "http://[::1]:8080"},
		{"local server over TLS", func() *http.Request {
			r, _ := http.NewRequest("GET", "/v1/openapi.json", nil)
			r.Host, r.TLS = "gancho.internal:8443", &tls.ConnectionState{}
			return r
		}, "https://gancho.internal:8443"},
		{"a Host that is not a host: relative to the document", func() *http.Request {
			r, _ := http.NewRequest("GET", "/v1/openapi.json", nil)
			r.Host = "evil.example/x?y"
			return r
		}, "/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			api.Handler().ServeHTTP(rec, c.req())
			var doc struct {
				Servers []struct {
					URL string `json:"url"`
				} `json:"servers"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); rec.Code != 200 || err != nil {
				t.Fatalf("%d %v: %.200s", rec.Code, err, rec.Body.String())
			}
			if len(doc.Servers) != 1 || doc.Servers[0].URL != c.want {
				t.Fatalf("servers = %+v, want one with url %q", doc.Servers, c.want)
			}
		})
	}
	// Through the real server too: the served bytes are still one valid document.
	doc, _ := servedDocument(t)
	if len(doc.Servers) != 1 || !strings.HasPrefix(doc.Servers[0].URL, "http://127.0.0.1:") {
		t.Fatalf("served servers = %+v", doc.Servers)
	}
}

// Every operation, webhooks included, has a unique operationId.
func TestOpenAPIOperationIDs(t *testing.T) {
	_, body := servedDocument(t)
	var raw struct {
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
		Webhooks map[string]map[string]json.RawMessage `json:"webhooks"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for kind, items := range map[string]map[string]map[string]json.RawMessage{"paths": raw.Paths, "webhooks": raw.Webhooks} {
		for name, item := range items {
			for method, opRaw := range item {
				var op struct {
					OperationID string `json:"operationId"`
				}
				_ = json.Unmarshal(opRaw, &op)
				where := kind + " " + name + " " + method
				switch {
				case op.OperationID == "":
					t.Errorf("%s has no operationId", where)
				case seen[op.OperationID] != "":
					t.Errorf("%s and %s share operationId %q", where, seen[op.OperationID], op.OperationID)
				}
				seen[op.OperationID] = where
			}
		}
	}
}

// info.description states the documented propagation bounds, as the API contract and the
// README state them, and they are the caches' real bounds.
func TestOpenAPIStatesPropagationBounds(t *testing.T) {
	_, body := servedDocument(t)
	var raw struct {
		Info struct {
			Description string `json:"description"`
		} `json:"info"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Changes to tenant settings (`signatureHeader`, `publicBaseUrl`, JWT settings) and to the catalog reach every route and the consumer within 60 s",
		"a revoked key stops working within 60 s",
	} {
		if !strings.Contains(strings.Join(strings.Fields(raw.Info.Description), " "), want) {
			t.Errorf("info.description does not say %q", want)
		}
	}
	// Nothing one function drops reaches another, so the document promises the
	// bounds only, not an immediate effect in the process that made the change.
	if d := strings.Join(strings.Fields(raw.Info.Description), " "); strings.Contains(d, "sees it at once") {
		t.Errorf("info.description promises more than the bounds: %q", d)
	}
	if auth.KeyCacheTTL > 60*time.Second || catalog.CacheTTL > 60*time.Second {
		t.Errorf("cache TTLs key %s, catalog %s exceed the documented 60 s", auth.KeyCacheTTL, catalog.CacheTTL)
	}
}
