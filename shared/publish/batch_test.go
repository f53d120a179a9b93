package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/storetest"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// callCounter counts the AWS calls made through the clients it is installed on.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int // "dynamodb:BatchWriteItem" → calls
}

func (c *callCounter) middleware(service string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("CountCalls",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				op := strings.TrimSuffix(reflect.TypeOf(in.Parameters).Elem().Name(), "Input")
				c.mu.Lock()
				c.calls[service+":"+op]++
				c.mu.Unlock()
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

func (c *callCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

// total is the number of calls to service.
func (c *callCounter) total(service string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.calls {
		if strings.HasPrefix(k, service+":") {
			n += v
		}
	}
	return n
}

func (c *callCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.calls))
	for k := range c.calls {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, c.calls[k])
	}
	return b.String()
}

type batchEnv struct {
	ctx    context.Context
	st     storetest.Store
	q      publish.Queue
	count  *callCounter // on the emulators only
	pub    *publish.Publisher
	tenant string
}

// newBatchEnv publishes to the in-memory store and a queue double.
func newBatchEnv(t *testing.T) *batchEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st, q := memstore.New(), &memQueue{}
	return &batchEnv{ctx: ctx, st: st, q: q, pub: publish.New(st, q, time.Now), tenant: storetest.TenantID()}
}

// newEmulatorEnv publishes to DynamoDB Local and the SQS emulator, counting the calls.
func newEmulatorEnv(t *testing.T) *batchEnv {
	t.Helper()
	cfg := testenv.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := &callCounter{calls: map[string]int{}}
	ddb := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = cfg.LocalEndpoints
		o.APIOptions = append(o.APIOptions, count.middleware("dynamodb"))
	})
	sq := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, count.middleware("sqs")) })
	clients := cfg.ClientsFrom(ddb, sq)
	return &batchEnv{ctx: ctx, st: clients.Store, q: clients.Queue, count: count,
		pub: publish.New(clients.Store, clients.Queue, time.Now), tenant: testenv.TenantID()}
}

// subscribe stores an active subscription of the env's tenant.
func (e *batchEnv) subscribe(t *testing.T, in gancho.SubscriptionInput) gancho.Subscription {
	t.Helper()
	u := "https://client.example/hooks"
	in.URL = &u
	sub, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	sub.ID, sub.TenantID, sub.Secret, sub.CreatedAt, sub.UpdatedAt = gancho.NewID(gancho.PrefixSubscription, now), e.tenant, gancho.NewSecret(), now, now
	if err := e.st.CreateSubscription(e.ctx, sub); err != nil {
		t.Fatal(err)
	}
	return sub
}

// event is a valid event of the env's tenant.
func (e *batchEnv) event(typ string, n int, edit ...func(*gancho.EventInput)) gancho.Event {
	in := gancho.EventInput{Type: typ, Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}
	for _, f := range edit {
		f(&in)
	}
	ev, err := gancho.NewEvent(e.tenant, in, time.Now(), gancho.TargetPolicy{AllowInsecure: true})
	if err != nil {
		panic(err)
	}
	return ev
}

func strp(s string) *string       { return &s }
func listp(v ...string) *[]string { return &v }

