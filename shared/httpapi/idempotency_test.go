package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/publish"
)

// post sends a JSON POST with an Idempotency-Key (none when idemKey is "").
func (e *env) post(srv *httptest.Server, path, key, idemKey, body string) response {
	e.t.Helper()
	var h []string
	if idemKey != "" {
		h = []string{httpapi.HeaderIdempotencyKey, idemKey}
	}
	_, r := do(e.t, srv, http.MethodPost, path, key, body, h...)
	return r
}

// otherAPI serves the same storage as e with another publisher or clock, as another
// Lambda (or a later one) would.
func (e *env) otherAPI(pub httpapi.Publisher, now func() time.Time) *httptest.Server {
	e.t.Helper()
	if pub == nil {
		pub = e.b.publisher(nil)
	}
	api := e.b.api(e.t, httpapi.Config{Publisher: pub, Policy: e.b.policy, Now: now})
	srv := httptest.NewServer(api.Handler())
	e.t.Cleanup(srv.Close)
	return srv
}

func uniqueKey(t *testing.T) string { return t.Name() + "-" + time.Now().Format(time.RFC3339Nano) }

func wantReplay(t *testing.T, first, again response) {
	t.Helper()
	if again.header.Get(httpapi.HeaderIdempotentReplayed) != "true" {
		t.Fatalf("repeat: %d without Idempotent-Replayed: true (%s)", again.status, again.body)
	}
	if again.status != first.status || string(again.body) != string(first.body) {
		t.Fatalf("replay %d %s, want the first response %d %s", again.status, again.body, first.status, first.body)
	}
	for _, h := range []string{"Content-Type", "Location"} {
		if again.header.Get(h) != first.header.Get(h) {
			t.Errorf("replayed %s = %q, want %q", h, again.header.Get(h), first.header.Get(h))
		}
	}
}

func TestIdempotentCreateReplays(t *testing.T) {
	e := newEnv(t)
	key := uniqueKey(t)
	body := `{"url":"https://example.com/hooks","events":["crm.*"]}`
	first := e.post(e.srv, "/v1/subscriptions", e.keyA, key, body)
	if first.status != http.StatusCreated || first.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatalf("first: %d replayed=%q %s", first.status, first.header.Get(httpapi.HeaderIdempotentReplayed), first.body)
	}
	var sub gancho.Subscription
	first.json(t, &sub)
	if !strings.HasPrefix(sub.Secret, "whsec_") {
		t.Fatalf("first response has no secret: %s", first.body)
	}
	for i := 0; i < 2; i++ {
		again := e.post(e.srv, "/v1/subscriptions", e.keyA, key, body)
		wantReplay(t, first, again)
		var got gancho.Subscription
		again.json(t, &got)
		if got.ID != sub.ID || got.Secret != sub.Secret {
			t.Fatalf("replay has id %s secret %s, want %s %s", got.ID, got.Secret, sub.ID, sub.Secret)
		}
	}
	if ids := e.listIDs(e.keyA); len(ids) != 1 || ids[0] != sub.ID {
		t.Fatalf("after replays the tenant has %v, want only %s", ids, sub.ID)
	}

	// Another tenant's key space does not hold A's key: B's request runs.
	b := e.post(e.srv, "/v1/subscriptions", e.keyB, key, body)
	if b.status != http.StatusCreated || b.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatalf("tenant B with A's key: %d replayed=%q", b.status, b.header.Get(httpapi.HeaderIdempotentReplayed))
	}
	var bs gancho.Subscription
	b.json(t, &bs)
	if bs.ID == sub.ID || bs.TenantID == e.tenantA {
		t.Fatalf("tenant B got A's subscription: %s", b.body)
	}
	if ids := e.listIDs(e.keyB); len(ids) != 1 || ids[0] != bs.ID {
		t.Fatalf("tenant B has %v", ids)
	}
	if ids := e.listIDs(e.keyA); len(ids) != 1 {
		t.Fatalf("tenant A has %v after B's request", ids)
	}
}

