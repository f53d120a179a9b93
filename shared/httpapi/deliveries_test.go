package httpapi_test

import (
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// POST /v1/subscriptions/{id}/test takes an optional subject; without one, ":id" in
// the URL is filled with "test" (the API contract, "Smaller rules").
func TestSubscriptionTestSubject(t *testing.T) {
	e := newEnv(t)
	sub := e.createSub(e.keyA, `{"url":"http://127.0.0.1:9000/hooks/:id"}`)
	path := "/v1/subscriptions/" + sub.ID + "/test"
	for _, tc := range []struct{ name, contentType, body, subject string }{
		{"no body", "", "", "test"},
		{"empty JSON body", "application/json", "", "test"},
		{"empty object", "application/json", `{}`, "test"},
		{"subject", "application/json", `{"subject":"a7046a49-1fe0"}`, "a7046a49-1fe0"},
		{"subject with a slash", "application/json", `{"subject":"a/b"}`, "a/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", path, e.keyA, tc.contentType, tc.body)
			if r.status != 202 {
				t.Fatalf("test: %d %s", r.status, r.body)
			}
			var sent struct{ EventID, DeliveryID string }
			r.json(t, &sent)
			var ev gancho.Event
			if g := e.call("GET", "/v1/events/"+sent.EventID, e.keyA, "", ""); g.status != 200 {
				t.Fatalf("GET event: %d %s", g.status, g.body)
			} else {
				g.json(t, &ev)
			}
			if ev.Type != gancho.TypeTest || ev.Subject != tc.subject {
				t.Fatalf("test event %+v, want type %s and subject %q", ev, gancho.TypeTest, tc.subject)
			}
			if sent.DeliveryID != gancho.DeliveryID(sent.EventID, sub.ID) {
				t.Fatalf("delivery id %s", sent.DeliveryID)
			}
		})
	}
	for _, tc := range []struct{ name, body, field string }{
		{"dot-dot subject", `{"subject":".."}`, "subject"},
		{"dot subject", `{"subject":"."}`, "subject"},
		{"empty subject", `{"subject":""}`, "subject"},
		{"subject not a string", `{"subject":42}`, "subject"},
		{"unknown field", `{"subjct":"x"}`, "subjct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.json("POST", path, e.keyA, tc.body), 422, tc.field)
		})
	}
	wantProblem(t, e.json("POST", path, e.keyA, `{"subject":`), 400, "")
	wantProblem(t, e.call("POST", path, e.keyA, "text/plain", `{"subject":"x"}`), 415, "")
}

// POST /v1/deliveries/{id}/retry works on retrying, failed, cancelled and delivered
// deliveries; only pending is 409. The 202 body is the delivery as GET shows it.
func TestRetryDelivery(t *testing.T) {
	e := newEnv(t)
	st := e.b.store
	ctx := context.Background()
	sub := e.createSub(e.keyA, `{"url":"http://127.0.0.1:9/hooks","retrySchedule":[3600,3600]}`)
	now := time.Now().UTC()
	failure := gancho.Attempt{Number: 1, At: now, StatusCode: 500, Outcome: gancho.OutcomeFailure}
	later := now.Add(time.Hour)
	for _, tc := range []struct {
		name  string
		setup func(d gancho.Delivery) error
		want  int
	}{
		{"pending", func(gancho.Delivery) error { return nil }, 409},
		{"retrying, parked", func(d gancho.Delivery) error {
			return st.RecordAttempt(ctx, d, failure, gancho.StatusRetrying, &later, true)
		}, 202},
		{"retrying, on the queue", func(d gancho.Delivery) error {
			return st.RecordAttempt(ctx, d, failure, gancho.StatusRetrying, &later, false)
		}, 202},
		{"failed", func(d gancho.Delivery) error {
			return st.RecordAttempt(ctx, d, failure, gancho.StatusFailed, nil, false)
		}, 202},
		{"delivered", func(d gancho.Delivery) error {
			ok := failure
			ok.StatusCode, ok.Outcome = 200, gancho.OutcomeSuccess
			return st.RecordAttempt(ctx, d, ok, gancho.StatusDelivered, nil, false)
		}, 202},
		{"cancelled", func(d gancho.Delivery) error { return st.SetDeliveryStatus(ctx, d, gancho.StatusCancelled) }, 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pub struct{ ID string }
			if r := e.json("POST", "/v1/events", e.keyA, `{"type":"webhook.ping","payload":{}}`); r.status != 202 {
				t.Fatalf("publish: %d %s", r.status, r.body)
			} else {
				r.json(t, &pub)
			}
			id := gancho.DeliveryID(pub.ID, sub.ID)
			d, err := st.GetDelivery(ctx, e.tenantA, id)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(d); err != nil {
				t.Fatal(err)
			}
			path := "/v1/deliveries/" + id
			r := e.call("POST", path+"/retry", e.keyA, "", "")
			if tc.want == 409 {
				wantProblem(t, r, 409, "")
				return
			}
			if r.status != 202 {
				t.Fatalf("retry: %d %s", r.status, r.body)
			}
			var body, got map[string]any
			r.json(t, &body)
			e.call("GET", path, e.keyA, "", "").json(t, &got)
			if !reflect.DeepEqual(body, got) {
				t.Fatalf("202 body\n%v\nis not the delivery as GET shows it\n%v", body, got)
			}
			var dl gancho.Delivery
			r.json(t, &dl)
			if dl.ID != id || dl.Status != gancho.StatusPending || dl.NextAttemptAt != nil {
				t.Fatalf("after retry: %+v", dl)
			}
			// A parked retry leaves the sweeper's index: its scheduled attempt is not
			// queued again.
			due, err := st.DueDeliveries(ctx, later.Add(time.Minute), 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range due {
				if x.ID == id {
					t.Fatalf("the retried delivery is still parked for its scheduled time")
				}
			}
			// Now it is queued: asking again is 409.
			wantProblem(t, e.call("POST", path+"/retry", e.keyA, "", ""), 409, "")
		})
	}
}

