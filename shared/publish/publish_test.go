package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/queue"
)

// memQueue is the queue double: it keeps what was sent (the real SQS behaviours are
// tested in infra/devstack).
type memQueue struct {
	mu      sync.Mutex
	sent    []queue.Message
	delays  []time.Duration // of each sent message
	ordered []queue.Message
	groups  []string
	fail    error
}

func (q *memQueue) Send(_ context.Context, msgs []queue.Message, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	q.sent = append(q.sent, msgs...)
	for range msgs {
		q.delays = append(q.delays, delay)
	}
	return nil
}

func (q *memQueue) SendOrdered(_ context.Context, msgs []queue.Message, groups []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	q.ordered = append(q.ordered, msgs...)
	q.groups = append(q.groups, groups...)
	return nil
}

// take returns and forgets what was sent.
func (q *memQueue) take() (sent, ordered []queue.Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sent, ordered = q.sent, q.ordered
	q.sent, q.ordered, q.groups, q.delays = nil, nil, nil, nil
	return sent, ordered
}

func (e *batchEnv) queue() *memQueue { return e.q.(*memQueue) }

// outbox is the env tenant's events still in the outbox.
func (e *batchEnv) outbox(t *testing.T) []string {
	t.Helper()
	evs, err := e.st.PendingEvents(e.ctx, time.Now().Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.TenantID == e.tenant {
			out = append(out, ev.ID)
		}
	}
	return out
}

func deliverySubs(msgs []queue.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.SubscriptionID)
	}
	slices.Sort(out)
	return out
}