// TestPublishBatchCallCount publishes 100 events to one subscription in one batch and
// one by one, and counts the AWS calls of each: the batch must write everything a
// single publish writes, with a fraction of the calls.
func TestPublishBatchCallCount(t *testing.T) {
	e := newEmulatorEnv(t)
	sub := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	const n = 100

	e.count.reset()
	for i := range n {
		if _, err := e.pub.Publish(e.ctx, e.event("order.created", i), "", ""); err != nil {
			t.Fatal(err)
		}
	}
	singleDDB, singleSQS, singleCalls := e.count.total("dynamodb"), e.count.total("sqs"), e.count.String()

	items := make([]publish.BatchItem, n)
	for i := range items {
		items[i] = publish.BatchItem{Event: e.event("order.created", i)}
	}
	e.count.reset()
	outcomes := e.pub.PublishBatch(e.ctx, items)
	batchDDB, batchSQS, batchCalls := e.count.total("dynamodb"), e.count.total("sqs"), e.count.String()
	t.Logf("100 single publishes: %d DynamoDB + %d SQS calls (%s)", singleDDB, singleSQS, singleCalls)
	t.Logf("one batch of 100:     %d DynamoDB + %d SQS calls (%s)", batchDDB, batchSQS, batchCalls)

	for i, o := range outcomes {
		if o.Err != nil || o.Result.Deliveries != 1 || o.Result.Event.ID != items[i].Event.ID {
			t.Fatalf("item %d: %+v, %v; want event %s published to 1 subscription", i, o.Result, o.Err, items[i].Event.ID)
		}
	}
	// What a single publish leaves: the event queued, out of the outbox, its delivery pending.
	for _, it := range items {
		ev, err := e.st.GetEvent(e.ctx, e.tenant, it.Event.ID)
		if err != nil || ev.QueuedAt == nil || ev.DeliveryCount != 1 {
			t.Fatalf("event %s: %+v, %v; want it stored, queued, deliveryCount 1", it.Event.ID, ev, err)
		}
		d, err := e.st.GetDelivery(e.ctx, e.tenant, gancho.DeliveryID(ev.ID, sub.ID))
		if err != nil || d.Status != gancho.StatusPending {
			t.Fatalf("delivery of %s: %+v, %v; want it pending", ev.ID, d, err)
		}
	}
	pending, err := e.st.PendingEvents(e.ctx, time.Now().Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range pending {
		if ev.TenantID == e.tenant {
			t.Errorf("event %s is still in the outbox", ev.ID)
		}
	}
	// 100 events, 200 inbox items, 100 deliveries: 4+12 writes, 4 rewrites out of
	// the outbox, 3 match queries; 100 messages in 10 sends.
	if batchDDB > 25 || batchSQS > 10 {
		t.Errorf("the batch made %d DynamoDB and %d SQS calls; want at most 25 and 10", batchDDB, batchSQS)
	}
}

// TestPublishBatchMatchesLikePublish publishes the same events singly and in one batch
// and compares where each went: owners, broadcasts, contexts, callbacks, notify
// subscriptions (whose notices coalesce) and events that match nothing.
func TestPublishBatchMatchesLikePublish(t *testing.T) {
	e := newBatchEnv(t)
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("crm.*")})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("crm.lead.created"), OwnerID: strp("o1")})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("*"), OwnerID: strp("o2")})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("crm.lead.created"), Context: strp("sign")})
	notify := e.subscribe(t, gancho.SubscriptionInput{Events: listp("crm.deal.*"), Mode: strp(gancho.ModeNotify)})
	owner := func(o string) func(*gancho.EventInput) { return func(in *gancho.EventInput) { in.OwnerID = &o } }
	ctxt := func(c string) func(*gancho.EventInput) { return func(in *gancho.EventInput) { in.Context = &c } }
	callback := func(in *gancho.EventInput) { in.CallbackURL = strp("http://127.0.0.1:9/cb") }
	cases := []struct {
		name string
		make func(i int) gancho.Event
	}{
		{"no owner", func(i int) gancho.Event { return e.event("crm.lead.created", i) }},
		{"owner o1", func(i int) gancho.Event { return e.event("crm.lead.created", i, owner("o1")) }},
		{"owner o2", func(i int) gancho.Event { return e.event("crm.lead.created", i, owner("o2")) }},
		{"broadcast", func(i int) gancho.Event { return e.event("crm.lead.created", i, owner("*")) }},
		{"context", func(i int) gancho.Event { return e.event("crm.lead.created", i, ctxt("sign")) }},
		{"other context", func(i int) gancho.Event { return e.event("crm.lead.created", i, ctxt("other")) }},
		{"callback", func(i int) gancho.Event { return e.event("crm.lead.created", i, callback) }},
		{"nothing", func(i int) gancho.Event { return e.event("billing.paid", i) }},
		{"notify", func(i int) gancho.Event { return e.event("crm.deal.won", i) }},
		{"notify again", func(i int) gancho.Event { return e.event("crm.deal.lost", i) }}, // coalesced
	}
	deliveredTo := func(ev gancho.Event) []string {
		ds, _, err := e.st.ListDeliveries(e.ctx, e.tenant, false, ev.ID, gancho.DeliveryFilter{}, gancho.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var subs []string
		for _, d := range ds {
			subs = append(subs, d.SubscriptionID)
		}
		slices.Sort(subs)
		return subs
	}
	var single, batched []gancho.Event
	for i, c := range cases {
		res, err := e.pub.Publish(e.ctx, c.make(i), "", "")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		single = append(single, res.Event)
	}
	// The notice ends, so the batch's first notify event gets one again.
	noticeOf := gancho.DeliveryID(single[len(single)-2].ID, notify.ID)
	if err := e.st.SettleNotice(e.ctx, e.tenant, notify.ID, noticeOf, nil); err != nil {
		t.Fatal(err)
	}
	var items []publish.BatchItem
	for i, c := range cases {
		items = append(items, publish.BatchItem{Event: c.make(100 + i)})
	}
	for i, o := range e.pub.PublishBatch(e.ctx, items) {
		if o.Err != nil {
			t.Fatalf("%s: %v", cases[i].name, o.Err)
		}
		batched = append(batched, o.Result.Event)
	}
	for i, c := range cases {
		want, got := deliveredTo(single[i]), deliveredTo(batched[i])
		if !slices.Equal(want, got) || single[i].DeliveryCount != batched[i].DeliveryCount {
			t.Errorf("%s: the batch delivered to %v (count %d), a single publish to %v (count %d)",
				c.name, got, batched[i].DeliveryCount, want, single[i].DeliveryCount)
		}
	}
}

