package httpapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// The OpenAPI 3.1 document of the API is built once, at run time, from Routes(), the
// per-route table below and, by reflection on their json tags, the Go types that the
// handlers decode and encode, so it cannot drift from the code. Types of routes whose
// handlers have not landed yet are written by hand in the table.

// OpenAPIVersion is the OpenAPI version of the document at /v1/openapi.json.
const OpenAPIVersion = "3.1.0"

const (
	mediaJSON       = "application/json"
	mediaProblem    = "application/problem+json"
	mediaMergePatch = "application/merge-patch+json"
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

// OpenAPIJSON returns the OpenAPI 3.1 document of the API as served from baseURL
// (its one server; "/" when unknown: relative to the document's own address).
func OpenAPIJSON(baseURL string) ([]byte, error) {
	d := buildOpenAPI()
	if d.err != nil {
		return nil, d.err
	}
	servers, err := json.Marshal([]map[string]string{{"url": baseURL, "description": "this deployment"}})
	if err != nil {
		return nil, fmt.Errorf("encode the OpenAPI servers: %w", err)
	}
	// The cached document is a JSON object with members: put servers first.
	out := make([]byte, 0, len(d.json)+len(servers)+12)
	out = append(out, `{"servers":`...)
	out = append(out, servers...)
	out = append(out, ',')
	return append(out, d.json[1:]...), nil
}

// hostPattern is a host[:port] as a client may address a deployment: a DNS name or
// IPv4 address, or an IPv6 address in brackets.
var hostPattern = regexp.MustCompile(`^([A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?$`)

// baseURL is the address r reached this deployment at. On Lambda, httpadapter builds
// the request URL from API Gateway's domain name (the default endpoint or a custom
// domain) over https; on the local server it is the Host header, over http unless the
// connection is TLS. Neither a tenant's publicBaseUrl (this route has no tenant) nor a
// configured address (API Gateway assigns the endpoint at deploy time) would know it
// better. A Host that is not a plain host[:port] gives "/", relative to the document.
func baseURL(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if r.URL.IsAbs() {
		scheme, host = r.URL.Scheme, r.URL.Host
	}
	if (scheme != "http" && scheme != "https") || !hostPattern.MatchString(host) {
		return "/"
	}
	return scheme + "://" + strings.ToLower(host)
}

// OpenAPIProblems lists what the document cannot say from the code: routes of
// Routes() without an entry in routeDocs, and notes or required fields that name no
// field of their type. The document is still served; tests require this to be empty.
func OpenAPIProblems() []string { return slices.Clone(buildOpenAPI().problems) }

type openAPIResult struct {
	json     []byte
	err      error
	problems []string
}

var openAPIOnce struct {
	sync.Once
	result openAPIResult
}

// buildOpenAPI builds the document once (a function, not a sync.OnceValue variable:
// the document reads Routes(), which refers to the handler serving it).
func buildOpenAPI() openAPIResult {
	openAPIOnce.Do(func() {
		g := newGenerator()
		b, err := json.Marshal(g.document())
		if err != nil {
			err = fmt.Errorf("encode the OpenAPI document: %w", err)
		}
		openAPIOnce.result = openAPIResult{json: b, err: err, problems: g.problems}
	})
	return openAPIOnce.result
}

func (a *API) openAPI(w http.ResponseWriter, r *http.Request) {
	b, err := OpenAPIJSON(baseURL(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// routeDoc documents one route beyond Routes(): its bodies, statuses and parameters.
type routeDoc struct {
	Description string
	// Request is the JSON body; nil: none. BodyOptional: it may be left out.
	Request      schemaSource
	BodyOptional bool
	MergePatch   bool // the body is a JSON merge patch (RFC 7396)
	// Success lists the success statuses (more than one for PUT upserts); Response
	// is their body, nil for none. Location: a created object's address is sent.
	Success  []int
	Response schemaSource
	Location bool
	Query    []queryParam
	// Errors adds statuses to those the route's shape implies (see errorStatuses).
	Errors []int
	// Params describes path parameters.
	Params map[string]string
}

type queryParam struct {
	Name, Description string
	Schema            map[string]any
}

var (
	strSchema      = map[string]any{"type": "string"}
	boolSchema     = map[string]any{"type": "boolean"}
	dateTimeSchema = map[string]any{"type": "string", "format": "date-time"}
	idParam        = map[string]string{"id": "the object's id"}
)

func q(name, description string, schema map[string]any) queryParam {
	return queryParam{Name: name, Description: description, Schema: schema}
}

var (
	sinceParam = q("since", "only objects created at or after this time (RFC 3339)", dateTimeSchema)
	untilParam = q("until", "only objects created before this time (RFC 3339)", dateTimeSchema)
)

// routeDocs is keyed by "METHOD path" as in Routes(); it also covers the routes of
// the API contract whose handlers have not landed yet.
// originRule is the API contract, "Write-only values follow the origin", said on PUT and PATCH.
const originRule = "unless url or auth.url moves to another origin (scheme, host, port): then every stored write-only value " +
	"(auth.value, sensitive headers, token request headers and body fields) must be sent again, or 422 names each missing one."

var routeDocs = map[string]routeDoc{
	"GET /v1/health": {Success: []int{200}, Response: handWritten("Health", obj(props{
		"status":  {"type": "string", "enum": []any{"ok"}},
		"version": {"type": "string", "description": "Gancho's release"},
	}, "status", "version"))},
	"GET /v1/help": {
		Description: "Every route of this API (the /help shape of the pull-results API), straight from the route table.",
		Success:     []int{200}, Response: arrayOf(out[HelpEntry]())},
	"GET /v1/openapi.json": {Success: []int{200}, Response: handWritten("OpenAPIDocument",
		map[string]any{"type": "object", "description": "this document"})},

	"POST /v1/tenants": {
		Description: "Creates a tenant and its first API key, which holds every tenant scope. The key's value is in this response only.",
		Request: handWritten("TenantCreate", obj(props{
			"id":   {"type": "string", "description": "optional tenant id; generated when left out"},
			"name": {"type": "string", "description": "the tenant's display name"},
		})),
		Success: []int{201}, Location: true, Errors: []int{409},
		Response: handWritten("TenantCreated", obj(props{
			"tenant": ref("TenantSettings"),
			"apiKey": ref("APIKeyCreated"),
		}), tenantSettings, apiKeyCreated),
	},
	"GET /v1/tenant": {Success: []int{200}, Response: tenantSettings},
	"PATCH /v1/tenant": {
		Description: "A JSON merge patch (RFC 7396) of the settings; write-only values left out or sent masked are kept.",
		Request:     tenantSettings, MergePatch: true, Success: []int{200}, Response: tenantSettings},
	"GET /v1/tenant/secret": {
		Description: "The secret that signs callbackUrl deliveries. Every tenant gets one when it is created; a tenant stored without one is 409 (POST /v1/tenant/secret/rotate creates it).",
		Success:     []int{200}, Response: secretSchema, Errors: []int{409}},
	"POST /v1/tenant/secret/rotate": {
		Description: "A new default secret; the previous one also signs until previousValidUntil (24 h).",
		Success:     []int{200}, Response: rotatedSchema},

	"POST /v1/api-keys": {
		Description: "Scopes (and owner) must be within the calling key's own. The key's value is in this response only.",
		Request: handWritten("APIKeyCreate", obj(props{
			"name":    {"type": "string"},
			"scopes":  {"type": "array", "items": map[string]any{"type": "string", "enum": anySlice(gancho.AllTenantScopes)}},
			"ownerId": {"type": "string", "description": "binds the key to one owner"},
		}, "name", "scopes")),
		Success: []int{201}, Location: true, Response: apiKeyCreated},
	"GET /v1/api-keys":         {Success: []int{200}, Response: listOf(out[gancho.APIKey]()), Query: listQuery()},
	"GET /v1/api-keys/{id}":    {Success: []int{200}, Response: out[gancho.APIKey](), Params: idParam},
	"DELETE /v1/api-keys/{id}": {Description: "Revokes the key; caches may honour it for up to 60 s.", Success: []int{204}, Params: idParam},

	"GET /v1/event-types": {Success: []int{200}, Response: listOf(eventType), Query: listQuery()},
	"PUT /v1/event-types/{name}": {
		Description: "Creates (201) or updates (200) an event type. A schema, when set, is the JSON Schema every published payload of the type must match.",
		Request: handWritten("EventTypeInput", obj(props{
			"description": {"type": "string"},
			"schema":      {"description": "a JSON Schema for the payload"},
		})),
		Success: []int{201, 200}, Location: true, Response: eventType, Params: nameParam},
	"DELETE /v1/event-types/{name}": {
		Description: "Archives the type: no new subscriptions to it or publishes of it; existing subscriptions keep working.",
		Success:     []int{204}, Params: nameParam},

	"POST /v1/subscriptions": {
		Description: "The response holds the subscription's signing secret; reads never show it again. Publishing reuses the subscriptions it found for an event type for a few seconds: a new subscription (or a change, or a delete) may miss (or still get) events published within 5 s after it; a delivery to a deleted or disabled subscription ends cancelled.",
		Request:     in[gancho.SubscriptionInput]("url"),
		Success:     []int{201}, Location: true, Response: out[gancho.Subscription]()},
	"GET /v1/subscriptions": {Success: []int{200}, Response: listOf(out[gancho.Subscription]()), Query: append(listQuery(),
		q("event", "only subscriptions whose patterns include this one", strSchema),
		q("ownerId", "only this owner's subscriptions", strSchema),
		q("isActive", "only active (true) or inactive (false) subscriptions", boolSchema))},
	"GET /v1/subscriptions/{id}": {Success: []int{200}, Response: out[gancho.Subscription](), Params: idParam},
	"PUT /v1/subscriptions/{id}": {
		Description: "Replaces the subscription: omitted fields take their defaults; write-only values left out or sent masked are kept, " + originRule,
		Request:     in[gancho.SubscriptionInput]("url"), Success: []int{200}, Response: out[gancho.Subscription](), Params: idParam},
	"PATCH /v1/subscriptions/{id}": {
		Description: "A JSON merge patch (RFC 7396): null removes a field, so it takes its default. Write-only values left out or sent masked are kept, " + originRule,
		Request:     in[gancho.SubscriptionInput](), MergePatch: true, Success: []int{200}, Response: out[gancho.Subscription](), Params: idParam},
	"DELETE /v1/subscriptions/{id}":     {Description: "Its queued deliveries end cancelled.", Success: []int{204}, Params: idParam},
	"GET /v1/subscriptions/{id}/secret": {Success: []int{200}, Response: secretSchema, Params: idParam},
	"POST /v1/subscriptions/{id}/secret/rotate": {
		Description: "A new signing secret; the previous one also signs until previousValidUntil (24 h).",
		Success:     []int{200}, Response: rotatedSchema, Params: idParam},
	"POST /v1/subscriptions/{id}/test": {
		Description: "Sends a webhook.test event to this subscription only. The optional subject fills \":id\" in the URL (default \"test\"). " +
			"A test delivery never counts towards consecutiveFailures, the status block or disabling, whatever the receiver answers. " +
			"Stored write-only values only ever go to the origin they were given for.",
		Request: handWritten("TestInput", obj(props{
			"subject": {"type": "string", "minLength": 1, "maxLength": 512, "not": map[string]any{"enum": []any{".", ".."}},
				"description": "fills \":id\" in the URL; default \"test\""},
		})), BodyOptional: true,
		Success: []int{202}, Location: true, Params: idParam, Response: handWritten("TestSent", obj(props{
			"eventId": {"type": "string"}, "deliveryId": {"type": "string"},
		}, "eventId", "deliveryId"))},
	"GET /v1/subscriptions/{id}/deliveries": {Success: []int{200}, Response: listOf(out[gancho.Delivery]()), Params: idParam,
		Query: append(listQuery(), q("status", "only deliveries in this status", deliveryStatus), sinceParam, untilParam)},
	"POST /v1/subscriptions/{id}/recover": {
		Description: "Re-queues the subscription's failed and cancelled deliveries created in [since, until).",
		Request: handWritten("RecoverInput", obj(props{
			"since": dateTimeSchema, "until": dateTimeSchema,
		}, "since")),
		Success: []int{202}, Params: idParam, Response: handWritten("Recovered", obj(props{
			"requeued": {"type": "integer", "minimum": 0},
		}, "requeued"))},
	"GET /v1/subscriptions/{id}/callback": {
		Description: "Whether there are matched events not yet seen through results.",
		Success:     []int{200}, Params: idParam, Response: handWritten("Callback", obj(props{
			"needView": {"type": "boolean"},
		}, "needView"))},
	"POST /v1/subscriptions/{id}/results": {
		Description: "Without all=true: the events matched since the subscription was last viewed, which marks them viewed. With all=true: all of them within retention, filtered by date. Numbers may be sent as strings. For a push subscription (read from the events queued for it) an event shows among the new ones once every earlier event's fan-out has finished and at least 10 s after it was published; needView and all=true show it at once.",
		Request:     resultsInput, BodyOptional: true,
		Query:   []queryParam{q("all", "all events within retention instead of the unseen ones", boolSchema)},
		Success: []int{200}, Params: idParam, Response: handWritten("Results", obj(props{
			"data":  {"type": "array", "items": ref("Event")},
			"total": {"type": "integer", "minimum": 0},
		}, "data", "total"), out[gancho.Event]())},

	"POST /v1/events": {
		Description: "Publishes an event to every matching subscription, or to callbackUrl instead.",
		Request:     in[gancho.EventInput]("type", "payload"),
		Success:     []int{202}, Location: true, Response: out[publishResponse]()},
	"POST /v1/events/batch": {
		Description: "Publishes 1-100 events (body at most 1 MiB), each validated and published on its own, as POST /v1/events would. The answer holds one item per event, in request order: the published event (replayed: true when its idempotencyKey matched an earlier publish), or {error: problem} whose errors name fields from the body's root, e.g. events/3/payload/orderId. Each event's idempotencyKey is scoped as in POST /v1/events; an Idempotency-Key header covers the whole request, and an answer holding a 500 item is not stored under it.",
		Request: handWritten("EventBatch", obj(props{"events": {"type": "array", "minItems": 1, "maxItems": MaxBatchEvents,
			"items": map[string]any{"allOf": []any{ref("EventInput")}, "required": []any{"type", "payload"}}}}, "events"), in[gancho.EventInput]()),
		Success: []int{202}, Errors: []int{413},
		Response: handWritten("BatchPublishResult", obj(props{"data": {"type": "array",
			"items": map[string]any{"oneOf": []any{ref("BatchPublished"), ref("BatchFailed")}}}}, "data"),
			out[batchPublished](), out[batchFailed]())},
	"GET /v1/events": {Success: []int{200}, Response: listOf(out[gancho.Event]()), Query: append(listQuery(),
		q("type", "only events of this type", strSchema),
		q("ownerId", "only this owner's events", strSchema),
		q("referenceId", "only events with this reference id", strSchema),
		sinceParam, untilParam)},
	"GET /v1/events/{id}":            {Success: []int{200}, Response: out[gancho.Event](), Params: idParam},
	"GET /v1/events/{id}/deliveries": {Description: "One row per destination.", Success: []int{200}, Response: listOf(out[gancho.Delivery]()), Params: idParam, Query: listQuery()},
	"GET /v1/deliveries/{id}":        {Success: []int{200}, Response: out[gancho.Delivery](), Params: idParam},
	"POST /v1/deliveries/{id}/retry": {
		Description: "One more attempt now. A retrying delivery gets its next attempt now instead of at its scheduled time " +
			"(the scheduled one is not made as well; a failure goes on with the retry schedule, except for an ordered delivery, " +
			"where it ends failed); a delivered, failed or cancelled one gets a one-off attempt. A pending delivery is already queued: 409. " +
			"The response is the delivery as GET /v1/deliveries/{id} shows it.",
		Success: []int{202}, Errors: []int{409}, Params: idParam, Response: out[gancho.Delivery]()},
	"POST /v1/dead-letters/redrive": {
		Description: "Moves the dead-letter queue's messages back to the deliveries queue.",
		Success:     []int{202}, Response: handWritten("Redriven", obj(props{
			"moved": {"type": "integer", "minimum": 0},
		}, "moved"))},
}

var (
	nameParam      = map[string]string{"name": "the event type, e.g. crm.lead.created"}
	deliveryStatus = map[string]any{"type": "string", "enum": []any{
		gancho.StatusPending, gancho.StatusRetrying, gancho.StatusDelivered, gancho.StatusFailed, gancho.StatusCancelled}}
	tenantSettings = handWritten("TenantSettings", obj(props{
		"id":                    {"type": "string", "readOnly": true},
		"name":                  {"type": "string"},
		"signatureHeader":       {"type": "string", "description": "an extra header carrying sha256=<hex HMAC-SHA256 of the body>, e.g. X-JuriChat-Signature"},
		"publicBaseUrl":         {"type": "string", "description": "base of the links in notices"},
		"jwt":                   {"type": []any{"object", "null"}, "description": "the JWT issuer: iss, aud, an HS256 secret (write-only) or a JWKS URL, the pinned algorithm"},
		"allowedEventTypesOnly": {"type": "boolean"},
		"createdAt":             {"type": "string", "format": "date-time", "readOnly": true},
	}))
	secretSchema = handWritten("Secret", obj(props{
		"secret": {"type": "string", "description": "whsec_ followed by the base64 of 32 random bytes"},
	}, "secret"))
	rotatedSchema = handWritten("RotatedSecret", obj(props{
		"secret":             {"type": "string"},
		"previousValidUntil": {"type": "string", "format": "date-time"},
	}, "secret", "previousValidUntil"))
	apiKeyCreated = handWritten("APIKeyCreated", map[string]any{"allOf": []any{
		ref("APIKey"),
		obj(props{"key": {"type": "string", "description": "the key's value (gk_...), shown once"}}, "key"),
	}}, out[gancho.APIKey]())
	eventType = handWritten("EventType", obj(props{
		"name":        {"type": "string"},
		"description": {"type": "string"},
		"schema":      {"description": "the JSON Schema payloads must match"},
		"archived":    {"type": "boolean"},
		"createdAt":   {"type": "string", "format": "date-time"},
		"updatedAt":   {"type": "string", "format": "date-time"},
	}, "name"))
	numberOrString = map[string]any{"type": []any{"integer", "string"}}
	resultsInput   = handWritten("ResultsQuery", obj(props{
		"from":             numberOrString,
		"size":             numberOrString,
		"calendarInterval": {"type": "string", "enum": []any{"year", "month", "day"}},
		"year":             numberOrString,
		"month":            numberOrString,
		"day":              numberOrString,
		"timeZone":         {"type": "string", "description": "an IANA time zone; default UTC"},
	}))
)

// fieldNotes add what json tags cannot say to reflected properties ("Type.field").
var fieldNotes = map[string]map[string]any{
	"Subscription.method":        {"enum": []any{"POST", "PUT", "PATCH", "GET", "DELETE"}},
	"Subscription.format":        {"enum": []any{"envelope", "raw"}},
	"Subscription.secret":        {"description": "on create only"},
	"Subscription.retrySchedule": {"description": "seconds before each retry"},
	"Subscription.lastAttemptAt": {"description": "a run of successes that changes nothing else in the status block updates it at most once a minute: up to 60 s behind the last attempt"},
	"Subscription.lastSuccessAt": {"description": "up to 60 s behind the last success, as lastAttemptAt"},
	"Delivery.status":            {"enum": deliveryStatus["enum"]},
	"Attempt.outcome":            {"enum": []any{gancho.OutcomeSuccess, gancho.OutcomeFailure}},
	"Event.data":                 {"description": "the payload as published"},
	"EventInput.ownerId":         {"description": `"*" reaches every owner's subscriptions`},
	"EventInput.idempotencyKey":  {"description": "same as the Idempotency-Key header"},
	"Problem.errors":             {"description": "the invalid fields, when the problem is about fields"},
}

// typeNames names components whose Go type names are not what the API calls them.
var typeNames = map[reflect.Type]string{
	reflect.TypeFor[problem]():         "Problem",
	reflect.TypeFor[publishResponse](): "Published",
	reflect.TypeFor[gancho.APIKey]():   "APIKey",
}

func listQuery() []queryParam {
	return []queryParam{
		{Name: "limit", Description: "page size, 1-100 (default 20)", Schema: map[string]any{"type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
		{Name: "cursor", Description: "the nextCursor of the previous page", Schema: strSchema},
	}
}

type props map[string]map[string]any

func obj(p props, required ...string) map[string]any {
	properties := map[string]any{}
	for k, v := range p {
		properties[k] = v
	}
	s := map[string]any{"type": "object", "properties": properties}
	if len(required) > 0 {
		s["required"] = anySlice(required)
	}
	return s
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

func anySlice[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}

// schemaSource is a request or response body: a reflected Go type or a hand-written
// schema; schema registers its components and returns a reference to use.
type schemaSource interface {
	schema(g *generator) map[string]any
}

type reflected struct {
	t        reflect.Type
	input    bool
	required []string
}

// out documents a type the API encodes; in one it decodes, whose fields are optional
// but for required.
func out[T any]() reflected { return reflected{t: reflect.TypeFor[T]()} }
func in[T any](required ...string) reflected {
	return reflected{t: reflect.TypeFor[T](), input: true, required: required}
}

func (r reflected) schema(g *generator) map[string]any {
	name := g.component(r.t, r.input)
	if len(r.required) == 0 {
		return ref(name)
	}
	// The component is shared (PATCH requires nothing of what POST requires), so
	// the route's required fields go next to the reference, non-null.
	have := g.schemas[name].(map[string]any)["properties"].(map[string]any)
	req, props := []any{}, map[string]any{}
	for _, f := range r.required {
		p, ok := have[f].(map[string]any)
		if !ok {
			g.problem("required field %s.%s does not exist", name, f)
			continue
		}
		req = append(req, f)
		if types, ok := p["type"].([]any); ok && len(types) == 2 && types[1] == "null" {
			props[f] = map[string]any{"type": types[0]}
		}
	}
	s := map[string]any{"allOf": []any{ref(name)}, "required": req}
	if len(props) > 0 {
		s["properties"] = props
	}
	return s
}

type handSchema struct {
	name string
	s    map[string]any
	deps []schemaSource
}

// handWritten is a component written by hand; deps are the components it refers to.
func handWritten(name string, s map[string]any, deps ...schemaSource) handSchema {
	return handSchema{name, s, deps}
}

func (h handSchema) schema(g *generator) map[string]any {
	for _, d := range h.deps {
		d.schema(g)
	}
	g.schemas[h.name] = h.s
	return ref(h.name)
}

type arraySchema struct{ item schemaSource }

func arrayOf(item schemaSource) arraySchema { return arraySchema{item} }

func (a arraySchema) schema(g *generator) map[string]any {
	return map[string]any{"type": "array", "items": a.item.schema(g)}
}

// listSchema is the API contract's list shape, {data, nextCursor}, reflected from listResponse.
type listSchema struct{ item schemaSource }

func listOf(item schemaSource) listSchema { return listSchema{item} }

func (l listSchema) schema(g *generator) map[string]any {
	item := l.item.schema(g)
	s := g.structSchema(reflect.TypeFor[listResponse[json.RawMessage]](), false)
	s["properties"].(map[string]any)["data"] = map[string]any{"type": "array", "items": item}
	name := strings.TrimPrefix(item["$ref"].(string), "#/components/schemas/") + "List"
	g.schemas[name] = s
	return ref(name)
}

// generator builds the document, collecting component schemas as it goes.
type generator struct {
	schemas  map[string]any
	names    map[reflect.Type]string
	problems []string
}

func newGenerator() *generator {
	return &generator{schemas: map[string]any{}, names: map[reflect.Type]string{}}
}

func (g *generator) problem(format string, args ...any) {
	g.problems = append(g.problems, fmt.Sprintf(format, args...))
}

var (
	timeType    = reflect.TypeFor[time.Time]()
	rawType     = reflect.TypeFor[json.RawMessage]()
	jsonMarsh   = reflect.TypeFor[json.Marshaler]()
	textMarsh   = reflect.TypeFor[encoding.TextMarshaler]()
	problemType = reflect.TypeFor[problem]()
)

// component registers the named struct type t as a component schema and returns its name.
func (g *generator) component(t reflect.Type, input bool) string {
	if name, ok := g.names[t]; ok {
		return name
	}
	name := typeNames[t]
	if name == "" {
		name = t.Name()
		if name != "" {
			name = string(unicode.ToUpper(rune(name[0]))) + name[1:]
		}
	}
	if _, taken := g.schemas[name]; taken || name == "" {
		g.problem("type %s cannot be named %q in the document", t, name)
		name = strings.NewReplacer("/", ".", "[", "_", "]", "_", "*", "").Replace(t.String())
	}
	g.names[t] = name
	g.schemas[name] = map[string]any{} // placeholder: recursive types refer to it
	s := g.structSchema(t, input)
	if props, ok := s["properties"].(map[string]any); ok {
		for key, note := range fieldNotes {
			typ, field, _ := strings.Cut(key, ".")
			if typ != name {
				continue
			}
			p, ok := props[field].(map[string]any)
			if !ok {
				continue // checked once every component is known
			}
			for k, v := range note {
				p[k] = v
			}
		}
	}
	g.schemas[name] = s
	return name
}

// structSchema is the object schema of struct type t, following encoding/json: embedded
// structs without a name are flattened, "-" and unexported fields skipped. In output
// types a field is required unless it is omitempty (a pointer without omitempty is
// sent as null); in input types nothing is required by its tag.
func (g *generator) structSchema(t reflect.Type, input bool) map[string]any {
	properties := map[string]any{}
	var required []string
	g.fields(t, input, properties, &required, map[string]bool{})
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": properties}
	if len(required) > 0 {
		s["required"] = anySlice(required)
	}
	return s
}

func (g *generator) fields(t reflect.Type, input bool, properties map[string]any, required *[]string, seen map[string]bool) {
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, f)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		optional := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		var fs map[string]any
		if slices.Contains(strings.Split(opts, ","), "string") && scalar(f.Type) {
			fs = map[string]any{"type": "string"}
		} else {
			fs = g.typeSchema(f.Type, input)
		}
		properties[name] = fs
		if !input && !optional {
			*required = append(*required, name)
		}
	}
	// Shallower fields win over those of embedded structs, as in encoding/json.
	for _, f := range embedded {
		ft := f.Type
		in := input
		if ft.Kind() == reflect.Pointer {
			ft, in = ft.Elem(), true // a nil embedded pointer leaves its fields out
		}
		g.fields(ft, in, properties, required, seen)
	}
}

func scalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// typeSchema is the schema of a value of type t.
func (g *generator) typeSchema(t reflect.Type, input bool) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{} // any JSON value
	case t.Kind() == reflect.Pointer:
		return nullable(g.typeSchema(t.Elem(), input))
	case t.Implements(jsonMarsh) || reflect.PointerTo(t).Implements(jsonMarsh):
		return map[string]any{}
	case t.Implements(textMarsh) || reflect.PointerTo(t).Implements(textMarsh):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem(), input)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), input)}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t, input)
		}
		return ref(g.component(t, input))
	}
	return map[string]any{} // interfaces: any JSON value
}

