package devstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// requestLifecycle is a legal-data request's lifecycle: a cached response, a fresh
// one, then the completion, which must come last.
var requestLifecycle = []string{"request.response_cached", "request.response_fresh", "request.completed"}

// orderedReceiver fails the first attempt of the message of type failType and records
// what it accepted, in order, with headers and bodies.
type orderedReceiver struct {
	mu       sync.Mutex
	failType string
	failed   bool
	accepted []string
	headers  []http.Header
	bodies   [][]byte
}

func newOrderedReceiver(t *testing.T, failType string) (*orderedReceiver, string) {
	o := &orderedReceiver{failType: failType}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var env struct {
			Type      string `json:"type"`
			Reference struct {
				ID string `json:"id"`
			} `json:"reference"`
		}
		_ = json.Unmarshal(body, &env)
		o.mu.Lock()
		defer o.mu.Unlock()
		if env.Type == o.failType && env.Reference.ID == "ec545a1e" && !o.failed {
			o.failed = true
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		o.accepted = append(o.accepted, env.Reference.ID+"/"+env.Type)
		o.headers = append(o.headers, r.Header.Clone())
		o.bodies = append(o.bodies, body)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return o, srv.URL
}

func (o *orderedReceiver) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		o.mu.Lock()
		got := append([]string(nil), o.accepted...)
		o.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("accepted %v, want %d messages", got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// only keeps the entries of one reference.
func only(got []string, ref string) []string {
	var out []string
	for _, g := range got {
		if len(g) > len(ref) && g[:len(ref)+1] == ref+"/" {
			out = append(out, g[len(ref)+1:])
		}
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// That lifecycle, published in a burst to an ordered subscription whose
// receiver fails the first attempt of the second message, arrives in publish order;
// another reference is not held back.
func TestOrderedSubscriptionKeepsPublishOrder(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	registerEventTypes(t, c, requestLifecycle...)
	rcv, url := newOrderedReceiver(t, requestLifecycle[1])
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "events": []string{"request.*"}, "ordered": true, "retrySchedule": []int{2, 2}}, nil)
	publish := func(typ, ref string, extra map[string]any) {
		body := map[string]any{"type": typ, "payload": map[string]any{"code": 600}, "reference": map[string]any{"type": "request", "id": ref}}
		for k, v := range extra {
			body[k] = v
		}
		if code := c.do("POST", "/v1/events", body, nil); code != 202 {
			t.Fatalf("publish %s: %d", typ, code)
		}
	}
	for _, typ := range requestLifecycle {
		publish(typ, "ec545a1e", nil)
	}
	publish(requestLifecycle[0], "other", nil)
	got := rcv.wait(t, 4)
	if ours := only(got, "ec545a1e"); !equal(ours, requestLifecycle) {
		t.Fatalf("reference ec545a1e arrived as %v, want %v", ours, requestLifecycle)
	}
	if got[0] != "ec545a1e/"+requestLifecycle[0] && got[0] != "other/"+requestLifecycle[0] {
		t.Fatalf("first accepted %v", got)
	}
	// The other reference was not held behind the failing message.
	if got[len(got)-1] == "other/"+requestLifecycle[0] {
		t.Errorf("the other reference waited for the failing one: %v", got)
	}
}

// A per-request callbackUrl: the events go to that URL, not to the subscriptions, in
// publish order, signed with the tenant's default secret.
func TestCallbackURLDeliveredInOrderWithTenantSecret(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	registerEventTypes(t, c, requestLifecycle...)
	rcv, url := newOrderedReceiver(t, requestLifecycle[1])
	other, otherURL := newReceiver(t, http.StatusOK)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": otherURL, "events": []string{"request.*"}}, nil)
	for _, typ := range requestLifecycle {
		body := map[string]any{"type": typ, "payload": map[string]any{"code": 600},
			"reference": map[string]any{"type": "request", "id": "ec545a1e"}, "callbackUrl": url + "/callback"}
		if code := c.do("POST", "/v1/events", body, nil); code != 202 {
			t.Fatalf("publish %s: %d", typ, code)
		}
	}
	if got := only(rcv.wait(t, 3), "ec545a1e"); !equal(got, requestLifecycle) {
		t.Fatalf("callback accepted %v, want %v", got, requestLifecycle)
	}
	var sec struct{ Secret string }
	if code := c.do("GET", "/v1/tenant/secret", nil, &sec); code != 200 {
		t.Fatalf("tenant secret: %d", code)
	}
	wh, err := standardwebhooks.NewWebhook(sec.Secret)
	if err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i := range rcv.bodies {
		if err := wh.Verify(rcv.bodies[i], rcv.headers[i]); err != nil {
			t.Errorf("callback %d does not verify with the tenant secret: %v", i, err)
		}
	}
	waitQuiet(t, d, 20*time.Second)
	if n := len(other.wait(t, 0, 0)); n != 0 {
		t.Fatalf("a subscription received %d callback events", n)
	}
}
