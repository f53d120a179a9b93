// Package openapi builds the OpenAPI 3.1 document of Gancho's API from the route
// table, a per-route table of what is not a type (statuses, query parameters,
// descriptions) and, by reflection on their json, doc and schema tags, the Go types
// that the handlers decode and encode, so a body's schema cannot drift from the code.
package openapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Version is the OpenAPI version of the document.
const Version = "3.1.0"

const (
	mediaJSON       = "application/json"
	mediaProblem    = "application/problem+json"
	mediaMergePatch = "application/merge-patch+json"
)

// Route is one route as the route table has it.
type Route struct {
	Name, Method, Path, Scope, Summary string
}

// Doc documents one route beyond Route: its bodies, statuses and parameters.
type Doc struct {
	Description string
	// Request is the JSON body; nil: none. BodyOptional: it may be left out.
	Request      Body
	BodyOptional bool
	MergePatch   bool // the body is a JSON merge patch (RFC 7396)
	// Success lists the success statuses (more than one for PUT upserts); Response
	// is their body, nil for none. Location: a created object's address is sent.
	Success  []int
	Response Body
	// Media are the success body's media types; empty: application/json.
	Media    []string
	Location bool
	Query    []Param
	// Errors adds statuses to those the route's shape implies (see errorStatuses).
	Errors []int
	// Params describes path parameters.
	Params map[string]string
}

// Param is a query parameter.
type Param struct {
	Name, Description string
	Schema            map[string]any
}

// Spec is what Build documents.
type Spec struct {
	Routes []Route
	// Docs documents each route, by its name: a route without an entry, or an
	// entry that names no route, is a problem.
	Docs map[string]Doc
	// Names names components whose Go type names are not what the API calls them.
	Names map[reflect.Type]string
	// Problem is the problem+json body; Event and Notice are what receivers get.
	Problem, Event, Notice reflect.Type
	// The Idempotency-Key request header, the header marking a replayed response,
	// and the longest key.
	IdempotencyKeyHeader, ReplayedHeader string
	MaxIdempotencyKeyLength              int
	// MaxPathIDLength bounds an {id} in a path.
	MaxPathIDLength int
}

// Build returns the document, without servers (see WithServer), and what it could
// not say from the code: routes without a Doc, Docs that name no route, tags that
// name nothing. The document is still usable; tests require no problems.
func Build(s Spec) (doc []byte, problems []string, err error) {
	g := newGenerator(s.Names)
	b, err := json.Marshal(g.document(s))
	if err != nil {
		return nil, g.problems, fmt.Errorf("encode the OpenAPI document: %w", err)
	}
	return b, g.problems, nil
}

// WithServer returns doc with baseURL as its one server, first.
func WithServer(doc []byte, baseURL string) ([]byte, error) {
	servers, err := json.Marshal([]map[string]string{{"url": baseURL, "description": "this deployment"}})
	if err != nil {
		return nil, fmt.Errorf("encode the OpenAPI servers: %w", err)
	}
	// The document is a JSON object with members: put servers first.
	out := make([]byte, 0, len(doc)+len(servers)+12)
	out = append(out, `{"servers":`...)
	out = append(out, servers...)
	out = append(out, ',')
	return append(out, doc[1:]...), nil
}

var (
	strSchema = map[string]any{"type": "string"}
	// BoolSchema and DateTimeSchema are common query parameter schemas.
	BoolSchema     = map[string]any{"type": "boolean"}
	DateTimeSchema = map[string]any{"type": "string", "format": "date-time"}
	// StringSchema is a plain string parameter.
	StringSchema = strSchema
)

