package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/publish"
)

// TestIdempotencyKeyEscalation: a key holding only keys:write replays another key's
// creation of an all-scopes key (same body, same Idempotency-Key). It must not get
// the stored raw key: its request runs as its own, and is refused.
func TestIdempotencyKeyEscalation(t *testing.T) {
	e := newEnv(t)
	minter := e.create(e.tenantA, "", []string{gancho.ScopeKeysWrite})
	scopes, _ := json.Marshal(gancho.AllTenantScopes)
	body := `{"name":"deploy","scopes":` + string(scopes) + `}`
	idem := uniqueKey(t)

	first := e.post(e.srv, "/v1/api-keys", e.keyA, idem, body)
	if first.status != http.StatusCreated {
		t.Fatalf("full key creates a key: %d %s", first.status, first.body)
	}
	var made struct {
		Key string `json:"key"`
	}
	first.json(t, &made)
	if made.Key == "" {
		t.Fatalf("no key in %s", first.body)
	}

	r := e.post(e.srv, "/v1/api-keys", minter, idem, body)
	if v := r.header.Get(httpapi.HeaderIdempotentReplayed); v != "" || strings.Contains(string(r.body), made.Key) {
		t.Fatalf("a keys:write-only key replayed another credential's key creation: %d %s=%q %s", r.status, httpapi.HeaderIdempotentReplayed, v, r.body)
	}
	wantProblem(t, r, http.StatusForbidden, "scopes")

	// Within its own scopes, the same key value makes the caller's own key.
	own := `{"name":"deploy","scopes":["keys:write"]}`
	mine := e.post(e.srv, "/v1/api-keys", minter, uniqueKey(t)+"-own", own)
	if mine.status != http.StatusCreated {
		t.Fatalf("minter within its scopes: %d %s", mine.status, mine.body)
	}
	// The first credential still gets its replay.
	wantReplay(t, first, e.post(e.srv, "/v1/api-keys", e.keyA, idem, body))
}

// publishKeyIn sends a publish with idem as the Idempotency-Key header or as the
// body's idempotencyKey.
func (e *env) publishKeyIn(srv *httptest.Server, apiKey, where, idem, body string) response {
	e.t.Helper()
	switch where {
	case "header":
		return e.post(srv, "/v1/events", apiKey, idem, body)
	case "body":
		return e.post(srv, "/v1/events", apiKey, "", strings.TrimSuffix(body, "}")+`,"idempotencyKey":"`+idem+`"}`)
	}
	e.t.Fatalf("key in %q", where)
	return response{}
}

func publishedID(t *testing.T, r response) string {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	var out struct {
		ID string `json:"id"`
	}
	r.json(t, &out)
	if out.ID == "" {
		t.Fatalf("publish answered no id: %s", r.body)
	}
	return out.ID
}

func (e *env) eventIDs(key string) []string {
	e.t.Helper()
	r := e.call("GET", "/v1/events?limit=100", key, "", "")
	if r.status != 200 {
		e.t.Fatalf("list events: %d %s", r.status, r.body)
	}
	var l struct {
		Data []gancho.Event `json:"data"`
	}
	r.json(e.t, &l)
	var ids []string
	for _, ev := range l.Data {
		ids = append(ids, ev.ID)
	}
	return ids
}

// subscriptionDeliveries lists the deliveries to subID of every event of the tenant:
// from the events' lists, which show deliveries before their first attempt too (the
// subscription's own list shows them from their first outcome).
func (e *env) subscriptionDeliveries(key, subID string) []gancho.Delivery {
	e.t.Helper()
	var out []gancho.Delivery
	for _, id := range e.eventIDs(key) {
		r := e.call("GET", "/v1/events/"+id+"/deliveries?limit=100", key, "", "")
		if r.status != 200 {
			e.t.Fatalf("list deliveries: %d %s", r.status, r.body)
		}
		var l struct {
			Data []gancho.Delivery `json:"data"`
		}
		r.json(e.t, &l)
		for _, d := range l.Data {
			if d.SubscriptionID == subID {
				out = append(out, d)
			}
		}
	}
	return out
}

// TestPublishIdempotencyIsPerCredential: two keys of one tenant that send the same
// idempotency key value publish two independent events.
func TestPublishIdempotencyIsPerCredential(t *testing.T) {
	for _, where := range []string{"header", "body"} {
		t.Run("key in "+where, func(t *testing.T) {
			e := newEnv(t)
			other := e.create(e.tenantA, "", []string{gancho.ScopeEventsWrite})
			idem := uniqueKey(t)
			body := `{"type":"order.created","payload":{"n":1}}`
			a := e.publishKeyIn(e.srv, e.keyA, where, idem, body)
			b := e.publishKeyIn(e.srv, other, where, idem, body)
			ida, idb := publishedID(t, a), publishedID(t, b)
			if ida == idb || b.header.Get(httpapi.HeaderIdempotentReplayed) != "" {
				t.Fatalf("the second credential got the first one's event %s (replayed=%q)", ida, b.header.Get(httpapi.HeaderIdempotentReplayed))
			}
			if ids := e.eventIDs(e.keyA); len(ids) != 2 {
				t.Fatalf("the tenant has events %v, want 2", ids)
			}
		})
	}
}

