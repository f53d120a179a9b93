package httpapi

import (
	"reflect"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/openapi"
)

// The request and response bodies whose shape their json tags do not say in full:
// what the document adds to the reflected schema (openapi.Describer) sits next to the
// type here, and bodies that had no type of their own before the document was
// reflected from types.

// healthResponse is the answer to GET /v1/health.
type healthResponse struct {
	Status  string `json:"status" schema:"enum=ok"`
	Version string `json:"version" doc:"Gancho's release"`
}

// recoverResponse is the answer to POST /v1/subscriptions/{id}/recover.
type recoverResponse struct {
	Requeued int `json:"requeued" schema:"minimum=0"`
}

// redriveResponse is the answer to POST /v1/dead-letters/redrive.
type redriveResponse struct {
	Moved   int `json:"moved" schema:"minimum=0"`
	Skipped int `json:"skipped" schema:"minimum=0" doc:"dead letters that were not deliveries, left in the queue"`
}

// callbackResponse is the answer to GET /v1/subscriptions/{id}/callback.
type callbackResponse struct {
	NeedView bool `json:"needView"`
}

// openAPIDocument stands for the document itself, the answer to GET /v1/openapi.json.
type openAPIDocument struct{}

// DescribeSchema: any object; its own schema is the OpenAPI 3.1 specification's.
func (openAPIDocument) DescribeSchema(s openapi.Schema) {
	s.Delete("properties")
	s.Set("description", "this document")
}

// notice is what a mode: notify subscription receives (package deliver builds it,
// and a test checks that every field it sends is here).
type notice struct {
	WebhookID    string     `json:"webhookId" doc:"the subscription id"`
	OwnerID      string     `json:"ownerId,omitempty"`
	LastUpdateAt *time.Time `json:"lastUpdateAt"`
	LastViewedAt *time.Time `json:"lastViewedAt"`
	Endpoints    struct {
		Result   string `json:"result" doc:"<publicBaseUrl>/v1/subscriptions/{id}/results"`
		Callback string `json:"callback" doc:"<publicBaseUrl>/v1/subscriptions/{id}/callback"`
	} `json:"endpoints"`
}

// DescribeSchema: the API key's scopes are tenant scopes.
func (keyInput) DescribeSchema(s openapi.Schema) {
	s.Property("scopes")["items"] = map[string]any{"type": "string", "enum": anySlice(gancho.AllTenantScopes)}
	s.Property("ownerId")["description"] = "binds the key to one owner"
}

// DescribeSchema: the subject fills ":id" in the URL, so it is a path segment.
func (testInput) DescribeSchema(s openapi.Schema) {
	p := s.Property("subject")
	p["minLength"], p["maxLength"] = 1, 512
	p["not"] = map[string]any{"enum": []any{".", ".."}}
	p["description"] = "fills \":id\" in the URL; default \"" + defaultTestSubject + "\""
}

// DescribeSchema: numbers may be sent as strings.
func (resultsBody) DescribeSchema(s openapi.Schema) {
	for _, f := range []string{"from", "size", "year", "month", "day"} {
		s.Property(f)["type"] = []any{"integer", "string"}
	}
	s.Property("calendarInterval")["enum"] = []any{"year", "month", "day", nil}
	s.Property("timeZone")["description"] = "an IANA time zone; default UTC"
}

// DescribeSchema: the events are decoded one by one, each as POST /v1/events would.
func (batchRequest) DescribeSchema(s openapi.Schema) {
	s.Set("required", []any{"events"})
	p := s.Property("events")
	p["minItems"], p["maxItems"] = 1, MaxBatchEvents
	p["items"] = map[string]any{"allOf": []any{s.Ref(reflect.TypeFor[gancho.EventInput]())}, "required": []any{"type", "payload"}}
}

// DescribeSchema: each item is a published event or the problem of one that was not.
func (batchResponse) DescribeSchema(s openapi.Schema) {
	s.Property("data")["items"] = map[string]any{"oneOf": []any{
		s.Ref(reflect.TypeFor[batchPublished]()), s.Ref(reflect.TypeFor[batchFailed]())}}
}

func anySlice[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}

// tenantPatch is the body of PATCH /v1/tenant: a JSON merge patch of the tenant's
// writable settings, which gancho.Tenant.Patch merges into them as read and decodes
// into gancho.TenantSettings.
type tenantPatch gancho.TenantSettings

// DescribeSchema: the key's value is in this response only.
func (createdKey) DescribeSchema(s openapi.Schema) {
	s.Property("key")["description"] = "the key's value (" + auth.KeyPrefix + "...), shown once"
}

// DescribeSchema: what a signing secret looks like.
func (secretResponse) DescribeSchema(s openapi.Schema) { describeSecret(s) }

// DescribeSchema: what a signing secret looks like.
func (tenantSecretResponse) DescribeSchema(s openapi.Schema) { describeSecret(s) }

func describeSecret(s openapi.Schema) {
	s.Property("secret")["description"] = "whsec_ followed by the base64 of 32 random bytes"
	s.Property("previousValidUntil")["description"] = "until when the previous secret also signs, after a rotation"
}

// DescribeSchema: total counts the events.
func (resultsResponse) DescribeSchema(s openapi.Schema) { s.Property("total")["minimum"] = 0 }
