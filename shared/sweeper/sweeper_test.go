package sweeper_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// fakeStore lists the same due deliveries until they are unparked, like an index
// that lags behind its table.
type fakeStore struct {
	due       []gancho.Delivery
	lagging   int // how many more listings still show unparked ones
	unparked  map[string]bool
	stuck     []gancho.Event
	pendingEr error
}

func (f *fakeStore) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]gancho.Delivery, error) {
	var out []gancho.Delivery
	for _, d := range f.due {
		if !f.unparked[d.ID] || f.lagging > 0 {
			out = append(out, d)
		}
	}
	if f.lagging > 0 {
		f.lagging--
	}
	return out, nil
}

func (f *fakeStore) Unpark(ctx context.Context, d gancho.Delivery) error {
	f.unparked[d.ID] = true
	return nil
}

func (f *fakeStore) PendingEvents(ctx context.Context, olderThan time.Time, limit int) ([]gancho.Event, error) {
	return f.stuck, f.pendingEr
}

type fakeQueue struct{ sent []queue.Message }

func (q *fakeQueue) Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error {
	q.sent = append(q.sent, msgs...)
	return nil
}

func newSweeper(st *fakeStore, q *fakeQueue) *sweeper.Sweeper {
	return sweeper.New(st, q, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
}

func TestUnparkSendsEachDueDeliveryOnce(t *testing.T) {
	st := &fakeStore{unparked: map[string]bool{}, lagging: 2, due: []gancho.Delivery{
		{ID: "dlv_1", TenantID: "t", EventID: "evt_1", SubscriptionID: "sub_1", Attempts: make([]gancho.Attempt, 3)},
		{ID: "dlv_2", TenantID: "t", EventID: "evt_2", SubscriptionID: "sub_1", Attempts: make([]gancho.Attempt, 1)},
	}}
	q := &fakeQueue{}
	n, err := newSweeper(st, q).Sweep(context.Background())
	if err != nil || n != 2 || len(q.sent) != 2 {
		t.Fatalf("sweep = %d, %v; sent %+v", n, err, q.sent)
	}
	if q.sent[0].Attempt != 4 || q.sent[1].Attempt != 2 || !st.unparked["dlv_1"] || !st.unparked["dlv_2"] {
		t.Fatalf("sent %+v, unparked %v", q.sent, st.unparked)
	}
}

func TestStuckEventsGoToTheConsumerAndNeverBlockUnparking(t *testing.T) {
	st := &fakeStore{unparked: map[string]bool{},
		stuck: []gancho.Event{{ID: "evt_9", TenantID: "t"}},
		due:   []gancho.Delivery{{ID: "dlv_1", TenantID: "t", EventID: "evt_1", SubscriptionID: "sub_1"}}}
	q := &fakeQueue{}
	if _, err := newSweeper(st, q).Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(q.sent) != 2 || q.sent[0].Kind != queue.KindFanOut || q.sent[0].EventID != "evt_9" || q.sent[1].DeliveryID != "dlv_1" {
		t.Fatalf("sent %+v", q.sent)
	}
	// The outbox query failing must not stop parked retries.
	st2 := &fakeStore{unparked: map[string]bool{}, pendingEr: errors.New("throttled"),
		due: []gancho.Delivery{{ID: "dlv_2", TenantID: "t", EventID: "evt_2", SubscriptionID: "sub_1"}}}
	q2 := &fakeQueue{}
	if _, err := newSweeper(st2, q2).Sweep(context.Background()); err == nil || len(q2.sent) != 1 {
		t.Fatalf("err %v, sent %+v: want the error reported and the delivery queued anyway", err, q2.sent)
	}
}
