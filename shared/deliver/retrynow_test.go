package deliver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// POST /v1/deliveries/{id}/retry on a retrying delivery brings its next attempt
// forward (publish.RetryNow). Whichever of that message and the scheduled one comes
// second finds the attempt made: the receiver is called once per attempt, and a
// failure goes on with the schedule.
func TestRetryNowOfARetryingDeliveryIsNotSentTwice(t *testing.T) {
	for _, tc := range []struct {
		name    string
		code    int
		ordered bool // the scheduled message is held in the FIFO queue
		manual  bool // what RetryNow sends: one-off for ordered deliveries
		// after both messages: status, attempts, next message queued
		status   string
		attempts int
		queued   int
	}{
		{"standard, receiver healthy", 200, false, false, gancho.StatusDelivered, 2, 0},
		{"standard, receiver still failing: the schedule goes on", 500, false, false, gancho.StatusRetrying, 2, 1},
		{"ordered, receiver healthy", 200, true, true, gancho.StatusDelivered, 2, 0},
		{"ordered, receiver still failing: one-off", 500, true, true, gancho.StatusFailed, 2, 0},
	} {
		for _, scheduledFirst := range []bool{false, true} {
			name := tc.name
			if scheduledFirst {
				name += ", scheduled message first"
			}
			t.Run(name, func(t *testing.T) {
				var calls atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					calls.Add(1)
					w.WriteHeader(tc.code)
				}))
				t.Cleanup(srv.Close)
				now := time.Now()
				sub := newBenchSub("ten_retry", srv.URL+"/hooks")
				sub.Ordered = tc.ordered
				sub.RetrySchedule = []int{60, 60, 60}
				f := newBenchFixture(sub, 1)
				d := f.dels[0]
				d.Attempts = []gancho.Attempt{{Number: 1, At: now.Add(-time.Second), StatusCode: 500, Outcome: gancho.OutcomeFailure}}
				// As MarkRequeued leaves it after the retry was asked for.
				d.Status, d.NextAttemptAt = gancho.StatusPending, nil
				st, q := newTestStore(), &memQueue{}
				st.seed(t, f)
				st.putRecord(t, d)
				h := deliver.NewHandler(st, q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
					deliver.WithClock(func() time.Time { return now }))

				base := queue.Message{TenantID: d.TenantID, DeliveryID: d.ID, EventID: d.EventID, SubscriptionID: d.SubscriptionID, Attempt: 2}
				now2 := base
				now2.Manual = tc.manual
				record := func(m queue.Message, fifo bool) events.SQSMessage {
					body, _ := json.Marshal(m)
					rec := events.SQSMessage{MessageId: "m", Body: string(body), ReceiptHandle: "rh",
						Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
					if fifo {
						rec.Attributes["MessageGroupId"] = "ord-0"
						rec.Attributes["ApproximateReceiveCount"] = "2" // held, back again
					}
					return rec
				}
				batches := []events.SQSMessage{record(now2, false), record(base, tc.ordered)}
				if scheduledFirst {
					batches[0], batches[1] = batches[1], batches[0]
				}
				for _, rec := range batches {
					if _, err := h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}}); err != nil {
						t.Fatal(err)
					}
				}
				got := st.delivery(d.ID)
				if n := calls.Load(); n != 1 {
					t.Fatalf("the receiver was called %d times, want once", n)
				}
				want := tc.status
				if scheduledFirst && tc.ordered && tc.code != 200 {
					want = gancho.StatusRetrying // the held message made it: the schedule goes on in the FIFO queue
				}
				if got.Status != want || len(got.Attempts) != tc.attempts {
					t.Fatalf("delivery %s with %d attempts, want %s with %d", got.Status, len(got.Attempts), want, tc.attempts)
				}
				sent := q.take()
				wantQueued := tc.queued
				if tc.ordered {
					wantQueued = 0 // the FIFO message is held, not sent again
				}
				if len(sent) != wantQueued {
					t.Fatalf("queued %+v, want %d message(s)", sent, wantQueued)
				}
				if wantQueued == 1 && (sent[0].msg.Attempt != 3 || sent[0].msg.Manual) {
					t.Fatalf("next message %+v, want attempt 3 on the schedule", sent[0].msg)
				}
			})
		}
	}
}
