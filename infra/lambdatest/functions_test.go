package lambdatest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/ingest"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// extraSamples are the samples beyond events/<function>.json, each invoked on its
// function: the consumer's batch from the ordered (FIFO) queue, which takes the
// ordered path. infra/templatecheck checks every sample against its queue.
var extraSamples = map[string]string{"deliver-ordered": "deliver"}

// invokeTimeout bounds one invocation, start-up included.
const invokeTimeout = 60 * time.Second

// TestFunctions builds every function as Lambda builds it and invokes each binary with
// its sample event through the Runtime API, against the emulated stack.
func TestFunctions(t *testing.T) {
	skipShort(t)
	root := repoRoot(t)
	bins := buildFunctions(t, root)
	requireStack(t)
	names := slices.Sorted(maps.Keys(bins))
	fx := newFixture(t, root, append(slices.Clone(names), slices.Collect(maps.Keys(extraSamples))...))
	// A function's further samples (a queue each) are invoked as subtests of their own.
	runs := map[string]string{} // sample → function
	for _, name := range names {
		runs[name] = name
	}
	for sample, fn := range extraSamples {
		if bins[fn] != "" {
			runs[sample] = fn
		}
	}
	for _, sample := range slices.Sorted(maps.Keys(runs)) {
		name := runs[sample]
		t.Run(sample, func(t *testing.T) {
			t.Parallel()
			event := fx.events[sample]
			if event == nil {
				t.Fatalf("no sample event events/%s.json", sample)
			}
			check, ok := expectations[name]
			if !ok {
				check = unknownFunction
			}
			res, logs, err := invoke(t, bins[name], name, event, fx.functionEnv(name))
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("function output:\n%s", logs)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			check(t, fx, res)
		})
	}
}

// TestFunctionWithoutConfigurationFailsInit starts a function without its GANCHO_*
// variables: it must exit during init, visibly, rather than serve. This needs no stack.
func TestFunctionWithoutConfigurationFailsInit(t *testing.T) {
	skipShort(t)
	bins := buildFunctions(t, repoRoot(t))
	bin, ok := bins["health"]
	if !ok {
		t.Fatal("no functions/health to run")
	}
	start := time.Now()
	res, logs, err := invoke(t, bin, "health", []byte(`{}`), LambdaEnv("health", filepath.Dir(bin)))
	if err == nil {
		t.Fatalf("the function answered %s %s without configuration; want it to exit during init", res.Outcome, res.Body)
	}
	if !strings.Contains(err.Error(), "exited") || !strings.Contains(logs, "missing environment") {
		t.Errorf("got %v with output %q; want the process to exit reporting the missing environment", err, logs)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("init failure took %s to surface", d)
	}
}

// --- what each function must answer -------------------------------------------------

type expectation func(t *testing.T, fx *fixture, res Result)