// TestPublishIdempotencySameCredentialReplays: the same credential gets its first
// event back, whether the key came in the header or in the body, either time.
func TestPublishIdempotencySameCredentialReplays(t *testing.T) {
	tests := []struct{ first, again string }{
		{"header", "header"},
		{"body", "body"},
		{"header", "body"},
		{"body", "header"},
	}
	e := newEnv(t)
	sub := e.createSub(e.keyA, `{"url":"https://example.com/replay","events":["order.created"]}`)
	for _, tc := range tests {
		t.Run(tc.first+" then "+tc.again, func(t *testing.T) {
			idem := uniqueKey(t)
			body := `{"type":"order.created","payload":{"case":"` + tc.first + tc.again + `"}}`
			first := e.publishKeyIn(e.srv, e.keyA, tc.first, idem, body)
			id := publishedID(t, first)
			for i := 0; i < 2; i++ {
				again := e.publishKeyIn(e.srv, e.keyA, tc.again, idem, body)
				if got := publishedID(t, again); got != id || again.header.Get(httpapi.HeaderIdempotentReplayed) != "true" {
					t.Fatalf("repeat %d: event %s replayed=%q, want a replay of %s", i, got, again.header.Get(httpapi.HeaderIdempotentReplayed), id)
				}
				if again.header.Get("Location") != first.header.Get("Location") {
					t.Errorf("replay Location %q, want %q", again.header.Get("Location"), first.header.Get("Location"))
				}
			}
			// A different event under the same key is a conflict naming where the key was sent.
			field := map[string]string{"header": httpapi.HeaderIdempotencyKey, "body": "idempotencyKey"}[tc.again]
			wantProblem(t, e.publishKeyIn(e.srv, e.keyA, tc.again, idem, `{"type":"order.created","payload":{"other":true}}`), http.StatusConflict, field)
		})
	}
	if n := len(e.eventIDs(e.keyA)); n != len(tests) {
		t.Fatalf("the tenant has %d events, want %d", n, len(tests))
	}
	if n := len(e.subscriptionDeliveries(e.keyA, sub.ID)); n != len(tests) {
		t.Fatalf("the subscription has %d deliveries, want %d", n, len(tests))
	}
}

// dyingStore stands for a publishing process that dies in CreateEvent, before or
// after the event is written.
type dyingStore struct {
	publish.Store
	afterWrite bool
	mu         sync.Mutex
	ids        []string
}

func (s *dyingStore) CreateEvent(ctx context.Context, ev gancho.Event) error {
	s.mu.Lock()
	s.ids = append(s.ids, ev.ID)
	s.mu.Unlock()
	if s.afterWrite {
		if err := s.Store.CreateEvent(ctx, ev); err != nil {
			return err
		}
	}
	panic("the process died")
}

// serveDying runs one request on h, which dies; nothing after the death runs but
// what the stack unwinds.
func serveDying(t *testing.T, h http.Handler, req *http.Request) {
	t.Helper()
	defer func() {
		if v := recover(); v == nil {
			t.Fatal("the first request did not die")
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), req)
}

