package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// startDev runs the whole local system on the emulators `make test` started, with its
// own tables and queues.
func startDev(t testing.TB, tune ...func(*devstack.Options)) *devstack.Dev {
	t.Helper()
	testenv.Config(t) // skip or fail like every integration test
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := devstack.Options{
		RepoRoot:  root,
		Addr:      "127.0.0.1:0",
		StackName: "e2e-" + strings.ToLower(testenv.TenantID()[4:16]),
		Log:       testenv.Logger(t),
		Getenv:    os.Getenv,
	}
	for _, f := range tune {
		f(&opts)
	}
	d, err := devstack.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if d.Emulators != nil {
		t.Log("started private emulators: AWS_ENDPOINT_URL_* not set")
	}
	registerEventTypes(t, client{t: t, base: d.URL, key: d.APIKey}, "order.created", "invoice.paid")
	return d
}

// registerEventTypes adds the types the tests publish to the dev tenant's catalog.
func registerEventTypes(t testing.TB, c client, names ...string) {
	t.Helper()
	for _, name := range names {
		if code := c.do("PUT", "/v1/event-types/"+name, map[string]any{"description": "e2e"}, nil); code != 201 && code != 200 {
			t.Fatalf("PUT event type %s: %d", name, code)
		}
	}
}

type client struct {
	t    testing.TB
	base string
	key  string
}

func (c client) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// received is one request a test receiver got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver answers with the given statuses in turn (the last one repeats) and records
// every request.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []received
	arrived  chan struct{}
}

func newReceiver(t *testing.T, statuses ...int) (*receiver, string) {
	r := &receiver{statuses: statuses, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		n := len(r.got)
		r.got = append(r.got, received{header: req.Header.Clone(), body: body, at: time.Now()})
		status := r.statuses[min(n, len(r.statuses)-1)]
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(http.StatusText(status)))
		r.arrived <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *receiver) wait(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	deadline := time.After(within)
	for {
		r.mu.Lock()
		got := append([]received(nil), r.got...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %s", len(got), n, within)
		}
	}
}

// waitDelivery polls the API until the delivery reaches a final status.
func waitDelivery(t *testing.T, c client, id string, within time.Duration) gancho.Delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var d gancho.Delivery
		if code := c.do("GET", "/v1/deliveries/"+id, nil, &d); code != 200 {
			t.Fatalf("GET delivery: %d", code)
		}
		if gancho.Final(d.Status) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s still %s after %s", id, d.Status, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEndToEndSignedDelivery(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)

	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": url + "/hooks", "events": []string{"order.*"}}, &sub); code != 201 {
		t.Fatalf("create subscription: %d", code)
	}
	if !strings.HasPrefix(sub.Secret, "whsec_") {
		t.Fatalf("secret %q", sub.Secret)
	}
	var pub struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	sent := time.Now()
	if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"orderId": 42}, "subject": "o-42"}, &pub); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	if pub.Deliveries != 1 {
		t.Fatalf("deliveries queued = %d, want 1", pub.Deliveries)
	}
	got := rcv.wait(t, 1, 20*time.Second)[0]
	t.Logf("publish to receive: %s", got.at.Sub(sent).Round(time.Millisecond))

	// The official Standard Webhooks library verifies what arrived.
	wh, err := standardwebhooks.NewWebhook(sub.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got.body, got.header); err != nil {
		t.Fatalf("official library rejects the signature: %v", err)
	}
	dlvID := got.header.Get("webhook-id")
	if !strings.HasPrefix(dlvID, gancho.PrefixDelivery) {
		t.Fatalf("webhook-id %q", dlvID)
	}
	for name, want := range map[string]string{
		"X-Gancho-Event": pub.ID, "X-Gancho-Attempt": "1", "Content-Type": "application/json",
		"User-Agent": "Gancho/" + gancho.Version,
	} {
		if v := got.header.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	var env map[string]any
	if err := json.Unmarshal(got.body, &env); err != nil {
		t.Fatal(err)
	}
	if env["id"] != pub.ID || env["type"] != "order.created" || env["subject"] != "o-42" || env["data"].(map[string]any)["orderId"] != 42.0 {
		t.Errorf("envelope = %v", env)
	}

	dl := waitDelivery(t, c, dlvID, 10*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 1 || dl.Attempts[0].StatusCode != 200 {
		t.Fatalf("delivery = %+v", dl)
	}
	after := waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return s.LastStatusCode == 200 })
	if after.LastSuccessAt == nil || after.Secret != "" {
		t.Errorf("subscription status block = %+v", after.Status)
	}
}

// waitSubscription polls a subscription until ok holds: its status block is written
// once per batch, just after the batch's deliveries.
func waitSubscription(t *testing.T, c client, id string, ok func(gancho.Subscription) bool) gancho.Subscription {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var s gancho.Subscription
		if code := c.do("GET", "/v1/subscriptions/"+id, nil, &s); code != 200 {
			t.Fatalf("GET subscription: %d", code)
		}
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscription %s: status block still %+v", id, s.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEndToEndRetriesThenDelivers(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, 500, 503, 200)
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1, 1, 1}}, &sub)
	c.do("POST", "/v1/events", map[string]any{"type": "invoice.paid", "payload": map[string]any{}}, nil)

	got := rcv.wait(t, 3, 30*time.Second)
	id := got[0].header.Get("webhook-id")
	for i, r := range got {
		if r.header.Get("webhook-id") != id {
			t.Errorf("attempt %d has webhook-id %s, want the same id %s on every retry", i+1, r.header.Get("webhook-id"), id)
		}
		if r.header.Get("X-Gancho-Attempt") != []string{"1", "2", "3"}[i] {
			t.Errorf("attempt %d X-Gancho-Attempt = %s", i+1, r.header.Get("X-Gancho-Attempt"))
		}
	}
	dl := waitDelivery(t, c, id, 10*time.Second)
	var codes []int
	for _, a := range dl.Attempts {
		codes = append(codes, a.StatusCode)
	}
	if dl.Status != gancho.StatusDelivered || len(codes) != 3 || codes[0] != 500 || codes[1] != 503 || codes[2] != 200 {
		t.Fatalf("delivery %s with attempts %v", dl.Status, codes)
	}
	after := waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return s.LastStatusCode == 200 })
	if after.ConsecutiveFailures != 0 || after.FailingSince != nil {
		t.Errorf("status block after recovery = %+v", after.Status)
	}
}

func TestEndToEndExhaustedGoesToDeadLetterQueue(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, 500)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1, 1}}, nil)
	c.do("POST", "/v1/events", map[string]any{"type": "invoice.paid", "payload": map[string]any{}}, nil)

	got := rcv.wait(t, 3, 30*time.Second)
	id := got[0].header.Get("webhook-id")
	dl := waitDelivery(t, c, id, 10*time.Second)
	if dl.Status != gancho.StatusFailed || len(dl.Attempts) != 3 {
		t.Fatalf("delivery %s after %d attempts, want failed after 3", dl.Status, len(dl.Attempts))
	}
	waitQuiet(t, d, 20*time.Second)
	if n := len(rcv.wait(t, 0, 0)); n != 3 {
		t.Errorf("receiver got %d requests after the delivery failed, want 3", n)
	}
	res, err := d.App.Clients.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: &d.Config.DLQURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 1 {
		t.Fatalf("dead-letter queue holds %d messages, want 1", len(res.Messages))
	}
	m, err := queue.Decode(*res.Messages[0].Body)
	if err != nil || m.DeliveryID != id {
		t.Fatalf("dead letter = %+v, %v; want delivery %s", m, err, id)
	}
}
