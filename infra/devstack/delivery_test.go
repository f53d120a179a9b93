package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// misbehaving answers each request with the next behaviour (the last repeats).
type misbehaving struct {
	mu    sync.Mutex
	steps []func(w http.ResponseWriter, r *http.Request)
	times []time.Time
	hdrs  []http.Header
	kinds []string // each request's event type (the envelope's "type")
}

func newMisbehaving(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) (*misbehaving, string) {
	m := &misbehaving{steps: steps}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		n := len(m.times)
		m.times = append(m.times, time.Now())
		m.hdrs = append(m.hdrs, r.Header.Clone())
		var env struct {
			Type string `json:"type"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &env)
		r.Body = io.NopCloser(bytes.NewReader(body))
		m.kinds = append(m.kinds, env.Type)
		step := m.steps[min(n, len(m.steps)-1)]
		m.mu.Unlock()
		step(w, r)
	}))
	t.Cleanup(srv.Close)
	return m, srv.URL
}

func (m *misbehaving) types() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.kinds...)
}

func (m *misbehaving) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.times)
}

func status(code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// firstDelivery publishes one event and returns the id of its only delivery.
func firstDelivery(t *testing.T, c client, eventType string) string {
	t.Helper()
	var pub struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	if code := c.do("POST", "/v1/events", map[string]any{"type": eventType, "payload": map[string]any{"n": 1}}, &pub); code != 202 || pub.Deliveries != 1 {
		t.Fatalf("publish: %d, %d deliveries", code, pub.Deliveries)
	}
	var list struct {
		Data []gancho.Delivery `json:"data"`
	}
	if code := c.do("GET", "/v1/events/"+pub.ID+"/deliveries", nil, &list); code == 200 && len(list.Data) == 1 {
		return list.Data[0].ID
	}
	return gancho.DeliveryID(pub.ID, onlySubscription(t, c))
}

func onlySubscription(t *testing.T, c client) string {
	var l struct {
		Data []gancho.Subscription `json:"data"`
	}
	c.do("GET", "/v1/subscriptions", nil, &l)
	if len(l.Data) != 1 {
		t.Fatalf("%d subscriptions", len(l.Data))
	}
	return l.Data[0].ID
}

func TestReceiverTimeoutThenSuccess(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}, status(204))
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "timeoutSeconds": 1, "retrySchedule": []int{1}}, nil)
	dl := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 2 || dl.Attempts[0].Error != "timeout" ||
		dl.Attempts[0].StatusCode != 0 || dl.Attempts[1].StatusCode != 204 || dl.Attempts[0].DurationMs < 900 {
		t.Fatalf("delivery = %+v", dl)
	}
	if rcv.count() != 2 {
		t.Fatalf("receiver got %d requests", rcv.count())
	}
}

func TestConnectionResetThenSuccess(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	_, url := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tcp, ok := conn.(*net.TCPConn); ok {
				_ = tcp.SetLinger(0) // RST instead of FIN
			}
			conn.Close()
		}
	}, status(200))
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1}}, nil)
	dl := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 2 || dl.Attempts[0].Error == "" || dl.Attempts[0].StatusCode != 0 {
		t.Fatalf("delivery = %+v", dl)
	}
}

func TestSlowAndHugeResponseBodies(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	_, url := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(strings.Repeat("a", 10<<10)))
		w.(http.Flusher).Flush()
		// Then trickle forever: the attempt must still end within its timeout.
		for i := 0; i < 100; i++ {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
				w.Write([]byte("b"))
				w.(http.Flusher).Flush()
			}
		}
	})
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "timeoutSeconds": 1, "retrySchedule": []int{1}}, nil)
	dl := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	a := dl.Attempts[0]
	// The receiver answered 200: the webhook landed, whatever its body does after.
	if dl.Status != gancho.StatusDelivered || a.StatusCode != 200 || len(a.Response) != 4<<10 || a.DurationMs > 3000 {
		t.Fatalf("delivery %s, attempt %+v (response %d bytes)", dl.Status, a.StatusCode, len(a.Response))
	}
}

func TestGoneDisablesSubscription(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newMisbehaving(t, status(http.StatusGone))
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1, 1}}, &sub)
	dl := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	if dl.Status != gancho.StatusFailed || len(dl.Attempts) != 1 || dl.Attempts[0].StatusCode != 410 {
		t.Fatalf("delivery = %+v", dl)
	}
	after := waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return !s.IsActive })
	if !strings.Contains(after.DisabledReason, "410") {
		t.Fatalf("disabledReason = %q", after.DisabledReason)
	}
	// The worker disabled it; a publishing process may still match it until its
	// match cache expires (the documented bound). Such a delivery ends cancelled,
	// never sent; once the bound has passed, publishing matches nothing.
	waitFor(t, dynamo.MatchCacheBound+5*time.Second, "publishing to match nothing", func() bool {
		var pub struct {
			ID         string
			Deliveries int
		}
		c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{}}, &pub)
		if pub.Deliveries > 0 {
			if dl := waitDelivery(t, c, gancho.DeliveryID(pub.ID, sub.ID), 20*time.Second); dl.Status != gancho.StatusCancelled {
				t.Fatalf("delivery to a disabled subscription = %s, want cancelled", dl.Status)
			}
		}
		return pub.Deliveries == 0
	})
	waitQuiet(t, d, 20*time.Second)
	if rcv.count() != 1 {
		t.Fatalf("after 410: receiver got %d requests, want 1", rcv.count())
	}
}

func TestRetryAfterOn429(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
	}, status(200))
	// Step 1 s; Retry-After 2 s is within [step, 2 x step], so the retry waits 2 s.
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1}}, nil)
	dl := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 2 || dl.Attempts[0].RetryAfterSeconds != 2 {
		t.Fatalf("delivery = %+v", dl)
	}
	if gap := rcv.times[1].Sub(rcv.times[0]); gap < 1900*time.Millisecond {
		t.Fatalf("retried after %s, want at least the 2 s Retry-After", gap)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	var metadataHit bool
	metadata := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { metadataHit = true }))
	t.Cleanup(metadata.Close)
	_, url := newMisbehaving(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, metadata.URL+"/latest/meta-data/", http.StatusFound)
	})
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1}}, nil)
	dl := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	if dl.Status != gancho.StatusFailed || len(dl.Attempts) != 2 || dl.Attempts[0].StatusCode != 302 || metadataHit {
		t.Fatalf("delivery = %+v, redirect target reached: %v", dl, metadataHit)
	}
}

func TestReceiverVerifiesBothSecretsAcrossRotation(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url}, &sub)
	var rot struct{ Secret string }
	if code := c.do("POST", "/v1/subscriptions/"+sub.ID+"/secret/rotate", nil, &rot); code != 200 {
		t.Fatalf("rotate: %d", code)
	}
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{}}, nil)
	got := rcv.wait(t, 1, 20*time.Second)[0]
	if n := len(strings.Fields(got.header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures, want 2 during the rotation", n)
	}
	for _, secret := range []string{sub.Secret, rot.Secret} {
		wh, _ := standardwebhooks.NewWebhook(secret)
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Errorf("receiver holding %s... rejects: %v", secret[:10], err)
		}
	}
}

func TestLongDelayIsParkedAndSweptBack(t *testing.T) {
	// Delays above 1 s count as "longer than the queue can hold" here, so a 2 s
	// step is parked in the store and re-queued by the sweeper.
	d := startDev(t, func(o *devstack.Options) {
		o.DeliverOptions = []deliver.Option{deliver.WithParkAfter(time.Second)}
		o.SweepEvery = 200 * time.Millisecond
	})
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newMisbehaving(t, status(500), status(200))
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{3}}, nil)
	id := firstDelivery(t, c, "order.created")
	// While parked: retrying, with its due time, and no message on the queue.
	deadline := time.Now().Add(10 * time.Second)
	for rcv.count() < 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var parked gancho.Delivery
	for time.Now().Before(deadline) {
		c.do("GET", "/v1/deliveries/"+id, nil, &parked)
		if len(parked.Attempts) == 1 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if parked.Status != gancho.StatusRetrying || parked.NextAttemptAt == nil {
		t.Fatalf("parked delivery = %+v", parked)
	}
	attrs, err := d.App.Clients.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: &d.Config.QueueURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	if n := attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)]; n != "0" {
		t.Fatalf("%s delayed messages: a parked delivery must not wait on the queue", n)
	}
	dl := waitDelivery(t, c, id, 20*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 2 {
		t.Fatalf("delivery = %+v", dl)
	}
	if gap := dl.Attempts[1].At.Sub(dl.Attempts[0].At); gap < 2*time.Second {
		t.Fatalf("second attempt after %s, want the parked 3 s (+-20 %%)", gap)
	}
}

// A consumer that dies after queueing the next attempt but before deleting the
// current message sees that message again: it must not record the attempt twice.
func TestRedeliveredMessageDoesNotCountTwice(t *testing.T) {
	d := startDev(t, func(o *devstack.Options) { o.NoWorker = true })
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newMisbehaving(t, status(500), status(500), status(200))
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1, 1}}, nil)
	id := firstDelivery(t, c, "order.created")

	res, err := d.App.Clients.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: &d.Config.QueueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 5})
	if err != nil || len(res.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(res.Messages))
	}
	msg := events.SQSEvent{Records: []events.SQSMessage{{MessageId: aws.ToString(res.Messages[0].MessageId), Body: aws.ToString(res.Messages[0].Body)}}}
	for i := 0; i < 2; i++ { // the second call is the redelivery after the "crash"
		out, err := d.App.Deliver.Handle(context.Background(), msg)
		if err != nil || len(out.BatchItemFailures) != 0 {
			t.Fatalf("handle %d: %v %+v", i, err, out)
		}
	}
	var mid gancho.Delivery
	c.do("GET", "/v1/deliveries/"+id, nil, &mid)
	if len(mid.Attempts) != 1 || rcv.count() != 1 {
		t.Fatalf("after a redelivered message: %d attempts recorded, receiver got %d", len(mid.Attempts), rcv.count())
	}
	// Let the worker drain the queue (with the duplicate attempt-2 message).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Worker.Run(ctx)
	dl := waitDelivery(t, c, id, 20*time.Second)
	var numbers []int
	for _, a := range dl.Attempts {
		numbers = append(numbers, a.Number)
	}
	// The duplicated attempt-2 message may reach two consumers at once: both call the
	// receiver (at-least-once), but only one attempt 2 is recorded, and the numbers
	// stay 1, 2, ... without a gap or a repeat.
	for i, n := range numbers {
		if n != i+1 {
			t.Fatalf("attempt numbers %v: repeated or skipped", numbers)
		}
	}
	if dl.Status != gancho.StatusDelivered || len(numbers) < 2 || len(numbers) > 3 {
		t.Fatalf("delivery %s with attempt numbers %v, want delivered after 2 or 3 attempts", dl.Status, numbers)
	}
}

// An event type's retry schedule replaces the subscription's for deliveries of that
// type: the subscription would wait an hour, the type says a second. Events of other
// types keep the subscription's schedule.
func TestEventTypeRetryScheduleReplacesTheSubscriptions(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	if code := c.do("PUT", "/v1/event-types/invoice.paid", map[string]any{"retrySchedule": []int{1, 1}}, nil); code != 201 && code != 200 {
		t.Fatalf("PUT event type: %d", code)
	}
	rcv, url := newMisbehaving(t, status(500), status(200), status(500))
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{3600}}, &sub)
	var pub struct {
		ID            string
		RetrySchedule []int
	}
	if code := c.do("POST", "/v1/events", map[string]any{"type": "invoice.paid", "payload": map[string]any{"n": 1}}, &pub); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	dl := waitDelivery(t, c, gancho.DeliveryID(pub.ID, sub.ID), 20*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 2 || rcv.count() != 2 {
		t.Fatalf("delivery %s after %d attempts (receiver saw %d), want delivered on the type's 1 s retry", dl.Status, len(dl.Attempts), rcv.count())
	}
	var ev gancho.Event
	c.do("GET", "/v1/events/"+pub.ID, nil, &ev)
	if !slices.Equal(ev.RetrySchedule, []int{1, 1}) {
		t.Fatalf("event shows retrySchedule %v", ev.RetrySchedule)
	}
	// Another type: it fails once and waits the subscription's hour (+-20 %).
	other := firstDeliveryOf(t, c, sub.ID)
	var got gancho.Delivery
	waitFor(t, 20*time.Second, "the order's first attempt", func() bool {
		c.do("GET", "/v1/deliveries/"+other, nil, &got)
		return len(got.Attempts) == 1
	})
	if got.Status != gancho.StatusRetrying || got.NextAttemptAt == nil || time.Until(*got.NextAttemptAt) < 40*time.Minute {
		t.Fatalf("order.created delivery = %s, next attempt at %v; want a retry in about an hour", got.Status, got.NextAttemptAt)
	}
}

// Operational events end to end: a subscription to gancho.* hears that another
// subscription's delivery failed for good and that a 410 disabled it; the failing
// subscription itself, and one to a plain "*", never get them.
func TestOperationalEvents(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}

	type heard struct {
		Type string `json:"type"`
		Data struct {
			SubscriptionID string `json:"subscriptionId"`
			DeliveryID     string `json:"deliveryId"`
			Reason         string `json:"reason"`
		} `json:"data"`
	}
	var mu sync.Mutex
	var ops []heard
	opsSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h heard
		_ = json.NewDecoder(r.Body).Decode(&h)
		mu.Lock()
		ops = append(ops, h)
		mu.Unlock()
	}))
	t.Cleanup(opsSrv.Close)
	heardOf := func(typ string) []heard {
		mu.Lock()
		defer mu.Unlock()
		var out []heard
		for _, h := range ops {
			if h.Type == typ {
				out = append(out, h)
			}
		}
		return out
	}
	var opsSub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": opsSrv.URL, "events": []string{"gancho.*"}}, &opsSub); code != 201 {
		t.Fatalf("subscribe to gancho.*: %d", code)
	}
	everything, everythingURL := newMisbehaving(t, status(200))
	c.do("POST", "/v1/subscriptions", map[string]any{"url": everythingURL, "events": []string{"*"}}, nil)

	// One failure, then 410: the first delivery fails for good (schedule of one
	// retry, both answered 500), the second gets 410 and disables the subscription.
	failing, url := newMisbehaving(t, status(500), status(500), status(http.StatusGone))
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "events": []string{"order.*"}, "retrySchedule": []int{1}}, &sub)
	var pub struct{ ID string }
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"n": 1}}, &pub)
	first := waitDelivery(t, c, gancho.DeliveryID(pub.ID, sub.ID), 20*time.Second)
	if first.Status != gancho.StatusFailed {
		t.Fatalf("first delivery %s", first.Status)
	}
	waitFor(t, 20*time.Second, "gancho.delivery.failed", func() bool { return len(heardOf(gancho.TypeDeliveryFailed)) > 0 })
	if h := heardOf(gancho.TypeDeliveryFailed)[0]; h.Data.DeliveryID != first.ID || h.Data.SubscriptionID != sub.ID {
		t.Fatalf("delivery.failed = %+v", h)
	}
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"n": 2}}, &pub)
	waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return !s.IsActive })
	waitFor(t, 20*time.Second, "gancho.subscription.disabled", func() bool { return len(heardOf(gancho.TypeSubscriptionDisabled)) > 0 })
	if h := heardOf(gancho.TypeSubscriptionDisabled)[0]; h.Data.SubscriptionID != sub.ID || !strings.Contains(h.Data.Reason, "410") {
		t.Fatalf("subscription.disabled = %+v", h)
	}

	waitQuiet(t, d, 20*time.Second)
	for _, r := range []*misbehaving{failing, everything} {
		for _, typ := range r.types() {
			if gancho.IsOperational(typ) {
				t.Fatalf("a subscription that did not ask for operational events got %s", typ)
			}
		}
	}
	if n := len(heardOf(gancho.TypeDeliveryFailed)); n != 2 {
		// The 410 also ends the second delivery failed; each once.
		t.Fatalf("delivery.failed heard %d times, want 2 (one per failed delivery)", n)
	}
	// They cannot be published.
	if code := c.do("POST", "/v1/events", map[string]any{"type": gancho.TypeSubscriptionDisabled, "payload": map[string]any{}}, nil); code != 422 {
		t.Fatalf("publishing an operational event: %d", code)
	}
}
