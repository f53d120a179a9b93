package sweeper_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// laggingStore lists deliveries already unparked again for a few listings, as
// DynamoDB's due index does while it lags behind its table.
type laggingStore struct {
	*memstore.Store
	mu        sync.Mutex
	lagging   int
	unparked  []gancho.Delivery
	pendingEr error
}

func (s *laggingStore) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]gancho.Delivery, error) {
	out, err := s.Store.DueDeliveries(ctx, now, limit)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lagging > 0 {
		s.lagging--
		out = append(out, s.unparked...)
	}
	return out, err
}

func (s *laggingStore) Unpark(ctx context.Context, d gancho.Delivery) error {
	err := s.Store.Unpark(ctx, d)
	if err == nil {
		s.mu.Lock()
		s.unparked = append(s.unparked, d)
		s.mu.Unlock()
	}
	return err
}

func (s *laggingStore) PendingEvents(ctx context.Context, olderThan time.Time, limit int) ([]gancho.Event, error) {
	if s.pendingEr != nil {
		return nil, s.pendingEr
	}
	return s.Store.PendingEvents(ctx, olderThan, limit)
}

type fakeQueue struct{ sent []queue.Message }

func (q *fakeQueue) Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error {
	q.sent = append(q.sent, msgs...)
	return nil
}

func (q *fakeQueue) take() []queue.Message {
	out := q.sent
	q.sent = nil
	return out
}

const tenant = "ten_sweep"

// env is a store with a clock the sweeper shares.
type env struct {
	st  *laggingStore
	q   *fakeQueue
	now time.Time
	sw  *sweeper.Sweeper
}

func newEnv() *env {
	e := &env{st: &laggingStore{Store: memstore.New()}, q: &fakeQueue{}, now: time.Now().UTC()}
	e.sw = sweeper.New(e.st, e.q, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return e.now })
	return e
}

// event stores an event created at at, in the outbox unless queued (to sub).
func (e *env) event(t *testing.T, at time.Time, queuedTo string) gancho.Event {
	t.Helper()
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, at), TenantID: tenant, Type: "order.created", CreatedAt: at,
		Payload: json.RawMessage(`{}`)}
	stored := ev
	if queuedTo != "" {
		stored.QueuedAt, stored.DeliveryCount = &at, 1
		stored.Destinations = []gancho.Destination{{SubscriptionID: queuedTo}}
	}
	if err := e.st.CreateEvent(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	return ev
}

// failed records n failed attempts of the delivery of a new event to a new
// subscription, the last one retrying at next (parked for the sweeper when park).
func (e *env) failed(t *testing.T, n int, next time.Time, park bool) gancho.Delivery {
	t.Helper()
	sub := gancho.NewID(gancho.PrefixSubscription, e.now)
	ev := e.event(t, e.now.Add(-time.Hour), sub)
	d := gancho.PendingDelivery(ev, gancho.Destination{SubscriptionID: sub})
	for i := 1; i <= n; i++ {
		a := gancho.Attempt{Number: i, At: e.now.Add(-time.Minute), StatusCode: 503, Outcome: gancho.OutcomeFailure}
		if err := e.st.RecordAttempt(context.Background(), d, a, gancho.StatusRetrying, &next, park && i == n); err != nil {
			t.Fatal(err)
		}
		d.Attempts, d.Recorded = append(d.Attempts, a), true
	}
	return d
}

func ids(msgs []queue.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.DeliveryID)
	}
	slices.Sort(out)
	return out
}

