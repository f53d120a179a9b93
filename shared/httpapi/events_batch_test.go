package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/publish"
)

// batchItem is one item of a batch answer: a published event or an error.
type batchItem struct {
	ID         string   `json:"id"`
	Type       string   `json:"type"`
	CreatedAt  string   `json:"createdAt"`
	Deliveries *int     `json:"deliveries"`
	Replayed   bool     `json:"replayed"`
	Error      *problem `json:"error"`
}

func (e *env) batch(key, body string, headers ...string) (response, []batchItem) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/v1/events/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	r := e.do(req)
	var out struct {
		Data []batchItem `json:"data"`
	}
	if r.status == http.StatusAccepted {
		r.json(e.t, &out)
	}
	return r, out.Data
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	buf, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, buf}
}

// eventsBody is a batch request body holding events.
func eventsBody(events ...string) string {
	return `{"events":[` + strings.Join(events, ",") + `]}`
}

func TestPublishBatchRequest(t *testing.T) {
	e := newEnv(t)
	ev := `{"type":"order.created","payload":{"n":1}}`
	many := make([]string, httpapi.MaxBatchEvents+1)
	for i := range many {
		many[i] = ev
	}
	big := fmt.Sprintf(`{"type":"order.created","payload":{"s":%q}}`, strings.Repeat("x", 200<<10))
	tests := []struct {
		name, contentType, body string
		status                  int
		field                   string
	}{
		{"not JSON", "application/json", `{"events":`, 400, ""},
		{"not a JSON body", "text/plain", eventsBody(ev), 415, ""},
		{"no events", "application/json", `{}`, 422, "events"},
		{"events null", "application/json", `{"events":null}`, 422, "events"},
		{"no event", "application/json", `{"events":[]}`, 422, "events"},
		{"too many events", "application/json", eventsBody(many...), 422, "events"},
		{"events not an array", "application/json", `{"events":{}}`, 422, "events"},
		{"unknown field", "application/json", `{"events":[` + ev + `],"mode":"all"}`, 422, "mode"},
		{"over 1 MiB", "application/json", eventsBody(big, big, big, big, big, big), 413, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.call("POST", "/v1/events/batch", e.keyA, tc.contentType, tc.body), tc.status, tc.field)
		})
	}
	t.Run("up to 1 MiB", func(t *testing.T) {
		// Larger than a single publish takes, within the batch's limit.
		r, items := e.batch(e.keyA, eventsBody(big, big, big, big))
		if r.status != 202 || len(items) != 4 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		for i, it := range items {
			if it.Error != nil || !strings.HasPrefix(it.ID, gancho.PrefixEvent) {
				t.Errorf("item %d: %+v", i, it)
			}
		}
	})
	t.Run("scope", func(t *testing.T) {
		reader := e.create(e.tenantA, "", []string{gancho.ScopeEventsRead})
		wantProblem(t, e.json("POST", "/v1/events/batch", reader, eventsBody(ev)), 403, "")
	})
}

