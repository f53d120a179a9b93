package devstack_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// host records every request one receiver origin got.
type host struct {
	mu    sync.Mutex
	code  []int
	paths []string
	heads []http.Header
}

func newHost(t *testing.T, codes ...int) (*host, string) {
	h := &host{code: codes}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		n := len(h.paths)
		h.paths = append(h.paths, r.URL.Path)
		h.heads = append(h.heads, r.Header.Clone())
		code := h.code[min(n, len(h.code)-1)]
		h.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *host) seen() ([]string, []http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.paths...), append([]http.Header(nil), h.heads...)
}

// waitFor polls ok until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The exfiltration scenario of the API contract, "Write-only values follow the origin": a
// key holder PATCHes only the url of a subscription to a host of theirs, then asks
// for a test or a retry. The new host must never get the credentials stored for the
// old one.
func TestStoredCredentialsNeverReachAMovedURL(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	good, goodURL := newHost(t, 200)
	evil, evilURL := newHost(t, 200)
	old := []string{"header-credential-123", "static-credential-98765"}
	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": goodURL + "/hooks/:id",
		"headers": map[string]string{"Authorization": "Bearer header-credential-123"},
		"auth":    map[string]any{"type": "static", "header": "X-Api-Token", "value": "static-credential-98765"}}, &sub); code != 201 {
		t.Fatalf("create: %d", code)
	}
	path := "/v1/subscriptions/" + sub.ID

	// Before the move: a test reaches the good host, ":id" filled with "test".
	var first struct{ EventID, DeliveryID string }
	if code := c.do("POST", path+"/test", nil, &first); code != 202 {
		t.Fatalf("test: %d", code)
	}
	if dl := waitDelivery(t, c, first.DeliveryID, 20*time.Second); dl.Status != gancho.StatusDelivered {
		t.Fatalf("test delivery to the good host: %+v", dl)
	}
	paths, heads := good.seen()
	if len(paths) != 1 || paths[0] != "/hooks/test" || heads[0].Get("X-Api-Token") != "static-credential-98765" ||
		heads[0].Get("Authorization") != "Bearer header-credential-123" {
		t.Fatalf("good host got %v %v", paths, heads)
	}

	// The move without the credentials is refused, sent masked or not at all.
	for _, patch := range []map[string]any{
		{"url": evilURL + "/hooks"},
		{"url": evilURL + "/hooks", "auth": map[string]any{"value": "****8765"}, "headers": map[string]any{"Authorization": "****-123"}},
	} {
		if code := c.do("PATCH", path, patch, nil); code != 422 {
			t.Fatalf("PATCH url to another origin without the credentials: %d, want 422", code)
		}
	}
	if code := c.do("PUT", path, map[string]any{"url": evilURL + "/hooks", "headers": map[string]any{"Authorization": "****-123"},
		"auth": map[string]any{"type": "static", "header": "X-Api-Token", "value": "****8765"}}, nil); code != 422 {
		t.Fatalf("PUT url to another origin with masked credentials: %d, want 422", code)
	}
	// Nothing moved: a test and a retry still go to the good host only.
	var second struct{ EventID, DeliveryID string }
	c.do("POST", path+"/test", map[string]any{"subject": "s-2"}, &second)
	waitDelivery(t, c, second.DeliveryID, 20*time.Second)
	if code := c.do("POST", "/v1/deliveries/"+first.DeliveryID+"/retry", nil, nil); code != 202 {
		t.Fatalf("retry: %d", code)
	}
	waitFor(t, 20*time.Second, "the retry at the good host", func() bool { p, _ := good.seen(); return len(p) == 3 })

	// Moved with new credentials: the new host gets those, and a retry of a delivery
	// made before the move carries the new ones too, never the old.
	if code := c.do("PATCH", path, map[string]any{"url": evilURL + "/hooks/:id",
		"auth": map[string]any{"value": "new-credential-1111"}, "headers": map[string]any{"Authorization": "Bearer new-2222"}}, nil); code != 200 {
		t.Fatalf("PATCH with the credentials sent again: %d", code)
	}
	var third struct{ EventID, DeliveryID string }
	c.do("POST", path+"/test", nil, &third)
	waitDelivery(t, c, third.DeliveryID, 20*time.Second)
	if code := c.do("POST", "/v1/deliveries/"+first.DeliveryID+"/retry", nil, nil); code != 202 {
		t.Fatalf("retry after the move: %d", code)
	}
	waitFor(t, 20*time.Second, "the retry at the new host", func() bool { p, _ := evil.seen(); return len(p) == 2 })
	paths, heads = evil.seen()
	for i, h := range heads {
		for name, values := range h {
			for _, v := range values {
				for _, secret := range old {
					if strings.Contains(v, secret) {
						t.Errorf("the new host got the old credential in %s: %s", name, v)
					}
				}
			}
		}
		if h.Get("X-Api-Token") != "new-credential-1111" || h.Get("Authorization") != "Bearer new-2222" {
			t.Errorf("request %d to the new host (%s) lacks the new credentials: %v", i, paths[i], h)
		}
	}
	if p, _ := good.seen(); len(p) != 3 {
		t.Errorf("the good host got %d requests after the move, want none more", len(p)-3)
	}
}

