package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

const fullSubscription = `{
  "name": "OCR feedback",
  "description": "document processed",
  "url": "https://client.example/ocr_feedback/:id",
  "method": "PUT",
  "ownerId": "client-113",
  "context": "ocr",
  "headers": {"X-Custom": "visible", "Authorization": "Bearer header-credential-123"},
  "auth": {"type": "static", "header": "X-Api-Token", "value": "static-credential-98765"},
  "mode": "push",
  "format": "raw",
  "timeoutSeconds": 10,
  "rateLimitPerSecond": 5,
  "retrySchedule": [1, 60],
  "ordered": true,
  "metadata": {"plan": "gold"}
}`

func TestSubscriptionFieldsAndMasking(t *testing.T) {
	e := newEnv(t)
	created := e.createSub(e.keyA, fullSubscription)
	if created.Method != "PUT" || created.Format != "raw" || !created.Ordered || created.RateLimitPerSecond == nil ||
		*created.RateLimitPerSecond != 5 || created.TimeoutSeconds != 10 || created.Auth.Header != "X-Api-Token" || created.Context != "ocr" {
		t.Fatalf("created = %+v", created)
	}
	for _, r := range []response{
		e.call("GET", "/v1/subscriptions/"+created.ID, e.keyA, "", ""),
		e.call("GET", "/v1/subscriptions", e.keyA, "", ""),
	} {
		body := string(r.body)
		for _, secret := range []string{created.Secret, "static-credential-98765", "header-credential-123"} {
			if strings.Contains(body, secret) {
				t.Fatalf("a read shows a write-only value %q: %s", secret, body)
			}
		}
		if !strings.Contains(body, `"value":"****8765"`) || !strings.Contains(body, `"Authorization":"****-123"`) || !strings.Contains(body, `"X-Custom":"visible"`) {
			t.Fatalf("masking: %s", body)
		}
	}
}

func TestSecretsSealedAtRest(t *testing.T) {
	e := newEnv(t)
	created := e.createSub(e.keyA, fullSubscription)
	emu := e.b.needEmulators(t)
	res, err := emu.clients.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: &emu.cfg.TableName,
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + e.tenantA + "#S#" + created.ID},
			"sk": &types.AttributeValueMemberS{Value: "S"},
		},
	})
	if err != nil || res.Item == nil {
		t.Fatalf("raw item: %v", err)
	}
	dump := strings.Builder{}
	for k, v := range res.Item {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			dump.WriteString(k + "=" + s.Value + "\n")
		}
		if m, ok := v.(*types.AttributeValueMemberM); ok {
			for k2, v2 := range m.Value {
				if s, ok := v2.(*types.AttributeValueMemberS); ok {
					dump.WriteString(k + "." + k2 + "=" + s.Value + "\n")
				}
			}
		}
	}
	for _, secret := range []string{created.Secret, "static-credential-98765", "header-credential-123"} {
		if strings.Contains(dump.String(), secret) {
			t.Errorf("the table holds %q in the clear", secret)
		}
	}
	if !strings.Contains(dump.String(), "X-Custom=visible") {
		t.Errorf("non-sensitive header not stored plainly: %s", dump.String())
	}
}