// TestPublishBatchItems: each event is validated and published on its own, and its
// answer sits at its index, errors naming fields from the body's root.
func TestPublishBatchItems(t *testing.T) {
	e := newEnv(t)
	e.putType(e.keyA, "order.paid", `{"description":"paid","schema":{"type":"object","required":["orderId"],"properties":{"orderId":{"type":"integer"}}}}`)
	sub := e.createSub(e.keyA, `{"url":"https://client.example/h","events":["order.*"]}`)
	events := []string{
		`{"type":"order.created","payload":{"n":0},"subject":"s-0"}`,
		`{"type":"order.paid","payload":{"orderId":"x"}}`,
		`{"type":"no.such.type","payload":{}}`,
		`3`,
		`{"type":"order.created","payload":{},"colour":"red"}`,
		`{"type":5,"payload":{}}`,
		`{"type":"order.created","payload":{"n":6},"idempotencyKey":"k1"}`,
		`{"type":"order.created","payload":{"n":6},"idempotencyKey":"k1"}`,
		`{"type":"order.created","payload":{"n":8},"idempotencyKey":"k1"}`,
		`{"type":"webhook.test","payload":{}}`,
		`{"type":"order.paid","payload":{"orderId":10}}`,
		`{"type":"order.created"}`,
	}
	r, items := e.batch(e.keyA, eventsBody(events...))
	if r.status != 202 || len(items) != len(events) {
		t.Fatalf("%d %s", r.status, r.body)
	}
	wantErr := map[int]struct {
		status int
		field  string
	}{
		1: {422, "events/1/payload/orderId"}, 2: {422, "events/2/type"}, 3: {422, "events/3"},
		4: {422, "events/4/colour"}, 5: {422, "events/5/type"}, 8: {409, "events/8/idempotencyKey"},
		9: {422, "events/9/type"}, 11: {422, "events/11/payload"},
	}
	for i, it := range items {
		want, bad := wantErr[i]
		switch {
		case bad && it.Error == nil:
			t.Errorf("item %d: %+v; want a %d naming %s", i, it, want.status, want.field)
		case bad:
			p := it.Error
			named := false
			for _, fe := range p.Errors {
				named = named || fe.Field == want.field && fe.Message != ""
			}
			if p.Status != want.status || !named || p.Type == "" || p.Title == "" || p.Detail == "" {
				t.Errorf("item %d: problem %+v; want status %d naming %s", i, p, want.status, want.field)
			}
		case it.Error != nil || !strings.HasPrefix(it.ID, gancho.PrefixEvent) || it.Deliveries == nil || *it.Deliveries != 1:
			t.Errorf("item %d: %+v; want a published event with 1 delivery", i, it)
		}
	}
	if items[7].ID != items[6].ID || !items[7].Replayed || items[6].Replayed {
		t.Errorf("items 6 and 7 share their idempotency key: %+v %+v; want the same event, the second replayed", items[6], items[7])
	}
	got := e.call("GET", "/v1/events/"+items[0].ID, e.keyA, "", "")
	var stored gancho.Event
	got.json(t, &stored)
	if got.status != 200 || stored.Subject != "s-0" || stored.Type != "order.created" {
		t.Errorf("GET the published event: %d %s", got.status, got.body)
	}
	d := e.call("GET", "/v1/deliveries/"+gancho.DeliveryID(items[0].ID, sub.ID), e.keyA, "", "")
	if d.status != 200 {
		t.Errorf("its delivery: %d %s", d.status, d.body)
	}
}

// TestPublishBatchOwnerBoundKey: an owner-bound key's events are its owner's, as in a
// single publish.
func TestPublishBatchOwnerBoundKey(t *testing.T) {
	e := newEnv(t)
	bound := e.create(e.tenantA, "office-7", []string{gancho.ScopeEventsWrite, gancho.ScopeEventsRead})
	r, items := e.batch(bound, eventsBody(
		`{"type":"order.created","payload":{}}`,
		`{"type":"order.created","payload":{},"ownerId":"office-8"}`,
		`{"type":"order.created","payload":{},"ownerId":"office-7"}`))
	if r.status != 202 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if items[1].Error == nil || items[1].Error.Status != 422 || items[1].Error.Errors[0].Field != "events/1/ownerId" {
		t.Errorf("another owner's event: %+v; want 422 naming events/1/ownerId", items[1])
	}
	for _, i := range []int{0, 2} {
		var ev gancho.Event
		got := e.call("GET", "/v1/events/"+items[i].ID, bound, "", "")
		got.json(t, &ev)
		if got.status != 200 || ev.OwnerID != "office-7" {
			t.Errorf("item %d: %d %s; want the key's owner office-7", i, got.status, got.body)
		}
	}
}

// TestPublishBatchIdempotencyKeys: an event's idempotencyKey is its credential's, and
// the same as a single publish's; an Idempotency-Key header covers the whole request.
func TestPublishBatchIdempotencyKeys(t *testing.T) {
	e := newEnv(t)
	other := e.create(e.tenantA, "", gancho.AllTenantScopes)
	ev := `{"type":"order.created","payload":{"n":1},"idempotencyKey":"same"}`
	_, first := e.batch(e.keyA, eventsBody(ev))
	single := e.json("POST", "/v1/events", e.keyA, ev)
	var one struct{ ID string }
	single.json(t, &one)
	if single.status != 202 || one.ID != first[0].ID || single.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("a single publish with the batch event's key: %d %s; want the replay of %s", single.status, single.body, first[0].ID)
	}
	_, theirs := e.batch(other, eventsBody(ev))
	if theirs[0].Error != nil || theirs[0].ID == first[0].ID || theirs[0].Replayed {
		t.Errorf("another credential's same key: %+v; want an event of its own", theirs[0])
	}

	body := eventsBody(`{"type":"order.created","payload":{"n":2}}`, `{"type":"order.created","payload":{"n":3}}`)
	r1, a := e.batch(e.keyA, body, "Idempotency-Key", "whole-batch")
	r2, b := e.batch(e.keyA, body, "Idempotency-Key", "whole-batch")
	if r1.status != 202 || r2.status != 202 || r2.header.Get("Idempotent-Replayed") != "true" || a[0].ID != b[0].ID || a[1].ID != b[1].ID {
		t.Errorf("repeat under the header: %d %s then %d %s (%q); want the first answer replayed",
			r1.status, r1.body, r2.status, r2.body, r2.header.Get("Idempotent-Replayed"))
	}
	r3, _ := e.batch(e.keyA, eventsBody(`{"type":"order.created","payload":{"n":4}}`), "Idempotency-Key", "whole-batch")
	wantProblem(t, r3, 409, "Idempotency-Key")
}