// TestPublishBatchIdempotency: keys work across batch and single publishes, within a
// batch, and conflict on another request.
func TestPublishBatchIdempotency(t *testing.T) {
	e := newBatchEnv(t)
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	key := func(k string) string { return publish.ScopedKey("key_test", "", k+e.tenant) }
	single, err := e.pub.Publish(e.ctx, e.event("order.created", 0), key("a"), "hash-a")
	if err != nil {
		t.Fatal(err)
	}
	items := []publish.BatchItem{
		{Event: e.event("order.created", 1), Key: key("a"), Hash: "hash-a"}, // replays the single publish
		{Event: e.event("order.created", 2), Key: key("b"), Hash: "hash-b"}, // new
		{Event: e.event("order.created", 3), Key: key("b"), Hash: "hash-b"}, // same as item 1
		{Event: e.event("order.created", 4), Key: key("a"), Hash: "other"},  // conflict
		{Event: e.event("order.created", 5)},                                // no key
		{Event: e.event("order.created", 6), Key: key("c"), Hash: "hash-c"}, // new
	}
	out := e.pub.PublishBatch(e.ctx, items)
	check := func(i int, wantID string, replayed bool) {
		t.Helper()
		if o := out[i]; o.Err != nil || o.Result.Event.ID != wantID || o.Result.Replayed != replayed {
			t.Errorf("item %d: %s replayed=%v, %v; want %s replayed=%v", i, o.Result.Event.ID, o.Result.Replayed, o.Err, wantID, replayed)
		}
	}
	check(0, single.Event.ID, true)
	check(1, items[1].Event.ID, false)
	check(2, items[1].Event.ID, true)
	if !errors.Is(out[3].Err, publish.ErrKeyReused) {
		t.Errorf("item 3: %v; want ErrKeyReused", out[3].Err)
	}
	check(4, items[4].Event.ID, false)
	check(5, items[5].Event.ID, false)

	// A single publish and another batch replay what the batch published.
	again, err := e.pub.Publish(e.ctx, e.event("order.created", 7), key("b"), "hash-b")
	if err != nil || again.Event.ID != items[1].Event.ID || !again.Replayed {
		t.Errorf("single publish with key b: %s replayed=%v, %v; want %s replayed", again.Event.ID, again.Replayed, err, items[1].Event.ID)
	}
	out = e.pub.PublishBatch(e.ctx, []publish.BatchItem{
		{Event: e.event("order.created", 8), Key: key("c"), Hash: "hash-c"},
		{Event: e.event("order.created", 9), Key: key("b"), Hash: "hash-b"},
	})
	check(0, items[5].Event.ID, true)
	check(1, items[1].Event.ID, true)
	if out[0].Result.Deliveries != 1 {
		t.Errorf("a replay reports %d deliveries; want the first publish's 1", out[0].Result.Deliveries)
	}
}