var expectations = map[string]expectation{
	"health": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		var got map[string]string
		decodeBody(t, r, body, "application/json", &got)
		if got["status"] != "ok" || got["version"] != gancho.Version {
			t.Errorf("body %s; want status ok and version %s", body, gancho.Version)
		}
	},
	"create-subscription": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 201)
		var got gancho.Subscription
		decodeBody(t, r, body, "application/json", &got)
		var in struct {
			URL    string   `json:"url"`
			Events []string `json:"events"`
		}
		fx.sampleBody(t, "create-subscription", &in)
		switch {
		case !strings.HasPrefix(got.ID, gancho.PrefixSubscription):
			t.Errorf("id %q is not a subscription id", got.ID)
		case header(r, "Location") != "/v1/subscriptions/"+got.ID:
			t.Errorf("Location %q; want /v1/subscriptions/%s", header(r, "Location"), got.ID)
		}
		if !strings.HasPrefix(got.Secret, "whsec_") {
			t.Errorf("secret %q; want the new whsec_ signing secret, shown once", got.Secret)
		}
		if got.URL != in.URL || !slices.Equal(got.Events, in.Events) || got.TenantID != fx.tenant {
			t.Errorf("created url=%s events=%v tenant=%s; want the sample's url=%s events=%v for tenant %s",
				got.URL, got.Events, got.TenantID, in.URL, in.Events, fx.tenant)
		}
		stored, err := fx.store.GetSubscription(t.Context(), fx.tenant, got.ID)
		if err != nil {
			t.Fatalf("the created subscription is not in the table: %v", err)
		}
		if stored.Secret != got.Secret {
			t.Error("the stored secret differs from the one returned")
		}
	},
	"list-subscriptions": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		var got struct {
			Data       []map[string]any `json:"data"`
			NextCursor *string          `json:"nextCursor"`
		}
		decodeBody(t, r, body, "application/json", &got)
		if got.Data == nil {
			t.Fatalf("body %s has no data array", body)
		}
		ids := []string{}
		for _, s := range got.Data {
			ids = append(ids, fmt.Sprint(s["id"]))
			if _, leaked := s["secret"]; leaked {
				t.Errorf("subscription %v is listed with its secret", s["id"])
			}
			if s["tenantId"] != fx.tenant || s["isActive"] != true {
				t.Errorf("listed %v of tenant %v, isActive %v; the sample asks for active subscriptions of tenant %s", s["id"], s["tenantId"], s["isActive"], fx.tenant)
			}
		}
		if !slices.Contains(ids, fx.subGet) {
			t.Errorf("listed %v; want the seeded active subscription %s among them", ids, fx.subGet)
		}
	},
	"get-subscription": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		var got map[string]any
		decodeBody(t, r, body, "application/json", &got)
		if got["id"] != fx.subGet || got["name"] != fx.seededName {
			t.Errorf("got subscription %v %q; want the seeded %s %q", got["id"], got["name"], fx.subGet, fx.seededName)
		}
		if _, leaked := got["secret"]; leaked {
			t.Error("the subscription is returned with its secret")
		}
	},
	"delete-subscription": func(t *testing.T, fx *fixture, res Result) {
		_, body := apiResponse(t, res, 204)
		if len(body) != 0 {
			t.Errorf("204 with a body: %s", body)
		}
		if _, err := fx.store.GetSubscription(t.Context(), fx.tenant, fx.subDelete); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("after the 204, reading %s gives %v; want not found", fx.subDelete, err)
		}
	},
	"publish-event": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 202)
		var got struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			Deliveries int    `json:"deliveries"`
		}
		decodeBody(t, r, body, "application/json", &got)
		if !strings.HasPrefix(got.ID, gancho.PrefixEvent) || header(r, "Location") != "/v1/events/"+got.ID {
			t.Errorf("id %q, Location %q; want an event id and /v1/events/<id>", got.ID, header(r, "Location"))
		}
		// The seeded subscription is the tenant's only one accepting the sample's type.
		if got.Type != fx.publishType || got.Deliveries != 1 {
			t.Errorf("published %q to %d subscriptions; want %q to 1 (the seeded %s)", got.Type, got.Deliveries, fx.publishType, fx.subGet)
		}
		d, err := fx.store.GetDelivery(t.Context(), fx.tenant, gancho.DeliveryID(got.ID, fx.subGet))
		if err != nil || d.Status != gancho.StatusPending {
			t.Errorf("the delivery to %s: %+v, %v; want it stored as pending", fx.subGet, d, err)
		}
	},
	"publish-events-batch": func(t *testing.T, fx *fixture, res Result) {
		_, body := apiResponse(t, res, 202)
		var got struct {
			Data []struct {
				ID         string          `json:"id"`
				Type       string          `json:"type"`
				Deliveries int             `json:"deliveries"`
				Error      json.RawMessage `json:"error"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		var in struct{ Events []json.RawMessage }
		fx.sampleBody(t, "publish-events-batch", &in)
		if len(got.Data) != len(in.Events) {
			t.Fatalf("%d items for the sample's %d events: %s", len(got.Data), len(in.Events), body)
		}
		// Each of the sample's events is of publishType, which only subGet accepts.
		for i, it := range got.Data {
			if it.Error != nil || !strings.HasPrefix(it.ID, gancho.PrefixEvent) || it.Type != fx.publishType || it.Deliveries != 1 {
				t.Errorf("item %d: %+v %s; want an event of %s published to 1 subscription", i, it, it.Error, fx.publishType)
				continue
			}
			if _, err := fx.store.GetDelivery(t.Context(), fx.tenant, gancho.DeliveryID(it.ID, fx.subGet)); err != nil {
				t.Errorf("the delivery of item %d to %s: %v", i, fx.subGet, err)
			}
		}
	},
	"ingest": func(t *testing.T, fx *fixture, res Result) {
		if res.Outcome != OutcomeResponse {
			t.Fatalf("the consumer reported %s %s %s; want a response (it never fails a whole batch)", res.Outcome, res.ErrorType, res.Body)
		}
		var got events.SQSEventResponse
		if err := strictJSON(res.Body, &got); err != nil {
			t.Fatalf("response %s is not an SQSEventResponse: %v", res.Body, err)
		}
		if len(got.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v; the sample's message is valid and must be acknowledged", got.BatchItemFailures)
		}
		// Published for the sample's tenant (seeded with the type), not dead-lettered.
		m := fx.ingestSample(t)
		var ev struct{ Type, Subject string }
		_ = json.Unmarshal(m.Event, &ev)
		evs, _, err := fx.store.ListEvents(t.Context(), m.TenantID, dynamo.EventFilter{Type: ev.Type}, dynamo.Page{Limit: 100})
		if err != nil || !slices.ContainsFunc(evs, func(e gancho.Event) bool { return e.Subject == ev.Subject }) {
			t.Errorf("events of %s: %d, %v; want the sample's %s with subject %s", m.TenantID, len(evs), err, ev.Type, ev.Subject)
		}
		out, err := fx.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &fx.ingestDLQURL, MaxNumberOfMessages: 10})
		if err != nil || len(out.Messages) != 0 {
			t.Errorf("the ingest dead-letter queue: %v, %v; want it empty", out, err)
		}
	},
	"get-delivery": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		var got gancho.Delivery
		decodeBody(t, r, body, "application/json", &got)
		if got.ID != fx.deliveryGet || got.SubscriptionID != fx.subGet || got.Status != gancho.StatusPending || got.Attempts == nil {
			t.Errorf("got %s; want the seeded pending delivery %s to %s with an empty attempts list", body, fx.deliveryGet, fx.subGet)
		}
	},

	"help": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		var got []struct{ Method, Endpoint string }
		decodeBody(t, r, body, "application/json", &got)
		for _, rt := range httpapi.Routes() {
			if !slices.ContainsFunc(got, func(e struct{ Method, Endpoint string }) bool { return e.Method == rt.Method && e.Endpoint == rt.Path }) {
				t.Errorf("help does not list %s %s", rt.Method, rt.Path)
			}
		}
	},
	"openapi": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		var got struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		decodeBody(t, r, body, "application/json", &got)
		if !strings.HasPrefix(got.OpenAPI, "3.1") {
			t.Errorf("openapi %q; want 3.1.x", got.OpenAPI)
		}
		for _, rt := range httpapi.Routes() {
			if _, ok := got.Paths[rt.Path][strings.ToLower(rt.Method)]; !ok {
				t.Errorf("the document has no %s %s", rt.Method, rt.Path)
			}
		}
	},

	"create-tenant": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 201)
		var got struct {
			Tenant struct{ ID, Name string } `json:"tenant"`
			APIKey struct {
				Key, TenantID string
				Scopes        []string
			} `json:"apiKey"`
		}
		decodeBody(t, r, body, "application/json", &got)
		var in struct{ Name string }
		fx.sampleBody(t, "create-tenant", &in)
		if !strings.HasPrefix(got.Tenant.ID, gancho.PrefixTenant) || got.Tenant.Name != in.Name || header(r, "Location") != "/v1/tenant" {
			t.Errorf("created tenant %q %q, Location %q; want a new tenant named %q at /v1/tenant", got.Tenant.ID, got.Tenant.Name, header(r, "Location"), in.Name)
		}
		if !strings.HasPrefix(got.APIKey.Key, auth.KeyPrefix) || got.APIKey.TenantID != got.Tenant.ID || len(got.APIKey.Scopes) == 0 {
			t.Errorf("first key %+v; want its value, shown once, with the tenant's scopes", got.APIKey)
		}
	},
	"get-tenant": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		if got["id"] != fx.tenant || !strings.HasPrefix(fmt.Sprint(got["secret"]), "****") {
			t.Errorf("got tenant %v with secret %v; want %s with its secret masked", got["id"], got["secret"], fx.tenant)
		}
	},
	"update-tenant": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		var in struct{ Name string }
		fx.sampleBody(t, "update-tenant", &in)
		if got["id"] != fx.tenant || got["name"] != in.Name {
			t.Errorf("got tenant %v named %v; want %s renamed %q", got["id"], got["name"], fx.tenant, in.Name)
		}
	},
	"get-tenant-secret":    secretResponse(200),
	"rotate-tenant-secret": secretResponse(200),

	"create-api-key": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 201)
		var got struct {
			ID, Key, Name, TenantID string
			Scopes                  []string
		}
		decodeBody(t, r, body, "application/json", &got)
		var in struct {
			Name   string
			Scopes []string
		}
		fx.sampleBody(t, "create-api-key", &in)
		if !strings.HasPrefix(got.ID, gancho.PrefixKey) || header(r, "Location") != "/v1/api-keys/"+got.ID {
			t.Errorf("id %q, Location %q; want a key id and /v1/api-keys/<id>", got.ID, header(r, "Location"))
		}
		if !strings.HasPrefix(got.Key, auth.KeyPrefix) || got.Name != in.Name || !slices.Equal(got.Scopes, in.Scopes) || got.TenantID != fx.tenant {
			t.Errorf("got %s; want the new key's value, shown once, named %q with scopes %v", body, in.Name, in.Scopes)
		}
	},
	"create-portal-link": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 201)
		var got gancho.PortalLink
		decodeBody(t, r, body, "application/json", &got)
		var in struct{ OwnerID string }
		fx.sampleBody(t, "create-portal-link", &in)
		if !strings.HasPrefix(got.URL, "https://k3xq8w2m1p.execute-api.us-east-1.amazonaws.com/portal#token="+auth.KeyPrefix) {
			t.Errorf("url %q; want the deployment's /portal with the token in the fragment", got.URL)
		}
		k, err := fx.store.GetAPIKey(t.Context(), fx.tenant, got.KeyID)
		if err != nil || !k.Portal || k.OwnerID != in.OwnerID || k.ExpiresAt == nil || !k.ExpiresAt.Equal(got.ExpiresAt) {
			t.Errorf("the link's key %+v (%v); want a portal key of %s expiring at %v", k, err, in.OwnerID, got.ExpiresAt)
		}
	},
	"portal": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		if !strings.HasPrefix(header(r, "Content-Type"), "text/html") || !strings.Contains(string(body), `src="portal/app.js"`) ||
			!strings.Contains(header(r, "Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("Content-Type %q, CSP %q, body %.200s; want the portal page under its policy",
				header(r, "Content-Type"), header(r, "Content-Security-Policy"), body)
		}
	},
	"portal-asset": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 200)
		if !strings.HasPrefix(header(r, "Content-Type"), "text/javascript") || !strings.Contains(string(body), "import") ||
			!strings.Contains(header(r, "Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("Content-Type %q, CSP %q; want app.js under the portal's policy", header(r, "Content-Type"), header(r, "Content-Security-Policy"))
		}
	},
	"list-api-keys": func(t *testing.T, fx *fixture, res Result) {
		items := list(t, res)
		if !slices.ContainsFunc(items, func(k map[string]any) bool { return k["id"] == fx.keyID }) {
			t.Errorf("the list misses the sample key %s", fx.keyID)
		}
		for _, k := range items {
			if _, leaked := k["key"]; leaked || k["tenantId"] != fx.tenant {
				t.Errorf("listed %v of tenant %v with key value %v; want only this tenant's keys, never their values", k["id"], k["tenantId"], k["key"])
			}
		}
	},
	"get-api-key": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		if id := fx.samplePathID(t, "get-api-key"); got["id"] != id || got["key"] != nil {
			t.Errorf("got key %v (value %v); want the seeded %s without its value", got["id"], got["key"], id)
		}
	},
	"delete-api-key": noContent,

	"list-event-types": func(t *testing.T, fx *fixture, res Result) {
		var names []any
		for _, et := range list(t, res) {
			names = append(names, et["name"])
		}
		for _, want := range []any{"webhook.test", fx.publishType} {
			if !slices.Contains(names, want) {
				t.Errorf("the catalog %v misses %s", names, want)
			}
		}
	},
	"put-event-type": func(t *testing.T, fx *fixture, res Result) {
		// The fixture seeded the type, so the PUT replaces it.
		got := object(t, res, 200)
		var in struct{ Description string }
		fx.sampleBody(t, "put-event-type", &in)
		name := fx.samplePath(t, "put-event-type", "name")
		if got["name"] != name || got["description"] != in.Description || got["schema"] == nil {
			t.Errorf("got %v; want %s with the sample's description and schema", got, name)
		}
	},
	"delete-event-type": noContent,

	"replace-subscription": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		var in struct {
			Name, URL string
			Events    []any
		}
		fx.sampleBody(t, "replace-subscription", &in)
		if id := fx.samplePathID(t, "replace-subscription"); got["id"] != id || got["name"] != in.Name || got["url"] != in.URL ||
			!slices.Equal(toSlice(got["events"]), in.Events) || got["secret"] != nil {
			t.Errorf("got %v; want %s replaced by the sample's name, url and events, without its secret", got, id)
		}
	},
	"update-subscription": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		var in struct {
			IsActive    bool
			Description string
		}
		fx.sampleBody(t, "update-subscription", &in)
		if id := fx.samplePathID(t, "update-subscription"); got["id"] != id || got["isActive"] != in.IsActive ||
			got["description"] != in.Description || got["name"] != fx.seededName {
			t.Errorf("got %v; want %s with the patch applied and its other fields (name %q) kept", got, id, fx.seededName)
		}
	},
	"get-subscription-secret":    secretResponse(200),
	"rotate-subscription-secret": secretResponse(200),
	"test-subscription": func(t *testing.T, fx *fixture, res Result) {
		r, body := apiResponse(t, res, 202)
		var got struct{ EventID, DeliveryID string }
		decodeBody(t, r, body, "application/json", &got)
		if !strings.HasPrefix(got.DeliveryID, gancho.PrefixDelivery) || !strings.HasPrefix(got.EventID, gancho.PrefixEvent) ||
			header(r, "Location") != "/v1/deliveries/"+got.DeliveryID {
			t.Errorf("got %s, Location %q; want the queued test delivery and its address", body, header(r, "Location"))
		}
	},
	"list-subscription-deliveries": func(t *testing.T, fx *fixture, res Result) {
		// The sample asks for failed deliveries; the subscription has none.
		if items := list(t, res); len(items) != 0 {
			t.Errorf("listed %v; want no failed deliveries", items)
		}
	},
	"recover-subscription": func(t *testing.T, fx *fixture, res Result) {
		if got := object(t, res, 202); got["requeued"] != float64(0) {
			t.Errorf("got %v; want requeued 0 (the subscription has no failed deliveries)", got)
		}
	},
	"subscription-callback": func(t *testing.T, fx *fixture, res Result) {
		if got := object(t, res, 200); got["needView"] != false {
			t.Errorf("got %v; want needView false (nothing has matched the seeded subscription)", got)
		}
	},
	"subscription-results": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		if data, ok := got["data"].([]any); !ok || len(data) != 0 || got["total"] != float64(0) {
			t.Errorf("got %v; want data [] and total 0 (nothing has matched the seeded subscription)", got)
		}
	},
	"list-events": func(t *testing.T, fx *fixture, res Result) {
		// The sample filters on publishType, the type of every seeded event.
		items := list(t, res)
		if len(items) == 0 {
			t.Error("listed no events; want the seeded ones")
		}
		for _, ev := range items {
			if ev["type"] != fx.publishType {
				t.Errorf("listed %v of type %v; the sample asks for %s", ev["id"], ev["type"], fx.publishType)
			}
		}
	},
	"get-event": func(t *testing.T, fx *fixture, res Result) {
		got := object(t, res, 200)
		if id := fx.samplePathID(t, "get-event"); got["id"] != id || got["type"] != fx.publishType || got["data"] == nil {
			t.Errorf("got %v; want the seeded %s of type %s with its payload", got, id, fx.publishType)
		}
	},
	"list-event-deliveries": func(t *testing.T, fx *fixture, res Result) {
		items := list(t, res)
		want := gancho.DeliveryID(fx.samplePathID(t, "list-event-deliveries"), fx.subGet)
		if len(items) != 1 || items[0]["id"] != want || items[0]["status"] != gancho.StatusDelivered {
			t.Errorf("listed %v; want the seeded delivered %s alone", items, want)
		}
	},
	"retry-delivery": func(t *testing.T, fx *fixture, res Result) {
		// The body is the delivery as GET /v1/deliveries/{id} returns it, queued again
		// with the seeded failed attempt kept.
		got := object(t, res, 202)
		attempts, _ := got["attempts"].([]any)
		if id := fx.samplePathID(t, "retry-delivery"); got["id"] != id || got["status"] != gancho.StatusPending || len(attempts) != 1 {
			t.Errorf("got %v; want delivery %s pending, with the seeded failed attempt", got, id)
		}
	},
	"redrive-dead-letters": func(t *testing.T, fx *fixture, res Result) {
		// This run's dead-letter queue is empty.
		if got := object(t, res, 202); got["moved"] != float64(0) || got["skipped"] != float64(0) {
			t.Errorf("got %v; want moved 0, skipped 0", got)
		}
	},

	"sweeper": func(t *testing.T, fx *fixture, res Result) {
		// Nothing of this run is parked; the sweep itself must succeed.
		if res.Outcome != OutcomeResponse || string(res.Body) != "null" {
			t.Errorf("the sweeper reported %s %s %s; want a null response (a clean sweep)", res.Outcome, res.ErrorType, res.Body)
		}
	},
	"deliver": func(t *testing.T, fx *fixture, res Result) {
		if res.Outcome != OutcomeResponse {
			t.Fatalf("the consumer reported %s %s %s; want a response (it never fails a whole batch)", res.Outcome, res.ErrorType, res.Body)
		}
		var got events.SQSEventResponse
		if err := strictJSON(res.Body, &got); err != nil {
			t.Fatalf("response %s is not an SQSEventResponse: %v", res.Body, err)
		}
		// The sample's delivery has no record: the message is dropped, i.e. acknowledged.
		if len(got.BatchItemFailures) != 0 {
			t.Errorf("batchItemFailures %+v; a message whose delivery does not exist must be acknowledged", got.BatchItemFailures)
		}
	},
}

// secretResponse expects a signing secret, shown in full.
func secretResponse(status int) expectation {
	return func(t *testing.T, fx *fixture, res Result) {
		if got := object(t, res, status); !strings.HasPrefix(fmt.Sprint(got["secret"]), "whsec_") {
			t.Errorf("got %v; want the whsec_ secret", got)
		}
	}
}

func noContent(t *testing.T, fx *fixture, res Result) {
	if _, body := apiResponse(t, res, 204); len(body) != 0 {
		t.Errorf("204 with a body: %s", body)
	}
}

// object is a JSON object answer with the given status.
func object(t *testing.T, res Result, status int) map[string]any {
	t.Helper()
	r, body := apiResponse(t, res, status)
	var got map[string]any
	decodeBody(t, r, body, "application/json", &got)
	return got
}

// list is the data of a 200 list answer ({"data": [...], "nextCursor": ...}).
func list(t *testing.T, res Result) []map[string]any {
	t.Helper()
	r, body := apiResponse(t, res, 200)
	var got struct {
		Data       []map[string]any `json:"data"`
		NextCursor *string          `json:"nextCursor"`
	}
	decodeBody(t, r, body, "application/json", &got)
	if got.Data == nil {
		t.Fatalf("body %s has no data array", body)
	}
	return got.Data
}

func toSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// unknownFunction holds a function with no expectation to the minimum, and fails: every
// function's answer to its sample must be pinned down here.
func unknownFunction(t *testing.T, fx *fixture, res Result) {
	if res.Outcome != OutcomeResponse {
		t.Errorf("reported %s %s %s", res.Outcome, res.ErrorType, res.Body)
	}
	t.Errorf("no expectation for this function: add what it answers to its sample event to expectations in infra/lambdatest/functions_test.go (it answered %s)", res.Body)
}

// apiResponse decodes an API route's answer and checks its status (0: any); a wrong
// status ends the test with the body, which is problem+json saying why.
func apiResponse(t *testing.T, res Result, wantStatus int) (events.APIGatewayV2HTTPResponse, []byte) {
	t.Helper()
	if res.Outcome != OutcomeResponse {
		t.Fatalf("the function reported %s %s: %s", res.Outcome, res.ErrorType, res.Body)
	}
	var r events.APIGatewayV2HTTPResponse
	if err := strictJSON(res.Body, &r); err != nil {
		t.Fatalf("response is not an API Gateway HTTP API v2 response: %v\n%s", err, res.Body)
	}
	body := []byte(r.Body)
	if r.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(r.Body); err != nil {
			t.Fatalf("isBase64Encoded but the body is not base64: %v", err)
		}
	}
	if wantStatus != 0 && r.StatusCode != wantStatus {
		t.Fatalf("statusCode %d (%s); want %d", r.StatusCode, body, wantStatus)
	}
	if ct := header(r, "Content-Type"); r.StatusCode >= 400 && !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("error status %d with Content-Type %q; want application/problem+json", r.StatusCode, ct)
	}
	return r, body
}

func decodeBody(t *testing.T, r events.APIGatewayV2HTTPResponse, body []byte, contentType string, v any) {
	t.Helper()
	if ct := header(r, "Content-Type"); !strings.HasPrefix(ct, contentType) {
		t.Errorf("Content-Type %q; want %s", ct, contentType)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("body is not the expected JSON: %v\n%s", err, body)
	}
}

func header(r events.APIGatewayV2HTTPResponse, name string) string {
	for k, v := range r.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range r.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return strings.Join(v, ",")
		}
	}
	return ""
}

// --- the data the sample events refer to --------------------------------------------

// fixture is the state the sample events expect: their API key belongs to a tenant
// (new on every run) whose catalog has the event types they name, and which owns the
// subscriptions, keys, events and deliveries their paths name.
type fixture struct {
	store  *dynamo.Store
	events map[string][]byte // sample events by function

	tenant       string
	keyID        string // the sample key's id
	adminKey     string // the operator's key, carried by admin routes' samples
	queueURL     string // this run's deliveries queue
	dlqURL       string // and its dead-letter queue
	ingestDLQURL string // this run's ingest dead-letter queue
	sqs          *sqs.Client
	subGet       string // active, accepts publishType; get-subscription's {id}
	subDelete    string // delete-subscription's {id}
	deliveryGet  string // pending, to subGet; get-delivery's {id}
	publishType  string // publish-event's type
	seededName   string
}

func newFixture(t *testing.T, root string, names []string) *fixture {
	t.Helper()
	fx := &fixture{events: map[string][]byte{}, seededName: "Lambda test receiver"}
	for _, name := range names {
		if data, err := os.ReadFile(filepath.Join(root, "events", name+".json")); err == nil {
			fx.events[name] = data
		}
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		t.Fatalf("the stack's environment is incomplete: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	clients, err := cfg.NewClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fx.store, fx.sqs = clients.Store, clients.SQS
	fx.createQueues(ctx, t, clients.SQS)

	// The API samples: one tenant key for tenant routes, the operator's for admin ones.
	samples := map[string]events.APIGatewayV2HTTPRequest{}
	var keys, adminKeys []string
	for _, rt := range httpapi.Routes() {
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(fx.events[rt.Name], &ev) != nil || ev.RouteKey == "" {
			continue
		}
		samples[rt.Name] = ev
		token, ok := strings.CutPrefix(ev.Headers["authorization"], "Bearer ")
		switch {
		case !ok:
		case rt.Scope == httpapi.ScopeAdmin:
			adminKeys = appendNew(adminKeys, token)
		default:
			keys = appendNew(keys, token)
		}
	}
	if len(keys) != 1 || len(adminKeys) > 1 {
		t.Fatalf("the sample events carry tenant keys %q and operator keys %q; want one of each kind", keys, adminKeys)
	}
	if len(adminKeys) == 1 {
		fx.adminKey = adminKeys[0]
	}
	now := time.Now().UTC()
	fx.tenant = gancho.NewID(gancho.PrefixTenant, now)
	key := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: fx.tenant, Name: "sample events",
		Scopes: gancho.AllTenantScopes, CreatedAt: now}
	err = fx.store.CreateTenant(ctx, gancho.Tenant{ID: fx.tenant, Name: "Lambda binary test", AllowedEventTypesOnly: true, Secret: gancho.NewSecret(), CreatedAt: now}, key, auth.HashKey(keys[0]))
	if errors.Is(err, gancho.ErrConflict) {
		// The key is left from an earlier run on a long-lived emulator: move it here.
		err = fx.store.PutAPIKey(ctx, key, auth.HashKey(keys[0]))
	}
	if err != nil {
		t.Fatalf("store the sample key: %v", err)
	}
	fx.keyID = key.ID

	var publish struct {
		Type string `json:"type"`
	}
	fx.sampleBody(t, "publish-event", &publish)
	fx.publishType = publish.Type
	fx.subGet = fx.samplePathID(t, "get-subscription")
	fx.subDelete = fx.samplePathID(t, "delete-subscription")
	fx.deliveryGet = fx.samplePathID(t, "get-delivery")

	// Every event type a sample names is in the tenant's catalog.
	types := []string{fx.publishType, "lambdatest.never-published"}
	for name, ev := range samples {
		var body struct {
			Events []string `json:"events"`
		}
		_ = json.Unmarshal([]byte(ev.Body), &body)
		types = append(types, body.Events...)
		if n := ev.PathParameters["name"]; n != "" && name != "put-event-type" {
			types = append(types, n)
		}
	}
	for _, name := range types {
		if name == "" || name == "*" || strings.HasSuffix(name, ".*") {
			continue // "": a batch's events, which are objects, not patterns
		}
		et := gancho.EventType{TenantID: fx.tenant, Name: name, Description: "seeded by the Lambda binary test", CreatedAt: now, UpdatedAt: now}
		if _, _, err := fx.store.PutEventType(ctx, et); err != nil {
			t.Fatalf("seed event type %s: %v", name, err)
		}
	}

	// Whatever a sample's path names exists. Subscriptions' receivers are the discard
	// port of loopback: nothing here delivers, and if a consumer elsewhere picked a
	// message up, it would not leave the machine. Only subGet accepts publishType, so
	// publishing the sample reaches exactly one subscription.
	for _, rt := range httpapi.Routes() {
		id := samples[rt.Name].PathParameters["id"]
		switch {
		case id == "":
		case strings.HasPrefix(rt.Path, "/v1/subscriptions/{id}"):
			types := []string{"lambdatest.never-published"}
			if id == fx.subGet {
				types = []string{fx.publishType}
			}
			fx.seedSubscription(ctx, t, id, types)
		case strings.HasPrefix(rt.Path, "/v1/api-keys/{id}"):
			k := gancho.APIKey{ID: id, TenantID: fx.tenant, Name: "seeded for " + rt.Name,
				Scopes: []string{gancho.ScopeEventsWrite}, CreatedAt: now}
			if err := fx.store.PutAPIKey(ctx, k, auth.HashKey(auth.NewAPIKey())); err != nil {
				t.Fatalf("seed API key %s: %v", id, err)
			}
		case strings.HasPrefix(rt.Path, "/v1/deliveries/{id}"):
			// A delivery to subGet: pending to be read, failed to be retried.
			d := gancho.Delivery{ID: id, Status: gancho.StatusPending}
			if rt.Method == http.MethodPost {
				d.Status = gancho.StatusFailed
				d.Attempts = []gancho.Attempt{{Number: 1, At: now, StatusCode: 503, Outcome: gancho.OutcomeFailure}}
			}
			eventID, _, ok := gancho.ParseDeliveryID(id)
			if !ok {
				t.Fatalf("sample delivery id %s does not hold its event's id", id)
			}
			fx.seedEvent(ctx, t, eventID, d)
		case strings.HasPrefix(rt.Path, "/v1/events/{id}"):
			fx.seedEvent(ctx, t, id, gancho.Delivery{ID: gancho.DeliveryID(id, fx.subGet), Status: gancho.StatusDelivered,
				Attempts: []gancho.Attempt{{Number: 1, At: now, StatusCode: 204, DurationMs: 41, Outcome: gancho.OutcomeSuccess}}})
		}
	}

	// The ingest sample's tenant exists (a fixed id: kept across runs on a long-lived
	// emulator) and has the sample's type in its catalog.
	if _, ok := fx.events["ingest"]; ok {
		m := fx.ingestSample(t)
		var ev struct{ Type string }
		_ = json.Unmarshal(m.Event, &ev)
		k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: m.TenantID, Name: "ingest sample", Scopes: gancho.AllTenantScopes, CreatedAt: now}
		err := fx.store.CreateTenant(ctx, gancho.Tenant{ID: m.TenantID, Name: "Ingest sample", AllowedEventTypesOnly: true, Secret: gancho.NewSecret(), CreatedAt: now}, k, auth.HashKey(auth.NewAPIKey()))
		if err != nil && !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("seed the ingest sample's tenant: %v", err)
		}
		et := gancho.EventType{TenantID: m.TenantID, Name: ev.Type, Description: "seeded by the Lambda binary test", CreatedAt: now, UpdatedAt: now}
		if _, _, err := fx.store.PutEventType(ctx, et); err != nil {
			t.Fatalf("seed event type %s of the ingest sample's tenant: %v", ev.Type, err)
		}
	}

	// The consumer's samples name deliveries that must not exist.
	for _, sample := range []string{"deliver", "deliver-ordered"} {
		var batch events.SQSEvent
		if err := json.Unmarshal(fx.events[sample], &batch); err != nil {
			continue
		}
		for _, rec := range batch.Records {
			m, err := queue.Decode(rec.Body)
			if err != nil {
				continue
			}
			if _, err := fx.store.GetDelivery(ctx, m.TenantID, m.DeliveryID); !errors.Is(err, gancho.ErrNotFound) {
				t.Fatalf("events/%s.json names delivery %s of %s, which must not exist (got %v)", sample, m.DeliveryID, m.TenantID, err)
			}
		}
	}
	return fx
}

// ingestSample is the message of the ingest function's sample event.
func (fx *fixture) ingestSample(t *testing.T) ingest.Message {
	t.Helper()
	var batch events.SQSEvent
	if err := json.Unmarshal(fx.events["ingest"], &batch); err != nil || len(batch.Records) != 1 {
		t.Fatalf("events/ingest.json is not one SQS record (%v)", err)
	}
	m, err := ingest.Decode(batch.Records[0].Body)
	if err != nil {
		t.Fatalf("events/ingest.json: %v", err)
	}
	return m
}

// seedEvent stores an event of publishType with id, and d as its delivery to subGet.
func (fx *fixture) seedEvent(ctx context.Context, t *testing.T, id string, d gancho.Delivery) {
	t.Helper()
	now := time.Now().UTC()
	ev := gancho.Event{ID: id, TenantID: fx.tenant, Type: fx.publishType, CreatedAt: now, Payload: json.RawMessage(`{"seeded":true}`)}
	d.TenantID, d.EventID, d.SubscriptionID, d.EventType, d.CreatedAt, d.UpdatedAt = fx.tenant, id, fx.subGet, ev.Type, now, now
	attempts, status := d.Attempts, d.Status
	d.Attempts, d.Status = nil, gancho.StatusPending
	if err := fx.store.CreateEvent(ctx, testenv.Queued(ev, d)); err != nil {
		t.Fatalf("seed event %s with delivery %s: %v", id, d.ID, err)
	}
	// A delivery that has an outcome has its record.
	for i, a := range attempts {
		if err := fx.store.RecordAttempt(ctx, d, a, status, nil, false); err != nil {
			t.Fatalf("seed delivery %s: %v", d.ID, err)
		}
		d.Attempts, d.Recorded = attempts[:i+1], true
	}
}

// createQueues makes a deliveries queue and dead-letter queue for this run alone: the
// stack's are shared with the other tests, whose dead letters the redrive sample must
// not move and whose consumers must not see this run's messages.
func (fx *fixture) createQueues(ctx context.Context, t *testing.T, client *sqs.Client) {
	t.Helper()
	prefix := StackName() + "-lambdatest-" + newRequestID()[:8]
	for _, q := range []struct {
		name string
		url  *string
	}{{prefix + "-deliveries", &fx.queueURL}, {prefix + "-deliveries-dlq", &fx.dlqURL}, {prefix + "-ingest-dlq", &fx.ingestDLQURL}} {
		out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &q.name})
		if err != nil {
			t.Fatalf("create queue %s: %v", q.name, err)
		}
		*q.url = *out.QueueUrl
		t.Cleanup(func() {
			dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _ = client.DeleteQueue(dctx, &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
		})
	}
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (fx *fixture) seedSubscription(ctx context.Context, t *testing.T, id string, types []string) {
	t.Helper()
	name, target := fx.seededName, "http://127.0.0.1:9/webhooks"
	sub, err := gancho.NewSubscription(gancho.SubscriptionInput{Name: &name, URL: &target, Events: &types},
		gancho.TargetPolicy{AllowInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	sub.ID, sub.TenantID, sub.Secret, sub.CreatedAt, sub.UpdatedAt = id, fx.tenant, gancho.NewSecret(), now, now
	if err := fx.store.CreateSubscription(ctx, sub); err != nil {
		t.Fatalf("seed subscription %s: %v", id, err)
	}
}

// sampleBody decodes the body of a function's sample API event.
func (fx *fixture) sampleBody(t *testing.T, name string, v any) {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(fx.events[name], &ev); err != nil || ev.Body == "" {
		t.Fatalf("events/%s.json has no API request body (%v)", name, err)
	}
	if err := json.Unmarshal([]byte(ev.Body), v); err != nil {
		t.Fatalf("events/%s.json body: %v", name, err)
	}
}

// samplePathID is the {id} of a function's sample API event.
func (fx *fixture) samplePathID(t *testing.T, name string) string {
	t.Helper()
	return fx.samplePath(t, name, "id")
}

// samplePath is a path parameter of a function's sample API event.
func (fx *fixture) samplePath(t *testing.T, name, param string) string {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(fx.events[name], &ev); err != nil || ev.PathParameters[param] == "" {
		t.Fatalf("events/%s.json has no pathParameters.%s (%v)", name, param, err)
	}
	return ev.PathParameters[param]
}

// skipShort skips under -short (make test-unit), like every integration test: building
// every function takes longer than a unit run should.
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every Lambda binary: not in -short runs (make test runs it)")
	}
}

// requireStack skips without the emulated stack on a developer machine, and fails in
// CI, so CI can never pass by skipping.
func requireStack(t *testing.T) {
	t.Helper()
	if os.Getenv("GANCHO_TABLE_NAME") != "" {
		return
	}
	const how = "run it under the local stack: go run ./infra/cmd/withstack -- go test ./infra/lambdatest (or make test)"
	if ci := os.Getenv("CI"); ci != "" {
		t.Fatalf("CI=%s but GANCHO_TABLE_NAME is not set: the Lambda binary test cannot run; %s", ci, how)
	}
	t.Skipf("GANCHO_TABLE_NAME is not set; %s", how)
}

// --- running a function -------------------------------------------------------------

// invoke runs bin as a Lambda would, gives it event and returns what it posted back and
// everything it wrote. The process is killed when the test ends.
func invoke(t *testing.T, bin, name string, event []byte, env []string) (Result, string, error) {
	t.Helper()
	api, err := NewRuntimeAPI(FunctionARN(name), invokeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+api.Addr())
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		_ = api.Close()
		t.Fatalf("start %s: %v", bin, err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		cancel(fmt.Errorf("the function's process exited (%v)", err))
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = api.Close()
	})
	ictx, icancel := context.WithTimeoutCause(ctx, invokeTimeout, fmt.Errorf("no answer within %s", invokeTimeout))
	defer icancel()
	res, err := api.Invoke(ictx, event)
	return res, logs.String(), err
}

// functionEnv is a function's environment: the GANCHO_* and AWS_* variables of the
// test (the stack's), without the ones that read local files, plus Lambda's own, and
// what the template's parameters give a test stack: the hash of the operator's sample
// key, insecure targets allowed (the seeded receivers are on loopback). Every function
// but the sweeper, which serves all tenants, uses this run's own queues.
func (fx *fixture) functionEnv(name string) []string {
	set := map[string]string{"GANCHO_ALLOW_INSECURE_TARGETS": "true"}
	if fx.adminKey != "" {
		set["GANCHO_ADMIN_KEY_SHA256"] = auth.HashKey(fx.adminKey)
	}
	if name != "sweeper" {
		set["GANCHO_DELIVERIES_QUEUE_URL"], set["GANCHO_DELIVERIES_DLQ_URL"] = fx.queueURL, fx.dlqURL
	}
	if name == "ingest" {
		set["GANCHO_INGEST_DLQ_URL"] = fx.ingestDLQURL
	}
	return FunctionEnv(name, set)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// --- building -----------------------------------------------------------------------

// build is shared by the tests of one run; TestMain removes it.
var build struct {
	once sync.Once
	dir  string
	bins map[string]string // function → bootstrap to run
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// buildFunctions builds every folder under functions/ with one go build, as `make
// build` and the deployment do: CGO_ENABLED=0 GOOS=linux, -tags lambda.norpc, stripped,
// a binary named bootstrap. On a host that is not Linux it also builds them for the
// host to run.
func buildFunctions(t *testing.T, root string) map[string]string {
	t.Helper()
	build.once.Do(func() {
		start := time.Now()
		build.dir, build.err = os.MkdirTemp("", "gancho-lambdas-")
		if build.err != nil {
			return
		}
		var names []string
		if names, build.err = FunctionFolders(root); build.err != nil {
			return
		}
		linux := filepath.Join(build.dir, "linux-"+runtime.GOARCH)
		if build.bins, build.err = Build(root, "linux", runtime.GOARCH, linux, names); build.err != nil {
			return
		}
		if runtime.GOOS != "linux" {
			build.bins, build.err = Build(root, runtime.GOOS, runtime.GOARCH, filepath.Join(build.dir, runtime.GOOS+"-"+runtime.GOARCH), names)
		}
		t.Logf("built %d functions (GOOS=linux GOARCH=%s) in %s", len(names), runtime.GOARCH, time.Since(start).Round(time.Millisecond))
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bins
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// strictJSON decodes data into v, rejecting fields v does not have.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