// decisions are what the API does where the API contract is silent; they head the document.
const decisions = `Gancho is a multi-tenant webhooks engine: tenants publish events, Gancho signs
them (Standard Webhooks) and delivers them to their customers' subscriptions, with retries,
an attempt log and recovery.

## Decisions where the contract is silent

**Credentials.** ` + "`X-API-Key`" + ` is read first; without it, ` + "`Authorization: Bearer`" + ` carries an
API key or, when the value has three dot-separated parts, a JWT. The operator's admin key
calls only the admin routes; tenant keys and JWTs only the tenant routes (403 otherwise).
401 and 403 are decided before anything else, so they are never stored for an
` + "`Idempotency-Key`" + `.

**Idempotency-Key** (every POST):
- a key is 1-255 printable ASCII characters (0x20-0x7E), sent once; anything else is 400
  naming ` + "`Idempotency-Key`" + `;
- keys are per credential: the tenant and the API key (or the JWT's issuer and subject, and
  its ` + "`owner`" + `); another credential sending the same key makes its own request and never
  gets the first one's response; the operator's admin routes have one key space of their own;
- ` + "`POST /v1/events`" + ` keeps its key with the event instead (header or ` + "`idempotencyKey`" + `, the
  same key either way; the request is its event, whatever the JSON spacing): a repeat gets
  the first event (202, ` + "`Idempotent-Replayed: true`" + `), and a retry after a crash or a
  timeout gets the same event id;
- a request is identified by its method, path with query string, and exact body bytes: the
  same key with any other request within 24 h of the first is 409, and so is a repeat while
  the first is still running (retry later: that 409 carries ` + "`Retry-After: 1`" + `);
- the first response is stored and replayed for 24 h whatever its status, 4xx included, with
  its status, ` + "`Content-Type`" + `, ` + "`Location`" + ` and body, plus ` + "`Idempotent-Replayed: true`" + `;
  stored responses are encrypted at rest;
- a 5xx response is not stored, nor one larger than 256 KiB (only a large page of results
  can be): the same key may then run again;
- a first request whose process died before answering holds its key for at most 60 s, after
  which the same request may run again;
- bodies over the size limit are refused (413) before the key is looked at.

**Errors.** Problem ` + "`type`" + ` URIs are ` + "`https://gancho.dev/problems/<slug>`" + `
(bad-request, unauthorized, forbidden, not-found, method-not-allowed, conflict,
payload-too-large, unsupported-media-type, validation-failed, internal). A known path called
with another method is 405 with ` + "`Allow`" + `; an unknown path is 404. Malformed query parameters
(` + "`limit`" + `, ` + "`cursor`" + `, filters) are 400 naming the parameter; body fields of the wrong JSON type
and unknown body fields are 422 naming the field. A request body without ` + "`Content-Type`" + ` is
read as JSON; any other non-JSON type is 415. Request bodies are limited to 272 KiB (an event
payload of 256 KiB plus its envelope). Internal errors say only that they were logged.

**Lists.** A ` + "`cursor`" + ` is bound to the list and tenant that issued it; using it elsewhere is
400.

**Responses.** Times are RFC 3339 UTC with fractional seconds when they have them. Publishing
answers 202 with ` + "`Location: /v1/events/{id}`" + `. Deletes answer 204 with no body. Fields
that have no value are left out of responses rather than sent as null, except where a schema
says null. ` + "`GET /v1/help`" + ` lists endpoints with ` + "`{name}`" + ` path templates, not
` + "`:id`" + ` ones. ` + "`GET /v1/health`" + `, ` + "`GET /v1/help`" + ` and this document need no credentials.

**Propagation bounds.** Changes to tenant settings (` + "`signatureHeader`" + `, ` + "`publicBaseUrl`" + `, JWT
settings) and to the catalog reach every route and the consumer within 60 s; a revoked key
stops working within 60 s. Each function (every route, and the consumer) caches what it
reads for at most that long, and nothing one function drops reaches another: these bounds
are the guarantee, for the function that made the change as for the others.

**Servers.** ` + "`servers`" + ` is the address this document was fetched from: the deployment that
served it.`