// POST /v1/dead-letters/redrive turns each dead letter of a delivery into one more
// attempt (numbered after those on record, manual), takes it off the dead-letter
// queue and marks the delivery requeued; a dead letter whose delivery is gone leaves
// the queue and moves nothing; one that is no delivery message stays, counted as
// skipped. The dead-letter queue is the in-memory double on both backends: the
// emulators' queue is shared by every package's tests.
func TestRedriveDeadLetters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dlq := &testenv.Queue{}
	admin := "gk_admin_" + auth.NewAPIKey()[3:]
	srv := httptest.NewServer(e.b.api(t, httpapi.Config{Policy: e.b.policy, DeadLetters: dlq, AdminKeyHash: auth.HashKey(admin)}).Handler())
	t.Cleanup(srv.Close)

	sub := e.createSub(e.keyA, `{"url":"http://127.0.0.1:9/hooks","retrySchedule":[60]}`)
	var pub struct{ ID string }
	if r := e.json("POST", "/v1/events", e.keyA, `{"type":"webhook.ping","payload":{}}`); r.status != 202 {
		t.Fatalf("publish: %d %s", r.status, r.body)
	} else {
		r.json(t, &pub)
	}
	id := gancho.DeliveryID(pub.ID, sub.ID)
	d, err := e.b.store.GetDelivery(ctx, e.tenantA, id)
	if err != nil {
		t.Fatal(err)
	}
	failure := gancho.Attempt{Number: 1, At: time.Now().UTC(), StatusCode: 500, Outcome: gancho.OutcomeFailure}
	if err := e.b.store.RecordAttempt(ctx, d, failure, gancho.StatusFailed, nil, false); err != nil {
		t.Fatal(err)
	}
	goneEvent := gancho.NewID(gancho.PrefixEvent, time.Now())
	gone := gancho.DeliveryID(goneEvent, sub.ID)
	if err := dlq.SendDeadLetter(ctx, []queue.Message{
		{TenantID: e.tenantA, DeliveryID: id, EventID: pub.ID, SubscriptionID: sub.ID, Attempt: 1},
		{TenantID: e.tenantA, DeliveryID: gone, EventID: goneEvent, SubscriptionID: sub.ID, Attempt: 3},
	}); err != nil {
		t.Fatal(err)
	}
	dlq.SendDeadLetterBody("not a delivery message")

	_, r := do(t, srv, "POST", "/v1/dead-letters/redrive", admin, "")
	var got struct{ Moved, Skipped int }
	if r.status != 202 {
		t.Fatalf("redrive: %d %s", r.status, r.body)
	}
	r.json(t, &got)
	if got.Moved != 1 || got.Skipped != 1 {
		t.Fatalf("redrive = %+v, want 1 moved, 1 skipped", got)
	}
	want := queue.Message{TenantID: e.tenantA, DeliveryID: id, EventID: pub.ID, SubscriptionID: sub.ID, Attempt: 2, Manual: true}
	if sent := dlq.Sent(); len(sent) != 1 || !reflect.DeepEqual(sent[0], want) {
		t.Fatalf("sent %+v, want %+v", sent, want)
	}
	if left := dlq.DeadLetters(); len(left) != 1 || left[0].Valid {
		t.Fatalf("left on the dead-letter queue: %+v, want only the message that is no delivery", left)
	}
	var dl gancho.Delivery
	e.call("GET", "/v1/deliveries/"+id, e.keyA, "", "").json(t, &dl)
	if dl.Status != gancho.StatusPending || len(dl.Attempts) != 1 {
		t.Fatalf("after redrive: %+v, want pending with its one attempt", dl)
	}
}