// A publish queues one first attempt per matching subscription, carrying the event,
// then stores the event out of the outbox with its destinations; its deliveries are
// pending until their first outcome.
func TestPublishQueuesThenStores(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	a := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	b := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.created"), OwnerID: strp("o1")})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("billing.*")})
	ordered := true
	c := e.subscribe(t, gancho.SubscriptionInput{Events: listp("*"), Ordered: &ordered})
	owner := func(in *gancho.EventInput) { in.OwnerID = strp("o1"); in.Reference = &gancho.Reference{ID: "r-1"} }

	res, err := e.pub.Publish(e.ctx, e.event("order.created", 1, owner), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if res.Deliveries != 3 || res.Background || res.Replayed || res.Event.QueuedAt == nil {
		t.Fatalf("result %+v", res)
	}
	sent, inOrder := e.queue().take()
	if got := deliverySubs(sent); !slices.Equal(got, deliverySubs([]queue.Message{{SubscriptionID: a.ID}, {SubscriptionID: b.ID}})) {
		t.Errorf("sent to %v, want %s and %s", got, a.ID, b.ID)
	}
	if len(inOrder) != 1 || inOrder[0].SubscriptionID != c.ID {
		t.Errorf("sent in order %+v, want the ordered subscription's", inOrder)
	}
	for _, m := range append(sent, inOrder...) {
		if m.Attempt != 1 || m.Event == nil || m.Event.ID != res.Event.ID || m.DeliveryID != gancho.DeliveryID(res.Event.ID, m.SubscriptionID) {
			t.Errorf("message %+v", m)
		}
	}
	ev, err := e.st.GetEvent(e.ctx, e.tenant, res.Event.ID)
	if err != nil || ev.QueuedAt == nil || ev.DeliveryCount != 3 || len(ev.Destinations) != 3 {
		t.Fatalf("stored %+v, %v", ev, err)
	}
	if got := e.outbox(t); len(got) != 0 {
		t.Errorf("in the outbox: %v", got)
	}
	d, err := e.st.GetDelivery(e.ctx, e.tenant, gancho.DeliveryID(ev.ID, b.ID))
	if err != nil || d.Status != gancho.StatusPending || d.OwnerID != "o1" || d.Recorded {
		t.Errorf("delivery to %s: %+v, %v", b.ID, d, err)
	}
	// An event only the catch-all matches goes to it alone; without a reference, not in order.
	e.queue().take()
	one, err := e.pub.Publish(e.ctx, e.event("nobody.else", 2), "", "")
	if err != nil || one.Deliveries != 1 {
		t.Fatalf("catch-all only: %+v, %v", one, err)
	}
	if sent, inOrder := e.queue().take(); len(sent) != 1 || sent[0].SubscriptionID != c.ID || len(inOrder) != 0 {
		t.Errorf("catch-all only: sent %+v, in order %+v", sent, inOrder)
	}
	// An event nothing matches is stored too, with no delivery.
	empty := newBatchEnv(t)
	none, err := empty.pub.Publish(empty.ctx, empty.event("nobody.listens", 3), "", "")
	if err != nil || none.Deliveries != 0 || none.Event.QueuedAt == nil {
		t.Fatalf("unmatched: %+v, %v", none, err)
	}
}

// Under an idempotency key, a repeat of the same request returns the first event and
// queues nothing; another request is refused; a repeat while the first has not stored
// its event waits for the takeover time, then publishes under the first event's id.
func TestPublishIdempotentReplay(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	key := publish.ScopedKey("key_test", "", "k1")
	first, err := e.pub.Publish(e.ctx, e.event("order.created", 1), key, "hash-1")
	if err != nil || first.Replayed || first.Deliveries != 1 {
		t.Fatalf("first: %+v, %v", first, err)
	}
	e.queue().take()
	again, err := e.pub.Publish(e.ctx, e.event("order.created", 1), key, "hash-1")
	if err != nil || !again.Replayed || again.Event.ID != first.Event.ID || again.Deliveries != 1 {
		t.Fatalf("repeat: %+v, %v", again, err)
	}
	if sent, _ := e.queue().take(); len(sent) != 0 {
		t.Errorf("a repeat queued %d messages", len(sent))
	}
	_, err = e.pub.Publish(e.ctx, e.event("order.created", 2), key, "hash-2")
	if !errors.Is(err, publish.ErrKeyReused) || gancho.KindOf(err) != gancho.KindConflict {
		t.Errorf("another request under the key: %v, want ErrKeyReused", err)
	}
	// Another credential's same key is its own.
	other, err := e.pub.Publish(e.ctx, e.event("order.created", 3), publish.ScopedKey("key_other", "", "k1"), "hash-2")
	if err != nil || other.Replayed {
		t.Errorf("another credential: %+v, %v", other, err)
	}

	// A claim whose publish has not stored its event.
	stuck := e.event("order.created", 4)
	key2 := publish.ScopedKey("key_test", "", "k2")
	if _, fresh, err := e.st.ClaimPublishKey(e.ctx, e.tenant, key2, gancho.PublishClaim{EventID: stuck.ID, Hash: "h", ClaimedAt: time.Now().UTC()}); err != nil || !fresh {
		t.Fatal(fresh, err)
	}
	_, err = e.pub.Publish(e.ctx, e.event("order.created", 5), key2, "h")
	if !errors.Is(err, publish.ErrStillRunning) {
		t.Fatalf("while the first runs: %v, want ErrStillRunning", err)
	}
	later := publish.New(e.st, e.q, func() time.Time { return time.Now().Add(time.Minute) })
	took, err := later.Publish(e.ctx, e.event("order.created", 6), key2, "h")
	if err != nil || took.Event.ID != stuck.ID || took.Replayed || took.Deliveries != 1 {
		t.Fatalf("after the takeover time: %+v, %v; want the first event's id", took, err)
	}
}

// A publish whose deliveries could not be queued gives its key up, so a retry
// publishes at once, under the same event id.
func TestPublishQueueFailureGivesTheKeyUp(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	key := publish.ScopedKey("key_test", "", "k1")
	ev := e.event("order.created", 1)
	e.queue().fail = errors.New("queue down")
	if _, err := e.pub.Publish(e.ctx, ev, key, "h"); err == nil {
		t.Fatal("a publish whose queue failed succeeded")
	}
	if _, err := e.st.GetEvent(e.ctx, e.tenant, ev.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("the event was stored without its deliveries queued: %v", err)
	}
	e.queue().fail = nil
	res, err := e.pub.Publish(e.ctx, e.event("order.created", 2), key, "h")
	if err != nil || res.Event.ID != ev.ID || res.Deliveries != 1 {
		t.Fatalf("retry: %+v, %v; want event %s published", res, err, ev.ID)
	}
}

// A fan-out over the inline limit is stored in the outbox and handed to the consumer
// as one message, which ResumeFanOut runs; a large event (not carried by its
// messages) is stored first and fanned out inline.
func TestPublishFanOutInlineOrInTheBackground(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	var subs []string
	for range 3 {
		subs = append(subs, e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")}).ID)
	}
	slices.Sort(subs)
	pub := publish.New(e.st, e.q, time.Now).WithInlineFanOut(2)

	res, err := pub.Publish(e.ctx, e.event("order.created", 1), "", "")
	if err != nil || !res.Background || res.Deliveries != 0 {
		t.Fatalf("over the inline limit: %+v, %v", res, err)
	}
	sent, _ := e.queue().take()
	if len(sent) != 1 || sent[0].Kind != queue.KindFanOut || sent[0].EventID != res.Event.ID {
		t.Fatalf("sent %+v, want one fan-out message", sent)
	}
	if got := e.outbox(t); !slices.Equal(got, []string{res.Event.ID}) {
		t.Fatalf("outbox %v, want the event waiting for its fan-out", got)
	}
	n, err := pub.ResumeFanOut(e.ctx, e.tenant, res.Event.ID, false)
	if err != nil || n != 3 {
		t.Fatalf("resume: %d, %v", n, err)
	}
	if sent, _ = e.queue().take(); !slices.Equal(deliverySubs(sent), subs) {
		t.Errorf("the background fan-out sent to %v, want %v", deliverySubs(sent), subs)
	}
	if got := e.outbox(t); len(got) != 0 {
		t.Errorf("outbox after the fan-out: %v", got)
	}
	if n, err := pub.ResumeFanOut(e.ctx, e.tenant, res.Event.ID, false); err != nil || n != 3 {
		t.Errorf("resuming a finished fan-out: %d, %v; want its count and nothing sent", n, err)
	}
	if sent, _ = e.queue().take(); len(sent) != 0 {
		t.Errorf("resuming a finished fan-out sent %d messages", len(sent))
	}

	big := e.event("order.created", 2)
	big.Payload = json.RawMessage(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", queue.EmbedLimit)))
	res, err = e.pub.Publish(e.ctx, big, "", "")
	if err != nil || res.Background || res.Deliveries != 3 {
		t.Fatalf("large event: %+v, %v", res, err)
	}
	sent, _ = e.queue().take()
	for _, m := range sent {
		if m.Event != nil {
			t.Errorf("a large event travelled in its message to %s", m.SubscriptionID)
		}
	}
	if ev, err := e.st.GetEvent(e.ctx, e.tenant, big.ID); err != nil || ev.QueuedAt == nil || ev.DeliveryCount != 3 {
		t.Errorf("large event stored %+v, %v", ev, err)
	}
	if got := e.outbox(t); len(got) != 0 {
		t.Errorf("outbox after the large event: %v", got)
	}
}

// A notify subscription gets its inbox entry and one notice; the next event while
// that notice is pending only joins the inbox.
func TestPublishNotifyCoalesces(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	notify := e.subscribe(t, gancho.SubscriptionInput{Events: listp("crm.*"), Mode: strp(gancho.ModeNotify)})
	first, err := e.pub.Publish(e.ctx, e.event("crm.deal.won", 1), "", "")
	if err != nil || first.Deliveries != 1 {
		t.Fatalf("first: %+v, %v", first, err)
	}
	second, err := e.pub.Publish(e.ctx, e.event("crm.deal.lost", 2), "", "")
	if err != nil || second.Deliveries != 0 {
		t.Fatalf("second: %+v, %v; want its notice coalesced", second, err)
	}
	sent, _ := e.queue().take()
	if len(sent) != 1 || sent[0].DeliveryID != gancho.DeliveryID(first.Event.ID, notify.ID) {
		t.Errorf("sent %+v, want the first event's notice only", sent)
	}
	p, err := e.st.ReadInbox(e.ctx, e.tenant, notify.ID, gancho.InboxQuery{Unseen: true, Limit: 10})
	if err != nil || len(p.EventIDs) != 2 || !slices.Contains(p.EventIDs, first.Event.ID) || !slices.Contains(p.EventIDs, second.Event.ID) {
		t.Errorf("inbox %v, %v; want both events", p.EventIDs, err)
	}
	if s, err := e.st.GetSubscription(e.ctx, e.tenant, notify.ID); err != nil || !s.NeedView {
		t.Errorf("needView %v, %v", s.NeedView, err)
	}
}

// A scheduled event's notice is its own: it neither joins a pending notice (which
// would tell the receiver before its event can be read, and never after) nor holds
// back the notices of the events published after it until its deliverAt.
func TestPublishNotifyScheduledGetsItsOwnNotice(t *testing.T) {
	t.Parallel()
	for _, scheduledFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("scheduled first %v", scheduledFirst), func(t *testing.T) {
			t.Parallel()
			e := newBatchEnv(t)
			notify := e.subscribe(t, gancho.SubscriptionInput{Events: listp("crm.*"), Mode: strp(gancho.ModeNotify)})
			at := time.Now().Add(5 * time.Minute).UTC()
			plain, scheduled := e.event("crm.deal.won", 1), e.event("crm.deal.lost", 2)
			scheduled.DeliverAt = &at
			order := []gancho.Event{plain, scheduled}
			if scheduledFirst {
				order = []gancho.Event{scheduled, plain}
			}
			var want []string
			for _, ev := range order {
				res, err := e.pub.Publish(e.ctx, ev, "", "")
				if err != nil || res.Deliveries != 1 {
					t.Fatalf("publish %s: %+v, %v; want its own notice", ev.Type, res, err)
				}
				want = append(want, gancho.DeliveryID(ev.ID, notify.ID))
			}
			sent, _ := e.queue().take()
			var got []string
			for _, m := range sent {
				got = append(got, m.DeliveryID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("sent notices %v, want %v", got, want)
			}
		})
	}
}

// An operational event goes to the subscriptions that name it or gancho.*, never to
// the subscription it is about nor to a plain "*", and once per key: a second
// consumer publishing the same change publishes nothing more.
func TestPublishOperational(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	about := e.subscribe(t, gancho.SubscriptionInput{Events: listp("gancho.*", "order.*")})
	ops := e.subscribe(t, gancho.SubscriptionInput{Events: listp("gancho.*")})
	named := e.subscribe(t, gancho.SubscriptionInput{Events: listp(gancho.TypeDeliveryFailed)})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("*")})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("gancho.subscription.*")})

	ev := gancho.Event{ID: "evt_x", Type: "order.created"}
	op := gancho.DeliveryFailed(about, ev, gancho.Delivery{ID: "dlv_x"}, gancho.Attempt{Number: 3, StatusCode: 500, At: time.Now()})
	for range 2 {
		if err := e.pub.PublishOperational(e.ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	sent, _ := e.queue().take()
	if got := deliverySubs(sent); !slices.Equal(got, deliverySubs([]queue.Message{{SubscriptionID: ops.ID}, {SubscriptionID: named.ID}})) {
		t.Fatalf("sent to %v, want only %s and %s", got, ops.ID, named.ID)
	}
}
