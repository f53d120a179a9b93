package deliver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/signature"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// benchStore is the benchmarks' Store: the records never change, so the same
// messages can be delivered again and again; attempts are only counted. (The handler's
// tests use the in-memory store, package memstore: see store_test.go.)
type benchStore struct {
	deliveries map[string]gancho.Delivery
	events     map[string]gancho.Event
	subs       map[string]gancho.Subscription
	attempts   atomic.Int64 // RecordAttempt calls
}

func newBenchStore() *benchStore {
	return &benchStore{deliveries: map[string]gancho.Delivery{}, events: map[string]gancho.Event{},
		subs: map[string]gancho.Subscription{}}
}

func (s *benchStore) LoadDeliveryBatch(_ context.Context, refs []gancho.DeliveryRef) (gancho.DeliveryBatch, error) {
	b := gancho.DeliveryBatch{Deliveries: make(map[string]gancho.Delivery, len(refs)),
		Events: make(map[string]gancho.Event, len(refs)), Subscriptions: map[string]gancho.Subscription{}}
	for _, r := range refs {
		if d, ok := s.deliveries[r.DeliveryID]; ok && d.TenantID == r.TenantID {
			b.Deliveries[d.ID] = d
		}
		if ev, ok := s.events[r.EventID]; ok && ev.TenantID == r.TenantID {
			b.Events[ev.ID] = ev
		}
		if sub, ok := s.subs[r.SubscriptionID]; ok && sub.TenantID == r.TenantID {
			b.Subscriptions[sub.ID] = sub
		}
	}
	return b, nil
}

func (s *benchStore) RecordAttempt(context.Context, gancho.Delivery, gancho.Attempt, string, *time.Time, bool) error {
	s.attempts.Add(1)
	return nil
}

func (s *benchStore) SetDeliveryStatus(context.Context, gancho.Delivery, string) error { return nil }

func (s *benchStore) RecordSubscriptionOutcome(context.Context, string, string, gancho.Outcome) error {
	return nil
}

func (s *benchStore) DisableSubscription(context.Context, gancho.Subscription, string, time.Time) error {
	return nil
}

func (s *benchStore) GetTenant(_ context.Context, id string) (gancho.Tenant, error) {
	return gancho.Tenant{ID: id, Name: "bench"}, nil
}

// TakeRateToken: the benchmarked subscriptions have no rate limit.
func (s *benchStore) TakeRateToken(context.Context, string, string, time.Time) (int64, error) {
	return 1, nil
}

// SettleNotice: the benchmarks push; there is no notice to settle.
func (s *benchStore) SettleNotice(context.Context, string, string, string, *time.Time) error {
	return nil
}

func (s *benchStore) ClaimNotice(context.Context, string, string, string, time.Time) (bool, error) {
	return false, nil
}

// sentMessage is one message a memQueue was given.
type sentMessage struct {
	msg   queue.Message
	delay time.Duration
}

// memQueue is an in-memory Queue.
type memQueue struct {
	mu      sync.Mutex
	sent    []sentMessage
	dead    []queue.Message
	held    map[string]time.Duration // receipt handle -> hold
	sendErr error
}

func (q *memQueue) Hold(_ context.Context, receiptHandle string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.held == nil {
		q.held = map[string]time.Duration{}
	}
	q.held[receiptHandle] = d
	return nil
}

func (q *memQueue) Send(_ context.Context, msgs []queue.Message, delay time.Duration) error {
	if q.sendErr != nil {
		return q.sendErr
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.sent = append(q.sent, sentMessage{m, delay})
	}
	return nil
}

func (q *memQueue) SendDeadLetter(_ context.Context, msgs []queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = append(q.dead, msgs...)
	return nil
}

// take returns and forgets what was sent so far.
func (q *memQueue) take() []sentMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.sent
	q.sent = nil
	return out
}

// benchPayload is a realistic event payload of about 1 KiB.
func benchPayload() json.RawMessage {
	items := make([]map[string]any, 0, 6)
	for i := range 6 {
		items = append(items, map[string]any{"sku": fmt.Sprintf("SKU-%06d", i), "name": "Widget model " + strconv.Itoa(i),
			"quantity": i + 1, "unitPrice": 19.9 + float64(i), "currency": "BRL"})
	}
	b, _ := json.Marshal(map[string]any{
		"orderId": "ord_01hzy8k2v3m4n5p6q7r8s9t0u1", "customerId": "cus_4242", "status": "confirmed",
		"total": 1234.56, "items": items,
		"shipping": map[string]any{"street": "Avenida Paulista 1578", "city": "Sao Paulo", "state": "SP",
			"postalCode": "01310-200", "country": "BR"},
		"notes": strings.Repeat("x", 64),
	})
	return b
}