// flakyBatch fails every event of its first batch with an error of ours.
type flakyBatch struct {
	*publish.Publisher
	calls atomic.Int32
}

func (f *flakyBatch) PublishBatch(ctx context.Context, items []publish.BatchItem) []publish.BatchOutcome {
	if f.calls.Add(1) == 1 {
		out := make([]publish.BatchOutcome, len(items))
		for i := range out {
			out[i].Err = errors.New("queue unavailable: secret detail")
		}
		return out
	}
	return f.Publisher.PublishBatch(ctx, items)
}

// TestPublishBatchInternalErrorNotReplayed: an item that failed on our side is a 500
// problem without our error's text, and the answer is not stored under the
// Idempotency-Key, so a repeat publishes.
func TestPublishBatchInternalErrorNotReplayed(t *testing.T) {
	e := newEnv(t)
	api := e.b.api(t, httpapi.Config{Policy: e.b.policy, Publisher: &flakyBatch{Publisher: e.b.publisher(nil)}})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.srv = srv
	body := eventsBody(`{"type":"order.created","payload":{"n":1}}`)
	r, items := e.batch(e.keyA, body, "Idempotency-Key", "flaky")
	if r.status != 202 || items[0].Error == nil || items[0].Error.Status != 500 || strings.Contains(string(r.body), "secret") {
		t.Fatalf("%d %s; want 202 with a 500 item that hides the error's text", r.status, r.body)
	}
	r, items = e.batch(e.keyA, body, "Idempotency-Key", "flaky")
	if r.status != 202 || items[0].Error != nil || r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("repeat: %d %s (replayed %q); want it run again and published", r.status, r.body, r.header.Get("Idempotent-Replayed"))
	}
	var ev json.RawMessage
	if got := e.call("GET", "/v1/events/"+items[0].ID, e.keyA, "", ""); got.status != 200 {
		t.Errorf("the repeat's event: %d %s", got.status, got.body)
	} else {
		got.json(t, &ev)
	}
}

// partlyFailingBatch publishes every event but the last for real the first time, and
// fails the last one on our side (a 500 item, so the answer is not stored).
type partlyFailingBatch struct {
	*publish.Publisher
	calls atomic.Int32
}

func (f *partlyFailingBatch) PublishBatch(ctx context.Context, items []publish.BatchItem) []publish.BatchOutcome {
	if f.calls.Add(1) > 1 {
		return f.Publisher.PublishBatch(ctx, items)
	}
	out := f.Publisher.PublishBatch(ctx, items[:len(items)-1])
	return append(out, publish.BatchOutcome{Err: errors.New("queue unavailable")})
}