// nullable lets s also be null.
func nullable(s map[string]any) map[string]any {
	if len(s) == 0 {
		return s
	}
	if typ, ok := s["type"].(string); ok {
		c := make(map[string]any, len(s))
		for k, v := range s {
			c[k] = v
		}
		c["type"] = []any{typ, "null"}
		return c
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

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
func errorStatuses(rt Route, d routeDoc) []int {
	set := map[int]bool{}
	if rt.Scope != ScopeNone {
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
func (g *generator) document() map[string]any {
	g.typeSchema(problemType, false)
	paths := map[string]any{}
	for _, rt := range Routes() {
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = g.operation(rt)
	}
	g.checkNotes()

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
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":       "Gancho",
			"version":     gancho.Version,
			"summary":     "A multi-tenant webhooks engine",
			"description": decisions,
		},
		"paths":    paths,
		"webhooks": g.webhooks(),
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
					"name": HeaderIdempotencyKey, "in": "header", "required": false,
					"description": "makes the request safe to repeat: the same key with the same request within 24 h returns the first response with Idempotent-Replayed: true and does nothing new",
					"schema": map[string]any{"type": "string", "minLength": 1, "maxLength": MaxIdempotencyKeyLength,
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
	return map[string]any{mediaProblem: map[string]any{"schema": ref("Problem")}}
}

// operation documents one route.
func (g *generator) operation(rt Route) map[string]any {
	d, documented := routeDocs[rt.Method+" "+rt.Path]
	if !documented {
		g.problem("route %s (%s %s) has no entry in routeDocs", rt.Name, rt.Method, rt.Path)
	}
	op := map[string]any{
		"operationId": rt.Name,
		"summary":     rt.Summary,
		"tags":        []any{tag(rt.Path)},
	}
	desc := d.Description
	switch rt.Scope {
	case ScopeNone:
		op["security"] = []any{}
		desc = strings.TrimSpace(desc + "\n\nNo credentials needed.")
	case ScopeAuthenticated:
		desc = strings.TrimSpace(desc + "\n\nAny valid tenant credential.")
	case ScopeAdmin:
		op["security"] = []any{
			map[string]any{"apiKey": []any{ScopeAdmin}},
			map[string]any{"apiKeyHeader": []any{ScopeAdmin}},
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
			schema = map[string]any{"type": "string", "minLength": 1, "maxLength": MaxPathIDLength}
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
		s := d.Request.schema(g)
		content := map[string]any{mediaJSON: map[string]any{"schema": s}}
		if d.MergePatch {
			content[mediaMergePatch] = map[string]any{"schema": s}
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
			resp["content"] = map[string]any{mediaJSON: map[string]any{"schema": body}}
		}
		headers := map[string]any{}
		if d.Location && status != http.StatusOK {
			headers["Location"] = map[string]any{"$ref": "#/components/headers/Location"}
		}
		if post {
			headers[HeaderIdempotentReplayed] = map[string]any{"$ref": "#/components/headers/IdempotentReplayed"}
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
			headers := map[string]any{HeaderIdempotentReplayed: map[string]any{"$ref": "#/components/headers/IdempotentReplayed"}}
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

// checkNotes reports fieldNotes that name no reflected property.
func (g *generator) checkNotes() {
	for key := range fieldNotes {
		typ, field, _ := strings.Cut(key, ".")
		c, ok := g.schemas[typ].(map[string]any)
		if !ok {
			continue // a type no route uses
		}
		if props, _ := c["properties"].(map[string]any); props[field] == nil {
			g.problem("fieldNotes names %s, which %s does not have", key, typ)
		}
	}
}

// webhooks documents what receivers get (the API contract, "What a receiver gets").
func (g *generator) webhooks() map[string]any {
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
	event := g.typeSchema(reflect.TypeFor[gancho.Event](), false)
	notice := handWritten("Notice", obj(props{
		"webhookId":    {"type": "string", "description": "the subscription id"},
		"ownerId":      {"type": "string"},
		"lastUpdateAt": {"type": []any{"string", "null"}, "format": "date-time"},
		"lastViewedAt": {"type": []any{"string", "null"}, "format": "date-time"},
		"endpoints": obj(props{
			"result":   {"type": "string", "description": "<publicBaseUrl>/v1/subscriptions/{id}/results"},
			"callback": {"type": "string", "description": "<publicBaseUrl>/v1/subscriptions/{id}/callback"},
		}, "result", "callback"),
	}, "webhookId", "endpoints")).schema(g)
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