// benchFixture is n deliveries of n events to one subscription.
type benchFixture struct {
	sub    gancho.Subscription
	events []gancho.Event
	dels   []gancho.Delivery
	msgs   []events.SQSMessage // one SQS record per delivery, attempt 1
}

// newBenchSub is a subscription as the API creates it by default, to url.
func newBenchSub(tenant, url string) gancho.Subscription {
	now := time.Now().UTC()
	return gancho.Subscription{
		ID: gancho.NewID(gancho.PrefixSubscription, now), TenantID: tenant, Name: "bench", URL: url,
		Method: http.MethodPost, Events: []string{"*"}, Headers: map[string]string{}, Auth: gancho.Auth{Type: gancho.AuthNone},
		Mode: gancho.ModePush, Format: "envelope", IsActive: true, TimeoutSeconds: 10, RetrySchedule: []int{5, 300},
		Secret: gancho.NewSecret(), CreatedAt: now, UpdatedAt: now,
	}
}

func newBenchFixture(sub gancho.Subscription, n int) benchFixture {
	now := time.Now().UTC()
	f := benchFixture{sub: sub}
	payload := benchPayload()
	for i := range n {
		ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: sub.TenantID, Type: "order.created",
			CreatedAt: now, OwnerID: "office-42", Subject: "ord-" + strconv.Itoa(i),
			Reference: &gancho.Reference{Type: "order", ID: "ord-" + strconv.Itoa(i)}, Payload: payload}
		d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, sub.ID), TenantID: sub.TenantID, EventID: ev.ID,
			SubscriptionID: sub.ID, EventType: ev.Type, Status: gancho.StatusPending, CreatedAt: now, UpdatedAt: now}
		body, _ := json.Marshal(queue.Message{TenantID: sub.TenantID, DeliveryID: d.ID, EventID: ev.ID, SubscriptionID: sub.ID, Attempt: 1})
		f.events = append(f.events, ev)
		f.dels = append(f.dels, d)
		f.msgs = append(f.msgs, events.SQSMessage{MessageId: "m-" + strconv.Itoa(i), Body: string(body), EventSource: "aws:sqs"})
	}
	return f
}

// benchReceiver answers every webhook with 200, as a healthy receiver does.
func benchReceiver(b *testing.B) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	}))
	b.Cleanup(srv.Close)
	return srv, &hits
}

// benchBatch is the number of SQS records per invocation (the event source's batch size).
const benchBatch = 10

