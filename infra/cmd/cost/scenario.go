package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gancho-dev/gancho/infra/costmeter"
	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/seal"
)

// stack is where a scenario runs: counting proxies in front of the emulators.
type stack struct {
	RepoRoot string
	Meter    *costmeter.Meter
	// DynamoURL and SQSURL are the proxies' endpoints.
	DynamoURL, SQSURL string
	Log               *slog.Logger
}

// scenario is one run: Subs subscriptions matching every event, Events events.
type scenario struct {
	Subs, Events int
	PayloadBytes int
	Concurrency  int // publishes in flight at once
	Timeout      time.Duration
	// Quiet publishes one event at a time with the consumer running, each after the
	// last one's deliveries landed: the consumer gets small batches, as on a quiet
	// queue. Publish and consumer sides are then counted together (as Consumer).
	Quiet bool
	// Batch, when over 0, publishes the events in POST /v1/events/batch requests of
	// up to Batch events each instead of one POST /v1/events each.
	Batch int
}

// result is what one scenario counted. The publish side is everything from the
// publish requests; the consumer side everything the delivery worker did after
// (fan-out beyond the inline limit, the deliveries, their records).
type result struct {
	Subs, Events, Deliveries int
	Publish, Consumer        costmeter.Usage
	// Retries are receiver requests that were not a first attempt (0 expected).
	Retries int64
	// PublishLatency is the mean time of a publish request, locally.
	PublishLatency time.Duration
	// Elapsed is the time from the first publish until the last delivery settled.
	Elapsed time.Duration
	// Quiet says the run was a quiet-queue one (see scenario.Quiet).
	Quiet bool
	// Batch is scenario.Batch; Requests the publish requests made (one per event, or
	// one per batch).
	Batch, Requests int
}

// run brings Gancho up on st with its own tables and queues, creates the
// subscriptions, warms the caches with one event, then publishes sc.Events events
// with the consumer stopped (the publish side alone), starts the consumer and waits
// until every delivery has landed and every queued message is handled.
func run(ctx context.Context, st stack, sc scenario) (res result, err error) {
	ctx, cancel := context.WithTimeout(ctx, sc.Timeout)
	defer cancel()
	env := map[string]string{
		"AWS_ENDPOINT_URL_DYNAMODB": st.DynamoURL,
		"AWS_ENDPOINT_URL_SQS":      st.SQSURL,
		"GANCHO_ENCRYPTION_KEYS":    seal.NewKey("cost"),
	}
	d, err := devstack.Start(ctx, devstack.Options{
		RepoRoot:  st.RepoRoot,
		Addr:      "127.0.0.1:0",
		StackName: fmt.Sprintf("cost-%d-%d", sc.Subs, time.Now().UnixNano()%1e9),
		Log:       st.Log,
		Getenv:    func(k string) string { return env[k] },
		NoWorker:  true,
		// The sweeper runs once a minute whatever the traffic: a fixed cost, kept
		// out of the per-delivery figures.
		SweepEvery: 24 * time.Hour,
	})
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, d.Stop()) }()

	rcv, err := startReceiver()
	if err != nil {
		return res, err
	}
	defer rcv.close()
	api := apiClient{base: d.URL, key: d.APIKey}
	if err := api.do(ctx, "PUT", "/v1/event-types/order.created", map[string]any{"description": "cost benchmark"}, 200, 201); err != nil {
		return res, err
	}
	if err := parallel(ctx, sc.Subs, 4, func(int) error {
		return api.do(ctx, "POST", "/v1/subscriptions", map[string]any{"name": "cost", "url": rcv.url, "events": []string{"order.*"}}, 201)
	}); err != nil {
		return res, fmt.Errorf("create subscriptions: %w", err)
	}
	payload := map[string]any{"orderId": 0, "note": strings.Repeat("x", max(sc.PayloadBytes-30, 0))}
	publish := func(i int) error {
		payload := map[string]any{"orderId": i, "note": payload["note"]}
		return api.do(ctx, "POST", "/v1/events", map[string]any{"type": "order.created", "payload": payload}, 202)
	}

	publishBatch := func(first int) error {
		var evs []map[string]any
		for i := first; i < min(first+sc.Batch, sc.Events); i++ {
			evs = append(evs, map[string]any{"type": "order.created", "payload": map[string]any{"orderId": i, "note": payload["note"]}})
		}
		return api.do(ctx, "POST", "/v1/events/batch", map[string]any{"events": evs}, 202)
	}

	// Warm up: tenant, key, catalog and subscription caches, SDK connections.
	consumer := startConsumer(ctx, d.Worker, st.Log)
	start := st.Meter.Snapshot()
	if err := publish(-1); err != nil {
		return res, fmt.Errorf("warm-up publish: %w", err)
	}
	if err := settle(ctx, st.Meter, start, rcv, int64(sc.Subs)); err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	if sc.Quiet {
		return runQuiet(ctx, st, sc, rcv, consumer, publish)
	}
	consumer.stop()

	before := st.Meter.Snapshot()
	landed := rcv.count.Load()
	t0 := time.Now()
	var latency atomic.Int64
	requests, send := sc.Events, publish
	if sc.Batch > 0 {
		requests = (sc.Events + sc.Batch - 1) / sc.Batch
		send = func(i int) error { return publishBatch(i * sc.Batch) }
	}
	if err := parallel(ctx, requests, sc.Concurrency, func(i int) error {
		s := time.Now()
		err := send(i)
		latency.Add(int64(time.Since(s)))
		return err
	}); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	if err := waitUntil(ctx, func() bool { return st.Meter.InFlight() == 0 }); err != nil {
		return res, err
	}
	mid := st.Meter.Snapshot()

	consumer = startConsumer(ctx, d.Worker, st.Log)
	want := landed + int64(sc.Subs*sc.Events)
	if err := settle(ctx, st.Meter, before, rcv, want); err != nil {
		consumer.stop()
		return res, fmt.Errorf("deliveries: %d of %d landed: %w", rcv.count.Load()-landed, want-landed, err)
	}
	consumer.stop()
	res = result{
		Subs: sc.Subs, Events: sc.Events, Deliveries: sc.Subs * sc.Events,
		Publish:        mid.Sub(before),
		Consumer:       st.Meter.Snapshot().Sub(mid),
		Retries:        rcv.retries.Load(),
		PublishLatency: time.Duration(latency.Load() / int64(max(requests, 1))),
		Elapsed:        time.Since(t0),
		Batch:          sc.Batch, Requests: requests,
	}
	return res, nil
}

