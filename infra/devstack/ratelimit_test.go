package devstack_test

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// A subscription with rateLimitPerSecond 2 gets ten events at once: they arrive at
// most two per second (windows are calendar seconds, taken when the attempt starts,
// which is the webhook-timestamp the request carries), all ten arrive, and each
// delivery ends delivered after exactly one attempt: being held back is not a
// failed attempt.
func TestEndToEndRateLimit(t *testing.T) {
	const limit, events = 2, 10
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "events": []string{"order.*"}, "rateLimitPerSecond": limit}, &sub); code != 201 {
		t.Fatalf("create subscription: %d", code)
	}
	if sub.RateLimitPerSecond == nil || *sub.RateLimitPerSecond != limit {
		t.Fatalf("rateLimitPerSecond = %v", sub.RateLimitPerSecond)
	}
	published := map[string]bool{}
	start := time.Now()
	for i := range events {
		var pub struct {
			ID         string `json:"id"`
			Deliveries int    `json:"deliveries"`
		}
		if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"n": i}}, &pub); code != 202 || pub.Deliveries != 1 {
			t.Fatalf("publish %d: %d, %d deliveries", i, code, pub.Deliveries)
		}
		published[pub.ID] = true
	}

	got := rcv.wait(t, events, 60*time.Second)
	t.Logf("%d deliveries at %d/s: %s from the first publish to the last arrival", events, limit,
		got[len(got)-1].at.Sub(start).Round(time.Millisecond))

	perWindow := map[int64]int{}
	deliveries := map[string]bool{}
	for _, r := range got {
		ts, err := strconv.ParseInt(r.header.Get("webhook-timestamp"), 10, 64)
		if err != nil {
			t.Fatalf("webhook-timestamp %q", r.header.Get("webhook-timestamp"))
		}
		perWindow[ts]++
		// Each request lands in the second it was let through, or soon after it (the
		// token is taken, then the request sent: latency can cross a boundary).
		if late := r.at.Sub(time.Unix(ts, 0)); late < 0 || late >= 2*time.Second {
			t.Errorf("request of window %d arrived at %s", ts, r.at.Format(time.RFC3339Nano))
		}
		if a := r.header.Get("X-Gancho-Attempt"); a != "1" {
			t.Errorf("X-Gancho-Attempt = %s, want 1: a delayed delivery is not a new attempt", a)
		}
		if !published[r.header.Get("X-Gancho-Event")] {
			t.Errorf("unexpected event %s", r.header.Get("X-Gancho-Event"))
		}
		deliveries[r.header.Get("webhook-id")] = true
	}
	secs := slices.Sorted(maps.Keys(perWindow))
	spread := make([]int, 0, len(secs))
	for _, ts := range secs {
		spread = append(spread, perWindow[ts])
	}
	t.Logf("requests per second: %v", spread)
	for ts, n := range perWindow {
		if n > limit {
			t.Errorf("second %d saw %d requests, limit %d", ts, n, limit)
		}
	}
	if len(perWindow) < events/limit {
		t.Errorf("requests spread over %d seconds, want at least %d", len(perWindow), events/limit)
	}
	// Whatever the phase, fixed windows let at most 2 x limit through in any 1 s span.
	at := make([]time.Time, 0, len(got))
	for _, r := range got {
		at = append(at, r.at)
	}
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	for i := range at {
		j := i
		for j < len(at) && at[j].Sub(at[i]) < time.Second {
			j++
		}
		if j-i > 2*limit {
			t.Errorf("%d requests within one second from %s", j-i, at[i].Format(time.RFC3339Nano))
		}
	}
	if span := at[len(at)-1].Sub(at[0]); span <= time.Duration(events/limit-2)*time.Second {
		t.Errorf("ten requests within %s: not limited", span)
	}

	if len(deliveries) != events {
		t.Fatalf("%d distinct deliveries received, want %d", len(deliveries), events)
	}
	for id := range deliveries {
		dl := waitDelivery(t, c, id, 10*time.Second)
		if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 1 || dl.Attempts[0].StatusCode != 200 {
			t.Errorf("delivery %s: %s with %d attempts", id, dl.Status, len(dl.Attempts))
		}
	}
	waitQuiet(t, d, 20*time.Second)
	if n := len(rcv.wait(t, 0, 0)); n != events {
		t.Errorf("receiver got %d requests in the end, want %d: a delayed message was sent twice", n, events)
	}
}
