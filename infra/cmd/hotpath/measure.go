package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/infra/lambdatest"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/signature"
)

// batchSize is the number of SQS records per invocation (template.yaml's BatchSize).
const batchSize = 10

// sample is one timed run of one series.
type sample struct {
	Deliveries int
	Batches    int
	Again      int // messages received more than once (a receive whose answer was lost)
	Elapsed    time.Duration
	CPU        time.Duration // of this process: sender and receiver; not the emulators
}

func (s sample) rate() float64 { return float64(s.Deliveries) / s.Elapsed.Seconds() }

func (s sample) cpuPerDelivery() time.Duration { return s.CPU / time.Duration(s.Deliveries) }

// report is every sample of every series, one per round.
type report struct {
	Bare, Memory, Emulated []sample
}

// measure runs every series once per round against one receiver.
func measure(ctx context.Context, o options) (report, error) {
	var r report
	recv := newReceiver()
	defer recv.Close()
	sub, err := newSubscription(gancho.NewID(gancho.PrefixTenant, time.Now()), recv.URL+"/hooks/:id")
	if err != nil {
		return r, err
	}
	bare, err := newBareLoop(sub, recv)
	if err != nil {
		return r, err
	}
	mem := newMemoryConsumer(sub, recv)
	emu, err := newEmulatedConsumer(ctx, recv)
	if err != nil {
		return r, err
	}
	defer emu.close()
	for round := range o.rounds {
		fmt.Fprintf(os.Stderr, "hotpath: round %d of %d: bare loop and in-memory consumer, %d deliveries each; through the emulators, %d...\n",
			round+1, o.rounds, o.deliveries, o.emulated)
		s, err := bare.run(o.deliveries)
		if err != nil {
			return r, fmt.Errorf("bare loop: %w", err)
		}
		r.Bare = append(r.Bare, s)
		if s, err = mem.run(ctx, o.deliveries); err != nil {
			return r, fmt.Errorf("in-memory consumer: %w", err)
		}
		r.Memory = append(r.Memory, s)
		if s, err = emu.run(ctx, o.emulated); err != nil {
			return r, fmt.Errorf("consumer through the emulators: %w", err)
		}
		r.Emulated = append(r.Emulated, s)
	}
	return r, nil
}

// timed runs batches of batchSize until n deliveries are done and measures them.
func timed(n int, batch func(first, size int) error) (sample, error) {
	cpu0, t0 := processCPU(), time.Now()
	s := sample{Deliveries: n}
	for done := 0; done < n; done += batchSize {
		if err := batch(done, min(batchSize, n-done)); err != nil {
			return s, err
		}
		s.Batches++
	}
	s.Elapsed, s.CPU = time.Since(t0), processCPU()-cpu0
	return s, nil
}

// receiver answers every webhook with 200, as a healthy receiver does, on loopback.
type receiver struct {
	*httptest.Server
	hits atomic.Int64
}

func newReceiver() *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	return r
}

// expect checks that the receiver got want requests since from.
func (r *receiver) expect(from int64, want int) error {
	if got := r.hits.Load() - from; got != int64(want) {
		return fmt.Errorf("the receiver got %d requests, want %d", got, want)
	}
	return nil
}

// newSubscription is a subscription as the API creates it by default, to url.
func newSubscription(tenant, url string) (gancho.Subscription, error) {
	name, events := "hot path", []string{"*"}
	sub, err := gancho.NewSubscription(gancho.SubscriptionInput{Name: &name, URL: &url, Events: &events},
		gancho.TargetPolicy{AllowInsecure: true})
	if err != nil {
		return sub, err
	}
	now := time.Now().UTC()
	sub.ID, sub.TenantID, sub.Secret, sub.CreatedAt, sub.UpdatedAt = gancho.NewID(gancho.PrefixSubscription, now), tenant, gancho.NewSecret(), now, now
	return sub, nil
}

// payload is an order of about 1 KiB, the size of a typical event.
func payload() json.RawMessage {
	lines := make([]map[string]any, 0, 6)
	for i := range 6 {
		lines = append(lines, map[string]any{"sku": fmt.Sprintf("SKU-%06d", i), "description": "Item number " + strconv.Itoa(i),
			"quantity": i + 1, "price": 10.5 + float64(i), "currency": "EUR"})
	}
	b, _ := json.Marshal(map[string]any{
		"orderId": "ord_7f3k9q2m4x8v1c6b5n0z", "customerId": "cus_1001", "status": "paid", "total": 987.65, "lines": lines,
		"address": map[string]any{"line1": "Rua Augusta 120", "city": "Lisboa", "postalCode": "1100-053", "country": "PT"},
		"comment": strings.Repeat("-", 64),
	})
	return b
}