func TestReplaceSubscription(t *testing.T) {
	e := newEnv(t)
	created := e.createSub(e.keyA, fullSubscription)
	path := "/v1/subscriptions/" + created.ID
	// Masked values sent back are kept; omitted fields take their defaults.
	r := e.json("PUT", path, e.keyA, `{"url":"https://client.example/v2","headers":{"Authorization":"****-123"},
		"auth":{"type":"static","header":"X-Api-Token","value":"****8765"},"ownerId":"client-113"}`)
	if r.status != 200 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	var got gancho.Subscription
	r.json(t, &got)
	if got.Method != "POST" || got.Format != "envelope" || got.Ordered || got.RateLimitPerSecond != nil ||
		got.Description != "" || got.Context != "" || got.Name != "client.example" || got.TimeoutSeconds != 15 {
		t.Fatalf("omitted fields did not take defaults: %+v", got)
	}
	if got.Auth.Value != "****8765" || got.Headers["Authorization"] != "****-123" || got.ID != created.ID || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("write-only values or identity lost: %+v", got)
	}
	// A new write-only value replaces the stored one.
	r = e.json("PUT", path, e.keyA, `{"url":"https://client.example/v2","auth":{"type":"static","value":"another-credential-4321"},"ownerId":"client-113"}`)
	got = gancho.Subscription{}
	r.json(t, &got)
	if got.Auth.Value != "****4321" || got.Auth.Header != "Authorization" || len(got.Headers) != 0 {
		t.Fatalf("after replacing auth: %+v", got)
	}
	// A bad PUT changes nothing.
	wantProblem(t, e.json("PUT", path, e.keyA, `{"url":"ftp://x"}`), 422, "url")
	wantProblem(t, e.json("PUT", path, e.keyA, `{"url":"https://x.example","auth":{"type":"token"}}`), 422, "auth.url")
	var after gancho.Subscription
	e.call("GET", path, e.keyA, "", "").json(t, &after)
	if after.URL != "https://client.example/v2" || after.Auth.Value != "****4321" {
		t.Fatalf("a refused PUT changed the subscription: %+v", after)
	}
	// The secret survives every update.
	var sec struct{ Secret string }
	e.call("GET", path+"/secret", e.keyA, "", "").json(t, &sec)
	if sec.Secret != created.Secret {
		t.Fatalf("secret changed by PUT")
	}
}