// A test of a URL with ":id" and no subject fills it with "test"; a failing test
// never counts towards the subscription's failures (the API contract, "Smaller rules").
func TestSubscriptionTestNeverCounts(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newHost(t, 500)
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url + "/hooks/:id", "retrySchedule": []int{1}}, &sub)
	var sent struct{ EventID, DeliveryID string }
	if code := c.do("POST", "/v1/subscriptions/"+sub.ID+"/test", nil, &sent); code != 202 {
		t.Fatalf("test: %d", code)
	}
	dl := waitDelivery(t, c, sent.DeliveryID, 20*time.Second)
	if dl.Status != gancho.StatusFailed || len(dl.Attempts) != 2 || dl.Attempts[0].Error != "" || dl.Attempts[0].StatusCode != 500 {
		t.Fatalf("test delivery %+v, want two attempts answered 500", dl)
	}
	if paths, _ := rcv.seen(); len(paths) != 2 || paths[0] != "/hooks/test" {
		t.Fatalf("receiver got %v, want /hooks/test twice", paths)
	}
	var after gancho.Subscription
	c.do("GET", "/v1/subscriptions/"+sub.ID, nil, &after)
	if after.ConsecutiveFailures != 0 || after.FailingSince != nil || !after.IsActive || after.LastAttemptAt != nil {
		t.Fatalf("a failing test counted: %+v", after.Status)
	}
}

// POST /v1/deliveries/{id}/retry on a retrying delivery makes its next attempt now;
// the scheduled message, when it comes, does not send it again.
func TestRetryNowOfARetryingDelivery(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newHost(t, 500, 200)
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{4, 4}}, &sub)
	id := firstDeliveryOf(t, c, sub.ID)
	var dl gancho.Delivery
	waitFor(t, 20*time.Second, "the first attempt", func() bool {
		c.do("GET", "/v1/deliveries/"+id, nil, &dl)
		return dl.Status == gancho.StatusRetrying
	})
	var body gancho.Delivery
	if code := c.do("POST", "/v1/deliveries/"+id+"/retry", nil, &body); code != 202 {
		t.Fatalf("retry of a retrying delivery: %d", code)
	}
	if body.ID != id || body.EventID == "" || len(body.Attempts) < 1 {
		t.Fatalf("202 body is not the delivery: %+v", body)
	}
	if dl = waitDelivery(t, c, id, 20*time.Second); dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 2 ||
		dl.Attempts[1].At.Sub(dl.Attempts[0].At) >= 3*time.Second {
		t.Fatalf("after retry now: %+v, want delivered by a second attempt before the 4 s (-20 %%) schedule", dl)
	}
	// Wait for the queue to be empty: the scheduled attempt-2 message has come and gone.
	waitFor(t, 20*time.Second, "an empty queue", func() bool {
		out, err := d.App.Clients.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &d.Config.QueueURL,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed} {
			if out.Attributes[string(a)] != "0" {
				return false
			}
		}
		return true
	})
	if paths, _ := rcv.seen(); len(paths) != 2 {
		t.Fatalf("the receiver got %d requests, want 2 (the scheduled retry must not be sent as well)", len(paths))
	}
	c.do("GET", "/v1/deliveries/"+id, nil, &dl)
	if len(dl.Attempts) != 2 || dl.Status != gancho.StatusDelivered {
		t.Fatalf("final delivery %+v", dl)
	}
}