func TestIdempotencyConflicts(t *testing.T) {
	e := newEnv(t)
	key := uniqueKey(t)
	first := e.post(e.srv, "/v1/subscriptions", e.keyA, key, `{"url":"https://example.com/a"}`)
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	tests := []struct{ name, path, body string }{
		{"different body", "/v1/subscriptions", `{"url":"https://example.com/b"}`},
		{"same body, other spacing", "/v1/subscriptions", `{"url": "https://example.com/a"}`},
		{"other route", "/v1/api-keys", `{"url":"https://example.com/a"}`},
		{"other query", "/v1/subscriptions?x=1", `{"url":"https://example.com/a"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(e.srv, tc.path, e.keyA, key, tc.body)
			wantProblem(t, r, http.StatusConflict, httpapi.HeaderIdempotencyKey)
			if r.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
				t.Error("a conflict is marked replayed")
			}
		})
	}
	if ids := e.listIDs(e.keyA); len(ids) != 1 {
		t.Fatalf("conflicting requests created subscriptions: %v", ids)
	}
	// The key still replays the first response.
	wantReplay(t, first, e.post(e.srv, "/v1/subscriptions", e.keyA, key, `{"url":"https://example.com/a"}`))
}

func TestIdempotencyConcurrentRequestsRunOnce(t *testing.T) {
	e := newEnv(t)
	key := uniqueKey(t)
	body := `{"url":"https://example.com/concurrent"}`
	const n = 8
	results := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = e.post(e.srv, "/v1/subscriptions", e.keyA, key, body)
		}()
	}
	close(start)
	wg.Wait()
	fresh, replayed, running := 0, 0, 0
	ids := map[string]bool{}
	for _, r := range results {
		switch {
		case r.status == http.StatusCreated && r.header.Get(httpapi.HeaderIdempotentReplayed) == "":
			fresh++
		case r.status == http.StatusCreated:
			replayed++
		case r.status == http.StatusConflict:
			running++
			wantProblem(t, r, http.StatusConflict, httpapi.HeaderIdempotencyKey)
			if !strings.Contains(string(r.body), "retry later") || r.header.Get("Retry-After") == "" {
				t.Errorf("a still-running conflict does not say to retry later (Retry-After %q): %s", r.header.Get("Retry-After"), r.body)
			}
			continue
		default:
			t.Fatalf("unexpected answer %d %s", r.status, r.body)
		}
		var s gancho.Subscription
		r.json(t, &s)
		ids[s.ID] = true
	}
	if fresh != 1 || len(ids) != 1 {
		t.Fatalf("%d requests ran (ids %v), want exactly 1; %d replayed, %d conflicts", fresh, ids, replayed, running)
	}
	if got := e.listIDs(e.keyA); len(got) != 1 || !ids[got[0]] {
		t.Fatalf("the tenant has %v, want one subscription", got)
	}
	t.Logf("%d concurrent requests: 1 ran, %d replayed, %d told it is still running", n, replayed, running)
}

func TestIdempotencyOwnerBoundKeys(t *testing.T) {
	e := newEnv(t)
	alice := e.create(e.tenantA, "alice", gancho.AllTenantScopes)
	bob := e.create(e.tenantA, "bob", gancho.AllTenantScopes)
	key := uniqueKey(t)
	body := `{"url":"https://example.com/owner"}`
	a := e.post(e.srv, "/v1/subscriptions", alice, key, body)
	b := e.post(e.srv, "/v1/subscriptions", bob, key, body)
	if a.status != 201 || b.status != 201 || b.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatalf("alice %d, bob %d replayed=%q: one owner replayed the other's response", a.status, b.status, b.header.Get(httpapi.HeaderIdempotentReplayed))
	}
	var as, bs gancho.Subscription
	a.json(t, &as)
	b.json(t, &bs)
	if as.ID == bs.ID || as.OwnerID != "alice" || bs.OwnerID != "bob" {
		t.Fatalf("alice got %s (%s), bob got %s (%s)", as.ID, as.OwnerID, bs.ID, bs.OwnerID)
	}
	wantReplay(t, a, e.post(e.srv, "/v1/subscriptions", alice, key, body))
}

func TestIdempotencyKeyValidation(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		values []string
		status int
	}{
		{"empty", []string{""}, 400},
		{"too long", []string{strings.Repeat("k", 256)}, 400},
		{"tab", []string{"a\tb"}, 400},
		{"not ASCII", []string{"clé"}, 400},
		{"sent twice", []string{"a", "b"}, 400},
		{"255 printable characters", []string{strings.Repeat("~", 255)}, 201},
		{"spaces and symbols", []string{`"8e03978e-40d5 {x}/y"`}, 201},
	}
	created := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h []string
			for _, v := range tc.values {
				h = append(h, httpapi.HeaderIdempotencyKey, v)
			}
			_, r := do(t, e.srv, http.MethodPost, "/v1/subscriptions", e.keyA, `{"url":"https://example.com/k"}`, h...)
			if tc.status >= 400 {
				wantProblem(t, r, tc.status, httpapi.HeaderIdempotencyKey)
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			created++
		})
	}
	if ids := e.listIDs(e.keyA); len(ids) != created {
		t.Fatalf("the tenant has %d subscriptions, want %d (refused keys must not run)", len(ids), created)
	}
	// A key on a request that is not a POST is ignored.
	_, r := do(t, e.srv, http.MethodGet, "/v1/subscriptions", e.keyA, "", httpapi.HeaderIdempotencyKey, "")
	if r.status != 200 {
		t.Fatalf("GET with a key: %d %s", r.status, r.body)
	}
}

func TestIdempotencyReplaysClientErrors(t *testing.T) {
	e := newEnv(t)
	key := uniqueKey(t)
	first := e.post(e.srv, "/v1/subscriptions", e.keyA, key, `{"url":"ftp://example.com"}`)
	wantProblem(t, first, 422, "url")
	wantReplay(t, first, e.post(e.srv, "/v1/subscriptions", e.keyA, key, `{"url":"ftp://example.com"}`))
}

// failingPublisher fails to publish, like an unreachable queue; its other methods
// are the real publisher's.
type failingPublisher struct{ httpapi.Publisher }

func (failingPublisher) Publish(context.Context, gancho.Event, string, string) (publish.Result, error) {
	return publish.Result{}, errors.New("queue unavailable")
}

func TestIdempotencyServerErrorsAreNotStored(t *testing.T) {
	e := newEnv(t)
	broken := e.otherAPI(failingPublisher{e.b.publisher(nil)}, nil)
	key := uniqueKey(t)
	body := `{"type":"crm.lead.created","payload":{"id":1}}`
	failed := e.post(broken, "/v1/events", e.keyA, key, body)
	wantProblem(t, failed, http.StatusInternalServerError, "")

	// The same request runs again, and then replays.
	ok := e.post(e.srv, "/v1/events", e.keyA, key, body)
	if ok.status != http.StatusAccepted || ok.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatalf("retry after a 5xx: %d replayed=%q %s", ok.status, ok.header.Get(httpapi.HeaderIdempotentReplayed), ok.body)
	}
	again := e.post(e.srv, "/v1/events", e.keyA, key, body)
	wantReplay(t, ok, again)
	if again.header.Get("Location") == "" {
		t.Error("the replayed publish lost its Location")
	}
}

func TestIdempotencyExpiredRecordIsIgnored(t *testing.T) {
	e := newEnv(t)
	key := uniqueKey(t)
	body := `{"url":"https://example.com/expiry"}`
	first := e.post(e.srv, "/v1/subscriptions", e.keyA, key, body)
	if first.status != 201 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	// Within the window the key replays; a day and a minute later it runs again.
	almost := e.otherAPI(nil, func() time.Time { return time.Now().Add(httpapi.IdempotencyWindow - time.Minute) })
	wantReplay(t, first, e.post(almost, "/v1/subscriptions", e.keyA, key, body))
	later := e.otherAPI(nil, func() time.Time { return time.Now().Add(httpapi.IdempotencyWindow + time.Minute) })
	r := e.post(later, "/v1/subscriptions", e.keyA, key, body)
	if r.status != 201 || r.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
		t.Fatalf("after 24 h: %d replayed=%q", r.status, r.header.Get(httpapi.HeaderIdempotentReplayed))
	}
	if ids := e.listIDs(e.keyA); len(ids) != 2 {
		t.Fatalf("the tenant has %v, want 2 subscriptions", ids)
	}
}

func TestIdempotencyStoredResponseIsSealed(t *testing.T) {
	e := newEnv(t)
	key := uniqueKey(t)
	first := e.post(e.srv, "/v1/subscriptions", e.keyA, key, `{"url":"https://example.com/sealed"}`)
	var sub gancho.Subscription
	first.json(t, &sub)
	if sub.Secret == "" {
		t.Fatalf("no secret: %s", first.body)
	}

	emu := e.b.needEmulators(t)
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(emu.clients.DynamoDB, &dynamodb.ScanInput{
		TableName:                 &emu.cfg.TableName,
		FilterExpression:          aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "T#" + e.tenantA + "#I#"}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, page.Items...)
	}
	if len(items) != 1 {
		t.Fatalf("%d idempotency records for the tenant, want 1", len(items))
	}
	body, ok := items[0]["body"].(*types.AttributeValueMemberS)
	if !ok || !strings.HasPrefix(body.Value, "sealed:") {
		t.Fatalf("the stored response body is not sealed: %v", items[0]["body"])
	}
	secretPart := strings.TrimPrefix(sub.Secret, "whsec_")
	for name, v := range items[0] {
		if s, ok := v.(*types.AttributeValueMemberS); ok && (strings.Contains(s.Value, secretPart) || strings.Contains(s.Value, "whsec_")) {
			t.Errorf("attribute %s shows the subscription secret", name)
		}
	}
	if _, ok := items[0]["expiresAt"].(*types.AttributeValueMemberN); !ok {
		t.Error("the record has no expiresAt for the table's TTL")
	}
	// And the replay, opened again, still holds the secret.
	var again gancho.Subscription
	e.post(e.srv, "/v1/subscriptions", e.keyA, key, `{"url":"https://example.com/sealed"}`).json(t, &again)
	if again.Secret != sub.Secret {
		t.Fatal("the replay lost the secret")
	}
}

// TestIdempotencyAdminRoute: the operator's routes have their own key space, and a
// stored response holding a new tenant's API key is sealed too.
func TestIdempotencyAdminRoute(t *testing.T) {
	e := newEnv(t)
	adminKey := auth.NewAPIKey()
	api := e.b.api(t, httpapi.Config{Policy: e.b.policy, AdminKeyHash: auth.HashKey(adminKey)})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)

	key := uniqueKey(t)
	body := `{"name":"Acme"}`
	first := e.post(srv, "/v1/tenants", adminKey, key, body)
	if first.status == http.StatusNotImplemented {
		t.Skip("POST /v1/tenants is not implemented yet")
	}
	if first.status != http.StatusCreated {
		t.Fatalf("create tenant: %d %s", first.status, first.body)
	}
	wantReplay(t, first, e.post(srv, "/v1/tenants", adminKey, key, body))
	// A tenant using the same key is in its own space: its request runs (and is refused).
	wantProblem(t, e.post(srv, "/v1/tenants", e.keyA, key, body), http.StatusForbidden, "")

	var created struct {
		APIKey struct {
			Key string `json:"key"`
		} `json:"apiKey"`
	}
	first.json(t, &created)
	if created.APIKey.Key == "" {
		t.Fatalf("no API key in %s", first.body)
	}
	// The stored bytes are the table's to show (the in-memory store keeps values as
	// given): on the emulators, no attribute of the record holds the new key.
	emu := e.b.emulated
	if emu == nil {
		return
	}
	p := dynamodb.NewScanPaginator(emu.clients.DynamoDB, &dynamodb.ScanInput{
		TableName:                 &emu.cfg.TableName,
		FilterExpression:          aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "A#I#"}},
	})
	records := 0
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			records++
			for name, v := range it {
				if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(s.Value, created.APIKey.Key) {
					t.Errorf("attribute %s of an operator's record shows the new API key", name)
				}
			}
		}
	}
	if records == 0 {
		t.Fatal("no record in the operator's key space")
	}
}
