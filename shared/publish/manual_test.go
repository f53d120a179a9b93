package publish_test

import (
	"context"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/queue"
)

type sentQueue struct{ sent []queue.Message }

func (q *sentQueue) Send(_ context.Context, msgs []queue.Message, _ time.Duration) error {
	q.sent = append(q.sent, msgs...)
	return nil
}

func (q *sentQueue) SendOrdered(context.Context, []queue.Message, []string) error { return nil }

type marks struct{ marked []string }

func (m *marks) MarkRequeued(_ context.Context, d gancho.Delivery) error {
	m.marked = append(m.marked, d.ID)
	return nil
}

// RetryNow brings a standard retrying delivery's next attempt forward (same attempt
// number, not a one-off, so the schedule goes on after a failure); everything else,
// and an ordered retrying delivery, gets a one-off attempt.
func TestRetryNowMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     string
		ordered    bool
		wantManual bool
	}{
		{gancho.StatusRetrying, false, false},
		{gancho.StatusRetrying, true, true},
		{gancho.StatusFailed, false, true},
		{gancho.StatusCancelled, false, true},
		{gancho.StatusDelivered, false, true},
		{gancho.StatusDelivered, true, true},
	} {
		t.Run(tc.status, func(t *testing.T) {
			t.Parallel()
			q, m := &sentQueue{}, &marks{}
			p := publish.New(nil, q, time.Now)
			d := gancho.Delivery{ID: "dlv_1", TenantID: "ten_1", EventID: "evt_1", SubscriptionID: "sub_1", Status: tc.status,
				Attempts: []gancho.Attempt{{Number: 1}, {Number: 2}}}
			if err := p.RetryNow(context.Background(), m, d, tc.ordered); err != nil {
				t.Fatal(err)
			}
			want := queue.Message{TenantID: "ten_1", DeliveryID: "dlv_1", EventID: "evt_1", SubscriptionID: "sub_1", Attempt: 3, Manual: tc.wantManual}
			if len(q.sent) != 1 || q.sent[0] != want {
				t.Fatalf("sent %+v, want %+v", q.sent, want)
			}
			if len(m.marked) != 1 {
				t.Fatalf("marked %v, want the delivery pending", m.marked)
			}
		})
	}
}