// newDelivery is event i and its pending delivery to sub, and the message naming it.
func newDelivery(sub gancho.Subscription, i int, data json.RawMessage) (gancho.Event, gancho.Delivery, queue.Message) {
	now := time.Now().UTC()
	ref := "ord-" + strconv.Itoa(i)
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: sub.TenantID, Type: "order.paid", CreatedAt: now,
		Subject: ref, Reference: &gancho.Reference{Type: "order", ID: ref}, Payload: data}
	d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, sub.ID), TenantID: sub.TenantID, EventID: ev.ID, SubscriptionID: sub.ID,
		EventType: ev.Type, Status: gancho.StatusPending, CreatedAt: now, UpdatedAt: now}
	m := queue.Message{TenantID: sub.TenantID, DeliveryID: d.ID, EventID: ev.ID, SubscriptionID: sub.ID, Attempt: 1}
	return ev, d, m
}

// quietLogger logs as the deployed consumer does (JSON, info level), to nowhere.
func quietLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// --- the bare loop ------------------------------------------------------------------

// bareLoop sends what the consumer sends for one delivery (the same body and headers,
// the same client, batchSize at once) and does nothing else.
type bareLoop struct {
	recv    *receiver
	client  *http.Client
	url     string
	body    []byte
	headers [][2]string
}

func newBareLoop(sub gancho.Subscription, recv *receiver) (*bareLoop, error) {
	ev, d, _ := newDelivery(sub, 0, payload())
	body, err := deliver.Body(sub, ev)
	if err != nil {
		return nil, err
	}
	key, err := signature.ParseSecret(sub.Secret)
	if err != nil {
		return nil, err
	}
	ts := time.Now().Unix()
	url, err := deliver.TargetURL(sub.URL, ev.Subject)
	if err != nil {
		return nil, err
	}
	return &bareLoop{recv: recv, client: outbound.NewClient(outbound.Options{AllowPrivate: true}), url: url, body: body,
		headers: [][2]string{
			{"Content-Type", "application/json"}, {"User-Agent", "Gancho/" + gancho.Version},
			{"webhook-id", d.ID}, {"webhook-timestamp", strconv.FormatInt(ts, 10)},
			{"webhook-signature", signature.Header([]signature.Key{key}, d.ID, ts, body)},
			{"X-Gancho-Event", ev.ID}, {"X-Gancho-Attempt", "1"},
		}}, nil
}