// cpuTime is the process's user + system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs b.N deliveries in batches of benchBatch (the last one may be short),
// calling batch with the first index and the size of each, and reports deliveries/s
// and the CPU time of the whole process (sender and receiver) per delivery.
func measure(b *testing.B, batch func(first, n int)) {
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for done := 0; done < b.N; done += benchBatch {
		batch(done, min(benchBatch, b.N-done))
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/delivery")
}

// benchLogger logs like the deployed consumer (JSON, info level), to nowhere.
func benchLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// BenchmarkDeliverHandler measures the deliver handler's throughput: Handle with
// batches of ten SQS records, each delivering a signed envelope (~1 KiB payload) to a
// local receiver answering 200. The Store and Queue are in-memory fakes, so the figure
// is Gancho's own per-delivery work (decode, batch bookkeeping, envelope, signature,
// request, attempt, outcome, logs) plus HTTP on loopback: compare it with
// BenchmarkBareHTTPClient, which sends requests of the same size with the same client
// and concurrency and does nothing else. BenchmarkDeliverHandlerEmulated adds
// DynamoDB Local.
func BenchmarkDeliverHandler(b *testing.B) {
	srv, hits := benchReceiver(b)
	f := newBenchFixture(newBenchSub("ten_bench", srv.URL+"/hooks/:id"), benchBatch)
	st := newBenchStore()
	st.subs[f.sub.ID] = f.sub
	for i := range f.dels {
		st.deliveries[f.dels[i].ID], st.events[f.events[i].ID] = f.dels[i], f.events[i]
	}
	h := deliver.NewHandler(st, &memQueue{}, outbound.NewClient(outbound.Options{AllowPrivate: true}), benchLogger())
	ctx := context.Background()
	run := func(n int) {
		res, err := h.Handle(ctx, events.SQSEvent{Records: f.msgs[:n]})
		if err != nil || len(res.BatchItemFailures) > 0 {
			b.Fatalf("batch failed: %v %+v", err, res.BatchItemFailures)
		}
	}
	run(benchBatch) // warm the connection pool
	hits.Store(0)
	st.attempts.Store(0)
	measure(b, func(_, n int) { run(n) })
	if int(hits.Load()) != b.N || int(st.attempts.Load()) != b.N {
		b.Fatalf("receiver got %d, attempts recorded %d, want %d", hits.Load(), st.attempts.Load(), b.N)
	}
}

// BenchmarkBareHTTPClient is the baseline for BenchmarkDeliverHandler: the same
// receiver, the same keep-alive client, ten concurrent POSTs per batch with a body and
// headers of the same size, and the response read the same way; nothing else.
func BenchmarkBareHTTPClient(b *testing.B) {
	srv, hits := benchReceiver(b)
	f := newBenchFixture(newBenchSub("ten_bench", srv.URL+"/hooks/:id"), 1)
	body, err := deliver.Body(f.sub, f.events[0])
	if err != nil {
		b.Fatal(err)
	}
	key, err := signature.ParseSecret(f.sub.Secret)
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Now().Unix()
	headers := [][2]string{
		{"Content-Type", "application/json"}, {"User-Agent", "Gancho/" + gancho.Version},
		{"webhook-id", f.dels[0].ID}, {"webhook-timestamp", strconv.FormatInt(ts, 10)},
		{"webhook-signature", signature.Header([]signature.Key{key}, f.dels[0].ID, ts, body)},
		{"X-Gancho-Event", f.events[0].ID}, {"X-Gancho-Attempt", "1"},
	}
	client := outbound.NewClient(outbound.Options{AllowPrivate: true})
	url := srv.URL + "/hooks/ord-0"
	ctx := context.Background()
	post := func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return
		}
		for _, h := range headers {
			req.Header.Set(h[0], h[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return
		}
		_, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("status %d", resp.StatusCode)
		}
	}
	var wg sync.WaitGroup
	run := func(n int) {
		for range n {
			wg.Go(post)
		}
		wg.Wait()
	}
	run(benchBatch)
	hits.Store(0)
	measure(b, func(_, n int) { run(n) })
	if int(hits.Load()) != b.N {
		b.Fatalf("receiver got %d, want %d", hits.Load(), b.N)
	}
}

// BenchmarkDeliverHandlerEmulated is BenchmarkDeliverHandler with the real store on
// DynamoDB Local (one BatchGetItem per batch, one conditional UpdateItem per attempt,
// one status-block update per batch): the end-to-end rate of one consumer on the
// emulators. Deliveries are written before the timer starts. Skipped without the
// integration environment (run it through infra/cmd/withstack).
func BenchmarkDeliverHandlerEmulated(b *testing.B) {
	_, c := testenv.Clients(b)
	srv, hits := benchReceiver(b)
	sub := newBenchSub(testenv.TenantID(), srv.URL+"/hooks/:id")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := c.Store.CreateSubscription(ctx, sub); err != nil {
		b.Fatal(err)
	}
	// Every run needs fresh deliveries (attempt 1 is recorded once): write b.N of them,
	// plus a warm-up batch, from a few writers at once.
	all := newBenchFixture(sub, b.N+benchBatch)
	work := make(chan int)
	var wg sync.WaitGroup
	var createErr atomic.Value
	for range 8 {
		wg.Go(func() {
			for i := range work {
				if err := c.Store.CreateEvent(ctx, testenv.Queued(all.events[i], all.dels[i])); err != nil {
					createErr.Store(err)
				}
			}
		})
	}
	for i := range all.dels {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, _ := createErr.Load().(error); err != nil {
		b.Fatal(err)
	}

	h := deliver.NewHandler(c.Store, c.Queue, outbound.NewClient(outbound.Options{AllowPrivate: true}), benchLogger())
	run := func(first, n int) {
		res, err := h.Handle(ctx, events.SQSEvent{Records: all.msgs[first : first+n]})
		if err != nil || len(res.BatchItemFailures) > 0 {
			b.Fatalf("batch failed: %v %+v", err, res.BatchItemFailures)
		}
	}
	run(b.N, benchBatch) // warm up with the extra batch at the end
	hits.Store(0)
	measure(b, run)
	if int(hits.Load()) != b.N {
		b.Fatalf("receiver got %d, want %d", hits.Load(), b.N)
	}
}