// errorResponses name the shared problem responses by status.
var errorResponses = map[int]struct{ name, description string }{
	400: {"BadRequest", "malformed JSON, query parameters or Idempotency-Key"},
	401: {"Unauthorized", "no, bad or revoked credentials"},
	403: {"Forbidden", "the credential lacks the route's scope"},
	404: {"NotFound", "unknown id, or another tenant's or owner's"},
	409: {"Conflict", "a conflicting state, or an Idempotency-Key used for another request or still running"},
	413: {"PayloadTooLarge", "request body too large"},
	415: {"UnsupportedMediaType", "the body is not JSON"},
	422: {"ValidationFailed", "validation failed; errors names each invalid field"},
}

// errorStatuses are the client errors a route can answer, from its shape.
func errorStatuses(rt Route, d Doc) []int {
	set := map[int]bool{}
	if rt.Scope != auth.ScopeNone {
		// 403: the scope is missing, or the admin key called a tenant route (or the
		// reverse).
		set[401], set[403] = true, true
	}
	if strings.Contains(rt.Path, "{") {
		set[404] = true
	}
	if d.Request != nil {
		set[400], set[413], set[415], set[422] = true, true, true, true
	}
	if len(d.Query) > 0 {
		set[400] = true
	}
	if rt.Method == http.MethodPost {
		set[400], set[409] = true, true // Idempotency-Key
	}
	for _, s := range d.Errors {
		set[s] = true
	}
	out := make([]int, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// document builds the whole OpenAPI document.
func (g *generator) document(s Spec) map[string]any {
	g.typeSchema(s.Problem, false)
	paths := map[string]any{}
	names := map[string]bool{}
	for _, rt := range s.Routes {
		names[rt.Name] = true
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = g.operation(s, rt)
	}
	for name := range s.Docs {
		if !names[name] {
			g.problem("the route docs have an entry %q, which names no route", name)
		}
	}

	responses := map[string]any{
		"InternalError": map[string]any{
			"description": "an internal error; it has been logged, and the response says nothing more",
			"content":     problemContent(),
		},
	}
	for _, e := range errorResponses {
		responses[e.name] = map[string]any{"description": e.description, "content": problemContent()}
	}
	return map[string]any{
		"openapi": Version,
		"info": map[string]any{
			"title":       "Gancho",
			"version":     gancho.Version,
			"summary":     "A multi-tenant webhooks engine",
			"description": decisions,
		},
		"paths":    paths,
		"webhooks": g.webhooks(s),
		"security": []any{
			map[string]any{"apiKey": []any{}},
			map[string]any{"jwt": []any{}},
			map[string]any{"apiKeyHeader": []any{}},
		},
		"components": map[string]any{
			"schemas":   g.schemas,
			"responses": responses,
			"parameters": map[string]any{
				"IdempotencyKey": map[string]any{
					"name": s.IdempotencyKeyHeader, "in": "header", "required": false,
					"description": "makes the request safe to repeat: the same key with the same request within 24 h returns the first response with Idempotent-Replayed: true and does nothing new",
					"schema": map[string]any{"type": "string", "minLength": 1, "maxLength": s.MaxIdempotencyKeyLength,
						"pattern": "^[\\x20-\\x7E]+$"},
				},
			},
			"headers": map[string]any{
				"IdempotentReplayed": map[string]any{
					"description": "true when this response is the stored response of an earlier request with the same Idempotency-Key",
					"schema":      map[string]any{"type": "string", "enum": []any{"true"}},
				},
				"Location": map[string]any{
					"description": "the address of the created (or queued) object",
					"schema":      map[string]any{"type": "string"},
				},
			},
			"securitySchemes": map[string]any{
				"apiKey": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "API key",
					"description": "Authorization: Bearer <API key>. Required scopes are listed per operation; the admin scope is the platform operator's key."},
				"jwt": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
					"description": "Authorization: Bearer <JWT> of the tenant's configured issuer; its scope claim (space-separated) grants the scopes, its owner claim binds it to one owner."},
				"apiKeyHeader": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key",
					"description": "X-API-Key: <API key>; read before Authorization."},
			},
		},
	}
}