// TestPublishRetryAfterCrashKeepsEventID: a publish whose process died, retried with
// the same key (header or body) once the first run's lease has passed, answers the
// first run's event id and makes no second event or delivery.
func TestPublishRetryAfterCrashKeepsEventID(t *testing.T) {
	tests := []struct {
		name         string
		afterWrite   bool
		first, again string
	}{
		{"died after storing the event, header", true, "header", "header"},
		{"died before storing the event, header", false, "header", "header"},
		{"died after storing the event, body then header", true, "body", "header"},
		{"died before storing the event, header then body", false, "header", "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			sub := e.createSub(e.keyA, `{"url":"https://example.com/crash","events":["order.created"]}`)
			idem := uniqueKey(t)
			body := `{"type":"order.created","payload":{"n":1}}`

			dying := &dyingStore{Store: e.b.store, afterWrite: tc.afterWrite}
			first := e.b.api(t, httpapi.Config{Publisher: publish.New(dying, e.b.queue, time.Now), Policy: e.b.policy})
			sent := body
			if tc.first == "body" {
				sent = strings.TrimSuffix(body, "}") + `,"idempotencyKey":"` + idem + `"}`
			}
			req := httptest.NewRequest(http.MethodPost, "/v1/events", strings.NewReader(sent))
			if tc.first == "header" {
				req.Header.Set(httpapi.HeaderIdempotencyKey, idem)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+e.keyA)
			serveDying(t, first.Handler(), req)
			if len(dying.ids) != 1 {
				t.Fatalf("the first run tried events %v", dying.ids)
			}
			want := dying.ids[0]

			if !tc.afterWrite {
				// Right away the first run may still be working: the retry waits.
				r := e.publishKeyIn(e.srv, e.keyA, tc.again, idem, body)
				field := map[string]string{"header": httpapi.HeaderIdempotencyKey, "body": "idempotencyKey"}[tc.again]
				wantProblem(t, r, http.StatusConflict, field)
				if r.header.Get("Retry-After") == "" {
					t.Error("a publish still running answers no Retry-After")
				}
			}

			// Later than every lease: the retry finishes the first run's work.
			later := func() time.Time { return time.Now().Add(2 * time.Minute) }
			pub := e.b.publisher(later)
			retrySrv := e.otherAPI(pub, later)
			retry := e.publishKeyIn(retrySrv, e.keyA, tc.again, idem, body)
			if got := publishedID(t, retry); got != want {
				t.Fatalf("the retry published event %s, want the first run's %s", got, want)
			}
			if tc.afterWrite {
				// The event was stored unqueued: the sweeper queues it.
				if _, err := pub.ResumeFanOut(context.Background(), e.tenantA, want, true); err != nil {
					t.Fatal(err)
				}
			}
			again := e.publishKeyIn(retrySrv, e.keyA, tc.again, idem, body)
			if got := publishedID(t, again); got != want || again.header.Get(httpapi.HeaderIdempotentReplayed) != "true" {
				t.Fatalf("a further retry: event %s replayed=%q, want a replay of %s", got, again.header.Get(httpapi.HeaderIdempotentReplayed), want)
			}
			if ids := e.eventIDs(e.keyA); len(ids) != 1 || ids[0] != want {
				t.Fatalf("the tenant has events %v, want only %s", ids, want)
			}
			if ds := e.subscriptionDeliveries(e.keyA, sub.ID); len(ds) != 1 || ds[0].EventID != want {
				t.Fatalf("the subscription has deliveries %+v, want one of %s", ds, want)
			}
		})
	}
}

// failingWriteStore fails CreateEvent, after writing the event when stored (a
// timeout that hid a write), and records the ids it was given.
type failingWriteStore struct {
	publish.Store
	stored bool
	ids    []string
}

func (s *failingWriteStore) CreateEvent(ctx context.Context, ev gancho.Event) error {
	s.ids = append(s.ids, ev.ID)
	if s.stored {
		if err := s.Store.CreateEvent(ctx, ev); err != nil {
			return err
		}
	}
	return errors.New("storage unavailable")
}

// TestPublishRetryAfterFailedWrite: a publish whose event write failed answers 500
// and may be retried at once with the same key; the retry publishes under the first
// run's event id, so a write that did happen is not published twice.
func TestPublishRetryAfterFailedWrite(t *testing.T) {
	for _, stored := range []bool{false, true} {
		t.Run(map[bool]string{false: "write failed", true: "write happened but answered an error"}[stored], func(t *testing.T) {
			e := newEnv(t)
			sub := e.createSub(e.keyA, `{"url":"https://example.com/failed-write","events":["order.created"]}`)
			failing := &failingWriteStore{Store: e.b.store, stored: stored}
			broken := e.otherAPI(publish.New(failing, e.b.queue, time.Now), nil)
			idem := uniqueKey(t)
			body := `{"type":"order.created","payload":{"n":1}}`
			wantProblem(t, e.post(broken, "/v1/events", e.keyA, idem, body), http.StatusInternalServerError, "")
			if len(failing.ids) != 1 {
				t.Fatalf("the failed run tried events %v", failing.ids)
			}
			retry := e.post(e.srv, "/v1/events", e.keyA, idem, body)
			if got := publishedID(t, retry); got != failing.ids[0] {
				t.Fatalf("the retry published event %s, want the failed run's %s", got, failing.ids[0])
			}
			if ids := e.eventIDs(e.keyA); len(ids) != 1 {
				t.Fatalf("the tenant has events %v, want one", ids)
			}
			if !stored {
				if ds := e.subscriptionDeliveries(e.keyA, sub.ID); len(ds) != 1 {
					t.Fatalf("the subscription has %d deliveries, want 1", len(ds))
				}
			}
		})
	}
}