// Parked retries that are due go back to the queue as their next attempt, once; the
// others wait for their time.
func TestUnparkSendsEachDueDeliveryOnce(t *testing.T) {
	e := newEnv()
	three := e.failed(t, 3, e.now.Add(-time.Second), true)
	one := e.failed(t, 1, e.now.Add(-time.Second), true)
	later := e.failed(t, 1, e.now.Add(time.Hour), true)
	e.failed(t, 1, e.now.Add(-time.Second), false) // retried by its own queued message
	e.st.lagging = 2

	n, err := e.sw.Sweep(context.Background())
	sent := e.q.take()
	if err != nil || n != 2 || len(sent) != 2 {
		t.Fatalf("sweep = %d, %v; sent %+v", n, err, sent)
	}
	want := map[string]int{three.ID: 4, one.ID: 2}
	for _, m := range sent {
		if want[m.DeliveryID] != m.Attempt || m.Manual || m.EventID == "" || m.SubscriptionID == "" {
			t.Errorf("sent %+v, want attempt %d", m, want[m.DeliveryID])
		}
	}
	if n, err := e.sw.Sweep(context.Background()); err != nil || n != 0 || len(e.q.take()) != 0 {
		t.Fatalf("second sweep = %d, %v; want nothing left", n, err)
	}
	e.now = e.now.Add(time.Hour)
	if n, err := e.sw.Sweep(context.Background()); err != nil || n != 1 || !slices.Equal(ids(e.q.take()), []string{later.ID}) {
		t.Fatalf("an hour later = %d, %v; want %s", n, err, later.ID)
	}
}

// Events left in the outbox past the grace time go to the consumer to finish their
// fan-out; an outbox error never stops parked retries.
func TestStuckEventsGoToTheConsumerAndNeverBlockUnparking(t *testing.T) {
	e := newEnv()
	stuck := e.event(t, e.now.Add(-sweeper.DefaultGrace-time.Second), "")
	e.event(t, e.now.Add(-time.Second), "") // still within its publish
	e.event(t, e.now.Add(-time.Hour), gancho.NewID(gancho.PrefixSubscription, e.now))
	due := e.failed(t, 1, e.now.Add(-time.Second), true)
	if _, err := e.sw.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := e.q.take()
	if len(sent) != 2 || sent[0].Kind != queue.KindFanOut || sent[0].EventID != stuck.ID || sent[0].TenantID != tenant ||
		sent[1].DeliveryID != due.ID {
		t.Fatalf("sent %+v", sent)
	}
	// The outbox query failing must not stop parked retries.
	e2 := newEnv()
	e2.st.pendingEr = errors.New("throttled")
	d2 := e2.failed(t, 1, e2.now.Add(-time.Second), true)
	if _, err := e2.sw.Sweep(context.Background()); err == nil || !slices.Equal(ids(e2.q.sent), []string{d2.ID}) {
		t.Fatalf("err %v, sent %+v: want the error reported and the delivery queued anyway", err, e2.q.sent)
	}
}

// An event scheduled beyond the queue's delay waits in the outbox on purpose: the
// sweeper hands it to the consumer only once its fan-out is due (ScheduleLead before
// its deliverAt) and the grace has passed, not as a stuck event before.
func TestScheduledEventHandedOverWhenDue(t *testing.T) {
	t.Parallel()
	e := newEnv()
	at := e.now.Add(2 * time.Hour)
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, e.now), TenantID: tenant, Type: "order.created", CreatedAt: e.now,
		Payload: json.RawMessage(`{}`), DeliverAt: &at}
	if err := e.st.CreateEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	due := at.Add(-gancho.ScheduleLead + sweeper.DefaultGrace)
	for _, step := range []struct {
		now  time.Time
		want int
	}{
		{e.now.Add(sweeper.DefaultGrace), 0},
		{due.Add(-time.Second), 0},
		{due, 1},
	} {
		e.now = step.now
		if _, err := e.sw.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		sent := e.q.take()
		if len(sent) != step.want {
			t.Fatalf("at deliverAt-%s: sent %+v, want %d", at.Sub(step.now), sent, step.want)
		}
		if step.want == 1 && (sent[0].Kind != queue.KindFanOut || sent[0].EventID != ev.ID) {
			t.Errorf("sent %+v, want the event's fan-out", sent[0])
		}
	}
}