func (b *bareLoop) post() error {
	req, err := http.NewRequest(http.MethodPost, b.url, bytes.NewReader(b.body))
	if err != nil {
		return err
	}
	for _, h := range b.headers {
		req.Header.Set(h[0], h[1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func (b *bareLoop) batch(_, n int) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = b.post() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (b *bareLoop) run(n int) (sample, error) {
	if err := b.batch(0, batchSize); err != nil { // warm the connection pool
		return sample{}, err
	}
	from := b.recv.hits.Load()
	s, err := timed(n, b.batch)
	if err != nil {
		return s, err
	}
	return s, b.recv.expect(from, n)
}

// --- the consumer with an in-memory store -------------------------------------------

// memoryConsumer runs the consumer on a store that keeps batchSize deliveries in
// memory and never changes them, so the same messages deliver again and again.
type memoryConsumer struct {
	recv    *receiver
	store   *memStore
	handler *deliver.Handler
	records []events.SQSMessage
}

func newMemoryConsumer(sub gancho.Subscription, recv *receiver) *memoryConsumer {
	st := &memStore{sub: sub, deliveries: map[string]gancho.Delivery{}, events: map[string]gancho.Event{}}
	c := &memoryConsumer{recv: recv, store: st}
	data := payload()
	for i := range batchSize {
		ev, d, m := newDelivery(sub, i, data)
		st.deliveries[d.ID], st.events[ev.ID] = d, ev
		body, _ := json.Marshal(m)
		c.records = append(c.records, events.SQSMessage{MessageId: "m-" + strconv.Itoa(i), Body: string(body), EventSource: "aws:sqs",
			Attributes: map[string]string{"ApproximateReceiveCount": "1"}})
	}
	c.handler = deliver.NewHandler(st, discardQueue{}, outbound.NewClient(outbound.Options{AllowPrivate: true}), quietLogger())
	return c
}

func (c *memoryConsumer) batch(ctx context.Context, n int) error {
	res, err := c.handler.Handle(ctx, events.SQSEvent{Records: c.records[:n]})
	if err != nil {
		return err
	}
	if len(res.BatchItemFailures) > 0 {
		return fmt.Errorf("%d messages of the batch failed", len(res.BatchItemFailures))
	}
	return nil
}

func (c *memoryConsumer) run(ctx context.Context, n int) (sample, error) {
	if err := c.batch(ctx, batchSize); err != nil { // warm the connection pool
		return sample{}, err
	}
	from, attempts := c.recv.hits.Load(), c.store.attempts.Load()
	s, err := timed(n, func(_, size int) error { return c.batch(ctx, size) })
	if err != nil {
		return s, err
	}
	if got := c.store.attempts.Load() - attempts; got != int64(n) {
		return s, fmt.Errorf("%d attempts recorded, want %d", got, n)
	}
	return s, c.recv.expect(from, n)
}

// memStore is the consumer's store in memory, for one subscription. Attempts are
// counted, records never change.
type memStore struct {
	sub        gancho.Subscription
	deliveries map[string]gancho.Delivery // read-only once built
	events     map[string]gancho.Event
	attempts   atomic.Int64
}

func (s *memStore) LoadDeliveryBatch(_ context.Context, refs []dynamo.DeliveryRef) (dynamo.DeliveryBatch, error) {
	b := dynamo.DeliveryBatch{Deliveries: make(map[string]gancho.Delivery, len(refs)), Events: make(map[string]gancho.Event, len(refs)),
		Subscriptions: map[string]gancho.Subscription{s.sub.ID: s.sub}}
	for _, r := range refs {
		if d, ok := s.deliveries[r.DeliveryID]; ok {
			b.Deliveries[d.ID] = d
		}
		if ev, ok := s.events[r.EventID]; ok {
			b.Events[ev.ID] = ev
		}
	}
	return b, nil
}

func (s *memStore) RecordAttempt(context.Context, gancho.Delivery, gancho.Attempt, string, *time.Time, bool) error {
	s.attempts.Add(1)
	return nil
}

func (s *memStore) SetDeliveryStatus(context.Context, gancho.Delivery, string) error { return nil }

func (s *memStore) RecordSubscriptionOutcome(context.Context, string, string, dynamo.Outcome) error {
	return nil
}

func (s *memStore) DisableSubscription(context.Context, gancho.Subscription, string, time.Time) error {
	return nil
}

func (s *memStore) GetTenant(_ context.Context, id string) (gancho.Tenant, error) {
	return gancho.Tenant{ID: id, Name: "hot path"}, nil
}

// TakeRateToken: the measured subscription has no rate limit, so this is never asked.
func (s *memStore) TakeRateToken(context.Context, string, string, time.Time) (int64, error) {
	return 1, nil
}

// SettleNotice: the measured subscription pushes; there is no notice to settle.
func (s *memStore) SettleNotice(context.Context, string, string, string, *time.Time) error {
	return nil
}

func (s *memStore) ClaimNotice(context.Context, string, string, string, time.Time) (bool, error) {
	return false, nil
}

// discardQueue is the consumer's queue when nothing is retried.
type discardQueue struct{}

func (discardQueue) Send(context.Context, []queue.Message, time.Duration) error { return nil }
func (discardQueue) SendDeadLetter(context.Context, []queue.Message) error      { return nil }
func (discardQueue) Hold(context.Context, string, time.Duration) error          { return nil }

// --- the consumer through the emulators ---------------------------------------------

// emulatedConsumer runs the consumer as Lambda's event source mapping does, on a queue
// of its own: receive up to ten messages from the SQS emulator, hand them to the
// handler, whose store is DynamoDB Local, and delete them.
type emulatedConsumer struct {
	recv     *receiver
	clients  config.Clients
	sub      gancho.Subscription
	queueURL string
	worker   *devstack.Worker
	batches  atomic.Int64
	again    atomic.Int64
}

func newEmulatedConsumer(ctx context.Context, recv *receiver) (*emulatedConsumer, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("the stack's environment: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	clients, err := cfg.NewClients(cctx)
	if err != nil {
		return nil, err
	}
	c := &emulatedConsumer{recv: recv, clients: clients}
	// A queue of its own: other consumers of the stack's queue (tests running at the
	// same time) must not take these messages.
	name := lambdatest.StackName() + "-hotpath-" + randomHex(4)
	out, err := clients.SQS.CreateQueue(cctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	c.queueURL = *out.QueueUrl

	now := time.Now().UTC()
	tenant := gancho.Tenant{ID: gancho.NewID(gancho.PrefixTenant, now), Name: "hot path", CreatedAt: now}
	key := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: tenant.ID, Name: "hot path", Scopes: gancho.AllTenantScopes, CreatedAt: now}
	if err := clients.Store.CreateTenant(cctx, tenant, key, auth.HashKey(auth.NewAPIKey())); err != nil {
		c.close()
		return nil, fmt.Errorf("create the tenant: %w", err)
	}
	if c.sub, err = newSubscription(tenant.ID, recv.URL+"/hooks/:id"); err != nil {
		c.close()
		return nil, err
	}
	if err := clients.Store.CreateSubscription(cctx, c.sub); err != nil {
		c.close()
		return nil, fmt.Errorf("create the subscription: %w", err)
	}
	q := queue.New(clients.SQS, c.queueURL, cfg.DLQURL, cfg.OrderedURL)
	h := deliver.NewHandler(clients.Store, q, outbound.NewClient(outbound.Options{AllowPrivate: true}), quietLogger())
	c.worker = &devstack.Worker{SQS: clients.SQS, QueueURL: c.queueURL, QueueARN: "arn:aws:sqs:us-east-1:123456789012:" + name,
		// A receive whose answer is lost (the emulator drops a connection now and then)
		// leaves its messages hidden until the visibility timeout: keep it short, as
		// a batch takes a fraction of a second here.
		Log: quietLogger(), Timeout: time.Minute, Visibility: visibility,
		Handle: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			c.batches.Add(1)
			for _, rec := range ev.Records {
				if n, _ := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"]); n > 1 {
					c.again.Add(1)
				}
			}
			return h.Handle(ctx, ev)
		}}
	return c, nil
}

func (c *emulatedConsumer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.clients.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: &c.queueURL})
}

// seed writes n events (from a few writers at once) and returns the messages of their
// deliveries.
func (c *emulatedConsumer) seed(ctx context.Context, n int) ([]queue.Message, error) {
	data := payload()
	msgs := make([]queue.Message, n)
	work := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				ev, d, m := newDelivery(c.sub, i, data)
				// As a publish stores it: queued, listing its destination; the
				// message carries the event, as a publish's does when it fits.
				at := ev.CreatedAt
				ev.QueuedAt, ev.DeliveryCount = &at, 1
				ev.Destinations = []gancho.Destination{{SubscriptionID: d.SubscriptionID, OwnerID: d.OwnerID}}
				if queue.Embeddable(ev) {
					carried := ev
					m.Event = &carried
				}
				if err := c.clients.Store.CreateEvent(ctx, ev); err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				msgs[i] = m
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, fmt.Errorf("write the deliveries: %w", err)
	default:
	}
	return msgs, nil
}