// runQuiet publishes sc.Events events one by one with the consumer running, each
// once the previous one's deliveries have landed and settled.
func runQuiet(ctx context.Context, st stack, sc scenario, rcv *receiver, c *consumer, publish func(int) error) (result, error) {
	defer c.stop()
	before := st.Meter.Snapshot()
	landed := rcv.count.Load()
	t0 := time.Now()
	var latency time.Duration
	for i := range sc.Events {
		s := time.Now()
		if err := publish(i); err != nil {
			return result{}, fmt.Errorf("publish: %w", err)
		}
		latency += time.Since(s)
		if err := settle(ctx, st.Meter, before, rcv, landed+int64(sc.Subs*(i+1))); err != nil {
			return result{}, fmt.Errorf("deliveries of event %d: %w", i, err)
		}
	}
	return result{
		Subs: sc.Subs, Events: sc.Events, Deliveries: sc.Subs * sc.Events, Quiet: true, Requests: sc.Events,
		Publish:        costmeter.Usage{},
		Consumer:       st.Meter.Snapshot().Sub(before),
		Retries:        rcv.retries.Load(),
		PublishLatency: latency / time.Duration(max(sc.Events, 1)),
		Elapsed:        time.Since(t0),
	}, nil
}

// settle waits until the receiver has seen want requests in all and every message
// queued since since has been handled and deleted. Messages are queued only by
// publishes (all returned) and by handlers (before they delete the message they
// handle), so sent == deleted means nothing is left to do; the DynamoDB count then
// holding still for a moment guards against a write after a delete.
func settle(ctx context.Context, m *costmeter.Meter, since costmeter.Usage, rcv *receiver, want int64) error {
	last := int64(-1)
	return waitUntil(ctx, func() bool {
		u := m.Snapshot().Sub(since)
		sent := u.SQS["SendMessage"].Messages + u.SQS["SendMessageBatch"].Messages
		deleted := u.SQS["DeleteMessage"].Messages + u.SQS["DeleteMessageBatch"].Messages
		calls := u.DynamoTotal().Calls
		done := rcv.count.Load() >= want && sent == deleted && calls == last
		last = calls
		return done
	})
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// consumer runs the delivery worker the way Lambda's event source mapping runs the
// consumer function, until stopped. It stops between polls, never in one: a receive
// cut short can leave the emulator holding messages for the queue's visibility
// timeout (6 minutes).
type consumer struct {
	stopped atomic.Bool
	done    sync.WaitGroup
	errs    atomic.Int64
}

// consumerPollers is the number of concurrent receive loops (the worker's default).
const consumerPollers = 4

func startConsumer(ctx context.Context, w *devstack.Worker, log *slog.Logger) *consumer {
	// Received as Lambda's event source mapping receives: with the queue's whole
	// visibility at once, without the local worker's extending call.
	w.ReceiveVisibility = -1
	c := &consumer{}
	for range consumerPollers {
		c.done.Add(1)
		go func() {
			defer c.done.Done()
			for !c.stopped.Load() && ctx.Err() == nil {
				if err := w.PollOnce(context.WithoutCancel(ctx), 1); err != nil {
					c.errs.Add(1)
					log.Warn("poll deliveries", "err", err)
				}
			}
		}()
	}
	return c
}

func (c *consumer) stop() { c.stopped.Store(true); c.done.Wait() }

// parallel runs f(0..n-1) with at most width at once and returns the first error.
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
		next atomic.Int64
	)
	for range max(width, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					errs = errors.Join(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs, ctx.Err())
}

// apiClient calls Gancho's API with the dev tenant's key.
type apiClient struct{ base, key string }

func (c apiClient) do(ctx context.Context, method, path string, body any, want ...int) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
}

// receiver is a webhook endpoint on loopback that answers 200 to everything.
type receiver struct {
	url     string
	count   atomic.Int64
	retries atomic.Int64
	srv     *http.Server
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{url: "http://" + ln.Addr().String() + "/hook"}
	r.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		if a := req.Header.Get("X-Gancho-Attempt"); a != "" && a != "1" {
			r.retries.Add(1)
		}
		r.count.Add(1)
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) close() { _ = r.srv.Close() }