// TestPublishBatchHeaderRepeatPublishesNothingTwice: a batch sent again with the same
// Idempotency-Key header after an answer that was not stored (a 500 item; a crash is
// the same) gets the events already published back under their ids, and publishes
// only what was not.
func TestPublishBatchHeaderRepeatPublishesNothingTwice(t *testing.T) {
	e := newEnv(t)
	api := e.b.api(t, httpapi.Config{Policy: e.b.policy, Publisher: &partlyFailingBatch{Publisher: e.b.publisher(nil)}})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.srv = srv
	body := eventsBody(`{"type":"order.created","payload":{"n":1}}`, `{"type":"order.created","payload":{"n":2}}`, `{"type":"order.created","payload":{"n":3}}`)
	r, first := e.batch(e.keyA, body, "Idempotency-Key", "batch-repeat")
	if r.status != 202 || len(first) != 3 || first[0].Error != nil || first[1].Error != nil || first[2].Error == nil {
		t.Fatalf("first: %d %s; want two published and a 500 item", r.status, r.body)
	}
	r, again := e.batch(e.keyA, body, "Idempotency-Key", "batch-repeat")
	if r.status != 202 || len(again) != 3 {
		t.Fatalf("repeat: %d %s", r.status, r.body)
	}
	for i := range 2 {
		if again[i].ID != first[i].ID || !again[i].Replayed {
			t.Errorf("repeat item %d: %+v; want event %s again, replayed", i, again[i], first[i].ID)
		}
	}
	if again[2].Error != nil || again[2].ID == "" || again[2].Replayed {
		t.Errorf("repeat item 2: %+v; want it published now", again[2])
	}
	// Another credential with the same header value publishes on its own.
	r, other := e.batch(e.keyB, body, "Idempotency-Key", "batch-repeat")
	if r.status != 202 || len(other) != 3 || other[0].Replayed || other[0].ID == first[0].ID {
		t.Errorf("another tenant's key: %d %s; want its own events", r.status, r.body)
	}
}

// An event scheduled beyond the queue's delay is matched when the sweeper hands it
// over, whichever route published it: the batch route stores and answers it as a
// single publish does, whether it would match a subscription now or not.
func TestPublishBatchScheduledLikeSingle(t *testing.T) {
	e := newEnv(t)
	e.createSub(e.keyA, `{"url":"https://example.com/p","events":["order.created"]}`)
	deliverAt := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339Nano)
	cases := []struct{ name, typ string }{
		{"matching nothing now", "invoice.paid"},
		{"matching a subscription now", "order.created"},
	}
	// comparable is a JSON object without what differs between two publishes.
	comparable := func(body []byte) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		delete(m, "id")
		delete(m, "createdAt")
		return m
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := `{"type":"` + tc.typ + `","payload":{"n":1},"deliverAt":"` + deliverAt + `"}`
			single := e.json("POST", "/v1/events", e.keyA, ev)
			if single.status != 202 {
				t.Fatalf("single publish: %d %s", single.status, single.body)
			}
			r, _ := e.batch(e.keyA, eventsBody(ev))
			if r.status != 202 {
				t.Fatalf("batch publish: %d %s", r.status, r.body)
			}
			var batch struct{ Data []json.RawMessage }
			r.json(t, &batch)
			if len(batch.Data) != 1 {
				t.Fatalf("batch answer %s", r.body)
			}
			got, want := comparable(batch.Data[0]), comparable(single.body)
			delete(got, "replayed")
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("batch item %v, single publish answers %v", got, want)
			}
			var ids [2]struct{ ID string }
			single.json(t, &ids[0])
			if err := json.Unmarshal(batch.Data[0], &ids[1]); err != nil {
				t.Fatal(err)
			}
			// Stored the same: read back through the API and from the store.
			var stored [2]gancho.Event
			for i, id := range ids {
				g := e.call("GET", "/v1/events/"+id.ID, e.keyA, "", "")
				if g.status != 200 {
					t.Fatalf("get %s: %d %s", id.ID, g.status, g.body)
				}
				if i == 1 {
					if got, want := comparable(g.body), comparable(e.call("GET", "/v1/events/"+ids[0].ID, e.keyA, "", "").body); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("batch event reads %v, single one %v", got, want)
					}
				}
				ev, err := e.b.store.GetEvent(context.Background(), e.tenantA, id.ID)
				if err != nil {
					t.Fatal(err)
				}
				stored[i] = ev
			}
			for i, ev := range stored {
				if ev.QueuedAt != nil || ev.DeliveryCount != 0 || len(ev.Destinations) != 0 {
					t.Errorf("event %d stored queued %v, %d deliveries to %v; want it waiting for its hand-over", i, ev.QueuedAt, ev.DeliveryCount, ev.Destinations)
				}
			}
			due := stored[0].OutboxDue()
			pending, err := e.b.store.PendingEvents(context.Background(), due.Add(time.Second), 1000)
			if err != nil {
				t.Fatal(err)
			}
			waiting := map[string]bool{}
			for _, ev := range pending {
				waiting[ev.ID] = true
			}
			if !waiting[ids[0].ID] || !waiting[ids[1].ID] {
				t.Errorf("in the outbox at the hand-over: single %v, batch %v; want both", waiting[ids[0].ID], waiting[ids[1].ID])
			}
		})
	}
}