func problemContent() map[string]any {
	return map[string]any{mediaProblem: map[string]any{"schema": Ref("Problem")}}
}

// operation documents one route.
func (g *generator) operation(s Spec, rt Route) map[string]any {
	d, documented := s.Docs[rt.Name]
	if !documented {
		g.problem("route %s (%s %s) has no entry in the route docs", rt.Name, rt.Method, rt.Path)
	}
	op := map[string]any{
		"operationId": rt.Name,
		"summary":     rt.Summary,
		"tags":        []any{tag(rt.Path)},
	}
	desc := d.Description
	switch rt.Scope {
	case auth.ScopeNone:
		op["security"] = []any{}
		desc = strings.TrimSpace(desc + "\n\nNo credentials needed.")
	case auth.ScopeAuthenticated:
		desc = strings.TrimSpace(desc + "\n\nAny valid tenant credential.")
	case auth.ScopeAdmin:
		op["security"] = []any{
			map[string]any{"apiKey": []any{auth.ScopeAdmin}},
			map[string]any{"apiKeyHeader": []any{auth.ScopeAdmin}},
		}
		desc = strings.TrimSpace(desc + "\n\nThe platform operator's admin key only.")
	default:
		op["security"] = []any{
			map[string]any{"apiKey": []any{rt.Scope}},
			map[string]any{"jwt": []any{rt.Scope}},
			map[string]any{"apiKeyHeader": []any{rt.Scope}},
		}
		desc = strings.TrimSpace(desc + "\n\nScope: `" + rt.Scope + "`.")
	}
	op["description"] = desc

	var params []any
	for _, name := range pathParams(rt.Path) {
		pd := d.Params[name]
		if pd == "" {
			pd = name
		}
		schema := strSchema
		if name == "id" {
			schema = map[string]any{"type": "string", "minLength": 1, "maxLength": s.MaxPathIDLength}
		}
		params = append(params, map[string]any{"name": name, "in": "path", "required": true,
			"description": pd, "schema": schema})
	}
	for _, qp := range d.Query {
		params = append(params, map[string]any{"name": qp.Name, "in": "query", "required": false,
			"description": qp.Description, "schema": qp.Schema})
	}
	post := rt.Method == http.MethodPost
	if post {
		params = append(params, map[string]any{"$ref": "#/components/parameters/IdempotencyKey"})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}

	if d.Request != nil {
		rs := d.Request.schema(g)
		content := map[string]any{mediaJSON: map[string]any{"schema": rs}}
		if d.MergePatch {
			content[mediaMergePatch] = map[string]any{"schema": rs}
		}
		op["requestBody"] = map[string]any{"required": !d.BodyOptional, "content": content}
	}

	responses := map[string]any{}
	if !documented {
		responses["default"] = map[string]any{"description": "not documented yet", "content": problemContent()}
	}
	var body map[string]any
	if d.Response != nil {
		body = d.Response.schema(g)
	}
	for _, status := range d.Success {
		resp := map[string]any{"description": http.StatusText(status)}
		if body != nil && status != http.StatusNoContent {
			media := d.Media
			if len(media) == 0 {
				media = []string{mediaJSON}
			}
			content := map[string]any{}
			for _, m := range media {
				content[m] = map[string]any{"schema": body}
			}
			resp["content"] = content
		}
		headers := map[string]any{}
		if d.Location && status != http.StatusOK {
			headers["Location"] = map[string]any{"$ref": "#/components/headers/Location"}
		}
		if post {
			headers[s.ReplayedHeader] = map[string]any{"$ref": "#/components/headers/IdempotentReplayed"}
		}
		if len(headers) > 0 {
			resp["headers"] = headers
		}
		responses[fmt.Sprint(status)] = resp
	}
	for _, status := range errorStatuses(rt, d) {
		e := errorResponses[status]
		if post && status != 401 && status != 403 {
			// Replayable: described inline so it can carry Idempotent-Replayed.
			headers := map[string]any{s.ReplayedHeader: map[string]any{"$ref": "#/components/headers/IdempotentReplayed"}}
			if status == http.StatusConflict {
				headers["Retry-After"] = map[string]any{
					"description": "seconds to wait when the first request with this Idempotency-Key is still running",
					"schema":      map[string]any{"type": "integer", "minimum": 0},
				}
			}
			responses[fmt.Sprint(status)] = map[string]any{"description": e.description, "headers": headers, "content": problemContent()}
			continue
		}
		responses[fmt.Sprint(status)] = map[string]any{"$ref": "#/components/responses/" + e.name}
	}
	responses["5XX"] = map[string]any{"$ref": "#/components/responses/InternalError"}
	op["responses"] = responses
	return op
}