// visibility hides received messages from other receives; stall is how long drain
// waits for a delivery before it gives up, longer than visibility.
const (
	visibility = 10 * time.Second
	stall      = 4 * visibility
)

// drain polls until the receiver got want more requests than from.
func (c *emulatedConsumer) drain(ctx context.Context, from int64, want int) error {
	last, progress := c.recv.hits.Load(), time.Now()
	for c.recv.hits.Load()-from < int64(want) {
		if err := c.worker.PollOnce(ctx, 1); err != nil {
			return err
		}
		if got := c.recv.hits.Load(); got != last {
			last, progress = got, time.Now()
		} else if time.Since(progress) > stall {
			return fmt.Errorf("no delivery for %s: %d of %d delivered", stall, got-from, want)
		}
	}
	return c.recv.expect(from, want)
}

func (c *emulatedConsumer) run(ctx context.Context, n int) (sample, error) {
	msgs, err := c.seed(ctx, n+batchSize)
	if err != nil {
		return sample{}, err
	}
	q := queue.New(c.clients.SQS, c.queueURL, "", "")
	// One batch first: connections and the tenant cache warm, as on a busy function.
	from := c.recv.hits.Load()
	if err := q.Send(ctx, msgs[:batchSize], 0); err != nil {
		return sample{}, err
	}
	if err := c.drain(ctx, from, batchSize); err != nil {
		return sample{}, fmt.Errorf("warm-up: %w", err)
	}
	if err := q.Send(ctx, msgs[batchSize:], 0); err != nil {
		return sample{}, err
	}
	from, batches, again := c.recv.hits.Load(), c.batches.Load(), c.again.Load()
	cpu0, t0 := processCPU(), time.Now()
	if err := c.drain(ctx, from, n); err != nil {
		return sample{}, err
	}
	return sample{Deliveries: n, Batches: int(c.batches.Load() - batches), Again: int(c.again.Load() - again),
		Elapsed: time.Since(t0), CPU: processCPU() - cpu0}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