// failingStore fails chosen batch writes.
type failingStore struct {
	storetest.Store
	failEvents  bool
	failFanOuts bool
	failMarks   bool
}

func (f *failingStore) MarkEventsQueued(ctx context.Context, evs []gancho.Event, at time.Time, dests [][]gancho.Destination) []error {
	if f.failMarks {
		return slices.Repeat([]error{errInjected}, len(evs))
	}
	return f.Store.MarkEventsQueued(ctx, evs, at, dests)
}

var errInjected = errors.New("injected failure")

func (f *failingStore) PutEvents(ctx context.Context, evs []gancho.Event, keyed []bool) []error {
	if f.failEvents {
		return slices.Repeat([]error{errInjected}, len(evs))
	}
	return f.Store.PutEvents(ctx, evs, keyed)
}

func (f *failingStore) PutFanOuts(ctx context.Context, ws []gancho.FanOutWrite) []error {
	if f.failFanOuts {
		return slices.Repeat([]error{errInjected}, len(ws))
	}
	return f.Store.PutFanOuts(ctx, ws)
}

// TestPublishBatchCrashSafety: an event stored whose deliveries could not be written
// stays in the outbox, and the sweeper's repair delivers it; an event that could not
// be stored gives its key up, so a retry publishes it under the same id.
func TestPublishBatchCrashSafety(t *testing.T) {
	e := newBatchEnv(t)
	sub := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})

	t.Run("stored first, not marked queued", func(t *testing.T) {
		// Events too large to travel in their messages are stored in the outbox
		// before their deliveries are queued.
		pub := publish.New(&failingStore{Store: e.st, failMarks: true}, e.q, time.Now)
		big := func(n int) gancho.Event {
			ev := e.event("order.created", n)
			ev.Payload = json.RawMessage(fmt.Sprintf(`{"n":%d,"pad":%q}`, n, strings.Repeat("x", 20*1024)))
			return ev
		}
		items := []publish.BatchItem{{Event: big(1)}, {Event: big(2)}}
		for i, o := range pub.PublishBatch(e.ctx, items) {
			if !errors.Is(o.Err, errInjected) {
				t.Fatalf("item %d: %v; want the injected failure", i, o.Err)
			}
		}
		pending, err := e.st.PendingEvents(e.ctx, time.Now().Add(time.Minute), 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if !slices.ContainsFunc(pending, func(ev gancho.Event) bool { return ev.ID == it.Event.ID }) {
				t.Fatalf("event %s is stored but not in the outbox: nothing would deliver it", it.Event.ID)
			}
			// The sweeper's repair.
			if n, err := e.pub.ResumeFanOut(e.ctx, e.tenant, it.Event.ID, true); err != nil || n != 1 {
				t.Fatalf("repair of %s: %d, %v", it.Event.ID, n, err)
			}
			if _, err := e.st.GetDelivery(e.ctx, e.tenant, gancho.DeliveryID(it.Event.ID, sub.ID)); err != nil {
				t.Errorf("after the repair, the delivery of %s: %v", it.Event.ID, err)
			}
		}
	})

	t.Run("event not stored", func(t *testing.T) {
		pub := publish.New(&failingStore{Store: e.st, failEvents: true}, e.q, time.Now)
		key := publish.ScopedKey("key_test", "", "crash-"+e.tenant)
		first := e.event("order.created", 3)
		out := pub.PublishBatch(e.ctx, []publish.BatchItem{{Event: first, Key: key, Hash: "h"}})
		if !errors.Is(out[0].Err, errInjected) {
			t.Fatalf("%v; want the injected failure", out[0].Err)
		}
		// At once, not after the takeover time: the key was given up.
		out = e.pub.PublishBatch(e.ctx, []publish.BatchItem{{Event: e.event("order.created", 3), Key: key, Hash: "h"}})
		if out[0].Err != nil || out[0].Result.Event.ID != first.ID || out[0].Result.Deliveries != 1 {
			t.Errorf("retry: %+v, %v; want event %s published under its first id", out[0].Result, out[0].Err, first.ID)
		}
	})
}