// webhooks documents what receivers get (the API contract, "What a receiver gets").
func (g *generator) webhooks(s Spec) map[string]any {
	header := func(name, description string, required bool) map[string]any {
		return map[string]any{"name": name, "in": "header", "required": required, "description": description, "schema": strSchema}
	}
	params := []any{
		header("webhook-id", "the delivery id (dlv_...): the same across every attempt, retry and recover of this delivery", true),
		header("webhook-timestamp", "Unix seconds of this attempt", true),
		header("webhook-signature", "v1,<base64 of HMAC-SHA256(key, \"{webhook-id}.{webhook-timestamp}.{body}\")>, key being the base64-decoded part of whsec_...; two space-separated signatures while a rotated secret is still valid", true),
		header("X-Gancho-Event", "the event id", true),
		header("X-Gancho-Attempt", "1, 2, ...", true),
		header("User-Agent", "Gancho/<version>", true),
	}
	responses := map[string]any{
		"2XX":     map[string]any{"description": "delivered"},
		"410":     map[string]any{"description": "disables the subscription"},
		"default": map[string]any{"description": "failed: retried on the subscription's retrySchedule (429 and 503 may send Retry-After)"},
	}
	event := g.typeSchema(s.Event, false)
	notice := g.typeSchema(s.Notice, false)
	return map[string]any{
		"event": map[string]any{"post": map[string]any{
			"operationId": "receive-event",
			"summary":     "an event delivered to a subscription",
			"description": "Sent with the subscription's method (GET and DELETE carry no body and sign the empty body) and custom headers. format envelope: the envelope below; format raw: the payload exactly as published. A tenant's signatureHeader, if set, carries sha256=<hex HMAC-SHA256(key, body)>.",
			"parameters":  params,
			"requestBody": map[string]any{"content": map[string]any{mediaJSON: map[string]any{"schema": event}}},
			"responses":   responses,
		}},
		"notice": map[string]any{"post": map[string]any{
			"operationId": "receive-notice",
			"summary":     "a notice to a mode: notify subscription",
			"description": "Coalesced: while one is queued or retried, new events only set needView. The receiver then calls the results endpoint.",
			"parameters":  params,
			"requestBody": map[string]any{"content": map[string]any{mediaJSON: map[string]any{"schema": notice}}},
			"responses":   responses,
		}},
	}
}

func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

// tag groups routes by their first path segment after /v1.
func tag(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/v1/"), "/")
	switch seg {
	case "health", "help", "openapi.json":
		return "meta"
	case "tenant", "tenants":
		return "tenants"
	}
	return seg
}

// Q is a query parameter.
func Q(name, description string, schema map[string]any) Param {
	return Param{Name: name, Description: description, Schema: schema}
}

// ListQuery are the parameters of every list: limit and cursor.
func ListQuery() []Param {
	return []Param{
		{Name: "limit", Description: "page size, 1-100 (default 20)", Schema: map[string]any{"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
		{Name: "cursor", Description: "the nextCursor of the previous page", Schema: strSchema},
	}
}