func TestPatchSubscription(t *testing.T) {
	e := newEnv(t)
	created := e.createSub(e.keyA, fullSubscription)
	path := "/v1/subscriptions/" + created.ID
	r := e.call("PATCH", path, e.keyA, "application/merge-patch+json", `{"description":null,"timeoutSeconds":20,"auth":{"header":"X-Other"},"headers":{"X-Custom":null,"X-New":"n"}}`)
	if r.status != 200 {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	var got gancho.Subscription
	r.json(t, &got)
	if got.Description != "" || got.TimeoutSeconds != 20 || got.Auth.Header != "X-Other" || got.Auth.Value != "****8765" ||
		got.Headers["X-New"] != "n" || got.Headers["Authorization"] != "****-123" || len(got.Headers) != 2 ||
		got.Method != "PUT" || got.Format != "raw" || !got.Ordered {
		t.Fatalf("after PATCH: %+v", got)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"url":"not a url"}`, "url"},
		{`{"timeoutSeconds":"ten"}`, "timeoutSeconds"},
		{`{"colour":"red"}`, "colour"},
		{`{"auth":{"type":"token"}}`, "auth.url"},
		{`{"retrySchedule":[]}`, "retrySchedule"},
		{`{"mode":"pull"}`, "mode"},
		{`{"rateLimitPerSecond":0}`, "rateLimitPerSecond"},
	} {
		wantProblem(t, e.json("PATCH", path, e.keyA, tc.body), 422, tc.field)
	}
	wantProblem(t, e.json("PATCH", path, e.keyA, `[1]`), 400, "")
	var after gancho.Subscription
	e.call("GET", path, e.keyA, "", "").json(t, &after)
	if after.TimeoutSeconds != 20 || after.URL != created.URL || after.Auth.Type != "static" {
		t.Fatalf("a refused PATCH changed the subscription: %+v", after)
	}
}

func TestDeactivateAndReactivate(t *testing.T) {
	e := newEnv(t)
	created := e.createSub(e.keyA, `{"url":"https://client.example/h"}`)
	path := "/v1/subscriptions/" + created.ID
	publish := func() int {
		var pub struct{ Deliveries int }
		r := e.json("POST", "/v1/events", e.keyA, `{"type":"webhook.ping","payload":{}}`)
		if r.status != 202 {
			t.Fatalf("publish: %d %s", r.status, r.body)
		}
		r.json(t, &pub)
		return pub.Deliveries
	}
	if n := publish(); n != 1 {
		t.Fatalf("publish matched %d subscriptions, want 1", n)
	}
	if r := e.json("PATCH", path, e.keyA, `{"isActive":false}`); r.status != 200 {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	if n := publish(); n != 0 {
		t.Fatalf("an inactive subscription got %d deliveries", n)
	}
	var got gancho.Subscription
	e.json("PATCH", path, e.keyA, `{"isActive":true}`).json(t, &got)
	if !got.IsActive || got.ConsecutiveFailures != 0 || got.FailingSince != nil {
		t.Fatalf("reactivated: %+v", got)
	}
	if n := publish(); n != 1 {
		t.Fatalf("a reactivated subscription got %d deliveries", n)
	}
}

func TestRotateSubscriptionSecret(t *testing.T) {
	e := newEnv(t)
	created := e.createSub(e.keyA, `{"url":"https://client.example/h"}`)
	path := "/v1/subscriptions/" + created.ID
	before := time.Now()
	r := e.json("POST", path+"/secret/rotate", e.keyA, "")
	if r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	var rot struct {
		Secret             string     `json:"secret"`
		PreviousValidUntil *time.Time `json:"previousValidUntil"`
	}
	r.json(t, &rot)
	if !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == created.Secret || rot.PreviousValidUntil == nil {
		t.Fatalf("rotate = %+v", rot)
	}
	if d := rot.PreviousValidUntil.Sub(before); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("previous secret valid for %s, want 24 h", d)
	}
	var sec struct{ Secret string }
	e.call("GET", path+"/secret", e.keyA, "", "").json(t, &sec)
	if sec.Secret != rot.Secret {
		t.Fatalf("GET secret = %s, want the new one", sec.Secret)
	}
	// Foreign tenant and other owners: 404 on every secret route.
	wantProblem(t, e.call("GET", path+"/secret", e.keyB, "", ""), 404, "")
	wantProblem(t, e.json("POST", path+"/secret/rotate", e.keyB, ""), 404, "")
	wantProblem(t, e.json("PUT", path, e.keyB, `{"url":"https://x.example"}`), 404, "")
	wantProblem(t, e.json("PATCH", path, e.keyB, `{"name":"x"}`), 404, "")
}

func TestOwnerBoundKeyCannotMoveSubscription(t *testing.T) {
	e := newEnv(t)
	alice := e.create(e.tenantA, "alice", gancho.AllTenantScopes)
	own := e.createSub(alice, `{"url":"https://client.example/a"}`)
	wantProblem(t, e.json("PATCH", "/v1/subscriptions/"+own.ID, alice, `{"ownerId":"bob"}`), 422, "ownerId")
	wantProblem(t, e.json("PUT", "/v1/subscriptions/"+own.ID, alice, `{"url":"https://client.example/a","ownerId":"bob"}`), 422, "ownerId")
	var got gancho.Subscription
	e.json("PUT", "/v1/subscriptions/"+own.ID, alice, `{"url":"https://client.example/b"}`).json(t, &got)
	if got.OwnerID != "alice" || got.URL != "https://client.example/b" {
		t.Fatalf("owner-bound PUT: %+v", got)
	}
}

// the API contract, "Write-only values follow the origin".
func TestWriteOnlyValuesFollowOrigin(t *testing.T) {
	e := newEnv(t)
	problemFields := func(r response) []string {
		t.Helper()
		var p problem
		r.json(t, &p)
		var out []string
		for _, f := range p.Errors {
			out = append(out, f.Field)
		}
		return out
	}
	get := func(path string) gancho.Subscription {
		t.Helper()
		var s gancho.Subscription
		e.call("GET", path, e.keyA, "", "").json(t, &s)
		return s
	}
	t.Run("PATCH", func(t *testing.T) {
		created := e.createSub(e.keyA, fullSubscription)
		path := "/v1/subscriptions/" + created.ID
		for _, tc := range []struct{ name, body string }{
			{"url only", `{"url":"https://evil.example/hooks"}`},
			{"masked values sent back", `{"url":"https://evil.example/hooks","auth":{"value":"****8765"},"headers":{"Authorization":"****-123"}}`},
			{"other port", `{"url":"https://client.example:8443/ocr_feedback/:id"}`},
			{"other scheme", `{"url":"http://client.example/ocr_feedback/:id"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.json("PATCH", path, e.keyA, tc.body)
				wantProblem(t, r, 422, "auth.value")
				wantProblem(t, r, 422, "headers.Authorization")
				if got := problemFields(r); len(got) != 2 {
					t.Errorf("fields %q, want exactly auth.value and headers.Authorization", got)
				}
			})
		}
		if after := get(path); after.URL != created.URL {
			t.Fatalf("a refused PATCH moved the subscription: %s", after.URL)
		}
		// Path only: same origin, values kept.
		r := e.json("PATCH", path, e.keyA, `{"url":"https://client.example/v2/:id"}`)
		if r.status != 200 {
			t.Fatalf("same-origin PATCH: %d %s", r.status, r.body)
		}
		var got gancho.Subscription
		r.json(t, &got)
		if got.Auth.Value != "****8765" || got.Headers["Authorization"] != "****-123" {
			t.Fatalf("same-origin PATCH lost write-only values: %+v %+v", got.Auth, got.Headers)
		}
		// Another origin with every value sent again.
		r = e.json("PATCH", path, e.keyA, `{"url":"https://new.example/hooks","auth":{"value":"new-credential-1111"},"headers":{"Authorization":"Bearer new-2222"}}`)
		if r.status != 200 {
			t.Fatalf("PATCH with values sent again: %d %s", r.status, r.body)
		}
		got = gancho.Subscription{}
		r.json(t, &got)
		if got.URL != "https://new.example/hooks" || got.Auth.Value != "****1111" || got.Headers["Authorization"] != "****2222" || got.Headers["X-Custom"] != "visible" {
			t.Fatalf("after PATCH: %+v", got)
		}
	})
	t.Run("PUT", func(t *testing.T) {
		created := e.createSub(e.keyA, fullSubscription)
		path := "/v1/subscriptions/" + created.ID
		r := e.json("PUT", path, e.keyA, `{"url":"https://evil.example/hooks","headers":{"Authorization":"****-123"},
			"auth":{"type":"static","header":"X-Api-Token","value":"****8765"},"ownerId":"client-113"}`)
		wantProblem(t, r, 422, "auth.value")
		wantProblem(t, r, 422, "headers.Authorization")
		r = e.json("PUT", path, e.keyA, `{"url":"https://evil.example/hooks","auth":{"type":"static","header":"X-Api-Token"},"ownerId":"client-113"}`)
		wantProblem(t, r, 422, "auth.value")
		if got := problemFields(r); len(got) != 1 {
			t.Errorf("fields %q, want auth.value once", got)
		}
		r = e.json("PUT", path, e.keyA, `{"url":"https://client.example/v3","headers":{"Authorization":"****-123"},
			"auth":{"type":"static","header":"X-Api-Token","value":"****8765"},"ownerId":"client-113"}`)
		if r.status != 200 {
			t.Fatalf("same-origin PUT: %d %s", r.status, r.body)
		}
		r = e.json("PUT", path, e.keyA, `{"url":"https://new.example/hooks","headers":{"Authorization":"Bearer new-2222"},
			"auth":{"type":"static","header":"X-Api-Token","value":"new-credential-1111"},"ownerId":"client-113"}`)
		if r.status != 200 {
			t.Fatalf("PUT with values sent again: %d %s", r.status, r.body)
		}
		var got gancho.Subscription
		r.json(t, &got)
		if got.Auth.Value != "****1111" || got.Headers["Authorization"] != "****2222" {
			t.Fatalf("after PUT: %+v %+v", got.Auth, got.Headers)
		}
	})
	t.Run("token endpoint", func(t *testing.T) {
		created := e.createSub(e.keyA, `{"url":"https://client.example/hooks","auth":{"type":"token","url":"https://login.example/token",
			"headers":{"X-Api-Key":"login-key-123456"},"body":{"client_id":"crm","client_secret":"login-secret-7890"}}}`)
		path := "/v1/subscriptions/" + created.ID
		for _, body := range []string{`{"auth":{"url":"https://evil.example/token"}}`, `{"url":"https://evil.example/hooks"}`} {
			r := e.json("PATCH", path, e.keyA, body)
			wantProblem(t, r, 422, "auth.body.client_secret")
			wantProblem(t, r, 422, "auth.headers.X-Api-Key")
		}
		if r := e.json("PATCH", path, e.keyA, `{"auth":{"url":"https://login.example/v2/token"}}`); r.status != 200 {
			t.Fatalf("same-origin token endpoint: %d %s", r.status, r.body)
		}
		r := e.json("PATCH", path, e.keyA, `{"auth":{"url":"https://login2.example/token","headers":{"X-Api-Key":"other-key-0000"},"body":{"client_secret":"other-secret-0000"}}}`)
		if r.status != 200 {
			t.Fatalf("token endpoint moved with values sent again: %d %s", r.status, r.body)
		}
	})
}