// stallingStore parks PutEvents until released, as a run that stalls (throttled, or a
// paused Lambda) between claiming its keys and storing its events.
type stallingStore struct {
	storetest.Store
	entered chan struct{}
	release chan struct{}
}

func (s *stallingStore) PutEvents(ctx context.Context, evs []gancho.Event, keyed []bool) []error {
	close(s.entered)
	<-s.release
	return s.Store.PutEvents(ctx, evs, keyed)
}

// TestPublishBatchStalledRunAfterTakeover: a run that stalls past the takeover time
// finds its event stored by the repeat that took its key over, and leaves that event
// and its deliveries alone (a 409 for the stalled run) instead of writing them again.
func TestPublishBatchStalledRunAfterTakeover(t *testing.T) {
	e := newBatchEnv(t)
	sub := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	key := publish.ScopedKey("key_test", "", "stall-"+e.tenant)
	stall := &stallingStore{Store: e.st, entered: make(chan struct{}), release: make(chan struct{})}
	stalled := publish.New(stall, e.q, time.Now)
	first := e.event("order.created", 1)
	done := make(chan []publish.BatchOutcome)
	go func() { done <- stalled.PublishBatch(e.ctx, []publish.BatchItem{{Event: first, Key: key, Hash: "h"}}) }()
	<-stall.entered

	// The repeat comes after the takeover time and finishes the publish.
	later := publish.New(e.st, e.q, func() time.Time { return time.Now().Add(time.Minute) })
	out := later.PublishBatch(e.ctx, []publish.BatchItem{{Event: e.event("order.created", 1), Key: key, Hash: "h"}})
	if out[0].Err != nil || out[0].Result.Event.ID != first.ID {
		t.Fatalf("repeat: %+v; want event %s published", out[0], first.ID)
	}
	d, err := e.st.GetDelivery(e.ctx, e.tenant, gancho.DeliveryID(first.ID, sub.ID))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDeliveryStatus(e.ctx, d, gancho.StatusDelivered); err != nil {
		t.Fatal(err)
	}

	close(stall.release)
	got := <-done
	var ge *gancho.Error
	if !errors.As(got[0].Err, &ge) || ge.Kind != gancho.KindConflict {
		t.Errorf("stalled run: %+v; want a conflict (the repeat published the event)", got[0])
	}
	if d, err := e.st.GetDelivery(e.ctx, e.tenant, d.ID); err != nil || d.Status != gancho.StatusDelivered {
		t.Errorf("the delivery after the stalled run: %+v, %v; want it still delivered", d, err)
	}
	pending, err := e.st.PendingEvents(e.ctx, time.Now().Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(pending, func(ev gancho.Event) bool { return ev.ID == first.ID }) {
		t.Errorf("event %s is back in the outbox", first.ID)
	}
}

// TestPublishBatchKeepsOrderPastTheInlineLimit: once an event's fan-out goes to the
// background, a later event of the batch is not queued inline ahead of it.
func TestPublishBatchKeepsOrderPastTheInlineLimit(t *testing.T) {
	e := newBatchEnv(t)
	ordered := true
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*"), Ordered: &ordered})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.created")})
	e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.created")})
	ref := func(in *gancho.EventInput) { in.Reference = &gancho.Reference{ID: "r-1"} }
	pub := publish.New(e.st, e.q, time.Now).WithBatchInlineFanOut(2)
	out := pub.PublishBatch(e.ctx, []publish.BatchItem{
		{Event: e.event("order.created", 1, ref)}, // 3 deliveries: over the batch's inline budget
		{Event: e.event("order.paid", 2, ref)},    // 1 delivery: would fit, but must not overtake
	})
	for i, o := range out {
		if o.Err != nil || !o.Result.Background {
			t.Errorf("item %d: %+v; want its fan-out in the background", i, o)
		}
	}
}
