package devstack_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Concurrent repeats of one idempotent publish store one event and queue one set of
// deliveries.
func TestIdempotentPublishUnderConcurrentRepeats(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	for i := 0; i < 3; i++ {
		c.do("POST", "/v1/subscriptions", map[string]any{"url": url + "/" + string(rune('a'+i)), "events": []string{"order.created"}}, nil)
	}
	body := map[string]any{"type": "order.created", "payload": map[string]any{"n": 1}, "idempotencyKey": "order-1-created"}
	var wg sync.WaitGroup
	ids := make([]string, 10)
	codes := make([]int, 10)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var pub struct{ ID string }
			codes[i] = c.do("POST", "/v1/events", body, &pub)
			ids[i] = pub.ID
		}()
	}
	wg.Wait()
	first := ""
	for i, code := range codes {
		switch code {
		case 202:
			if first == "" {
				first = ids[i]
			}
			if ids[i] != first {
				t.Fatalf("repeat %d published event %s, want %s", i, ids[i], first)
			}
		case 409: // the first was still running; a later repeat replays it
		default:
			t.Fatalf("repeat %d: status %d", i, code)
		}
	}
	var again struct {
		ID         string
		Deliveries int
	}
	if code := c.do("POST", "/v1/events", body, &again); code != 202 || (first != "" && again.ID != first) || again.Deliveries != 3 {
		t.Fatalf("replay after the burst: %d %+v (first %s)", code, again, first)
	}
	rcv.wait(t, 3, 20*time.Second)
	waitQuiet(t, d, 20*time.Second) // anything duplicated has arrived by now
	if n := len(rcv.wait(t, 0, 0)); n != 3 {
		t.Fatalf("receivers got %d webhooks, want 3 (one set)", n)
	}
	var events struct{ Data []gancho.Event }
	c.do("GET", "/v1/events?type=order.created", nil, &events)
	if len(events.Data) != 1 {
		t.Fatalf("%d events stored, want 1", len(events.Data))
	}
	// The same key with another body is a conflict.
	body["payload"] = map[string]any{"n": 2}
	if code := c.do("POST", "/v1/events", body, nil); code != 409 {
		t.Fatalf("same key, other body: %d, want 409", code)
	}
}

func TestLargeFanOutContinuesInBackground(t *testing.T) {
	d := startDev(t, func(o *devstack.Options) { o.InlineFanOut = 3 })
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	for i := 0; i < 8; i++ {
		c.do("POST", "/v1/subscriptions", map[string]any{"url": url}, nil)
	}
	var pub struct {
		ID         string
		Deliveries int
		FanOut     string
	}
	if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{}}, &pub); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	if pub.FanOut != "queued" || pub.Deliveries != 0 {
		t.Fatalf("publish = %+v, want the fan-out queued", pub)
	}
	got := rcv.wait(t, 8, 20*time.Second)
	seen := map[string]bool{}
	for _, g := range got {
		seen[g.header.Get("webhook-id")] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d distinct deliveries, want 8", len(seen))
	}
	var ev gancho.Event
	deadline := time.Now().Add(5 * time.Second)
	for ev.QueuedAt == nil && time.Now().Before(deadline) {
		c.do("GET", "/v1/events/"+pub.ID, nil, &ev)
		time.Sleep(50 * time.Millisecond)
	}
	if ev.DeliveryCount != 8 || ev.QueuedAt == nil {
		t.Fatalf("event after the fan-out = %+v", ev)
	}
}

// An event stored by a process that died before queueing its deliveries is found in
// the outbox by the sweeper and delivered.
func TestSweeperRepairsUnqueuedEvent(t *testing.T) {
	d := startDev(t, func(o *devstack.Options) {
		o.SweepEvery = 200 * time.Millisecond
		o.SweepGrace = time.Millisecond
	})
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url}, nil)
	now := time.Now().UTC()
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: d.TenantID, Type: "order.created",
		CreatedAt: now, Payload: []byte(`{"crashed":true}`)}
	// What a publish writes before it dies: the event, nothing queued.
	if err := d.App.Clients.Store.CreateEvent(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	got := rcv.wait(t, 1, 20*time.Second)[0]
	if got.header.Get("X-Gancho-Event") != ev.ID || !strings.Contains(string(got.body), `"crashed":true`) {
		t.Fatalf("repaired delivery = %s %s", got.header.Get("X-Gancho-Event"), got.body)
	}
	// Another sweep must not deliver it again.
	if _, err := d.App.Sweeper.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitQuiet(t, d, 20*time.Second)
	if n := len(rcv.wait(t, 0, 0)); n != 1 {
		t.Fatalf("receiver got %d webhooks, want 1", n)
	}
}

func TestOversizedPayloadStoresNothing(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	_, url := newReceiver(t, http.StatusOK)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url}, nil)
	big := strings.Repeat("x", 257<<10)
	if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"blob": big}}, nil); code != 413 {
		t.Fatalf("257 KiB payload: %d, want 413", code)
	}
	var events struct{ Data []gancho.Event }
	c.do("GET", "/v1/events", nil, &events)
	if len(events.Data) != 0 {
		t.Fatalf("a refused publish stored %d events", len(events.Data))
	}
}

func TestListEventsFilters(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	var ids []string
	for i, body := range []map[string]any{
		{"type": "order.created", "payload": map[string]any{}, "ownerId": "o1", "reference": map[string]any{"type": "request", "id": "r1"}},
		{"type": "invoice.paid", "payload": map[string]any{}, "ownerId": "o2"},
		{"type": "order.created", "payload": map[string]any{}, "ownerId": "o2", "reference": map[string]any{"id": "r2"}},
	} {
		var pub struct{ ID string }
		if code := c.do("POST", "/v1/events", body, &pub); code != 202 {
			t.Fatalf("publish %d: %d", i, code)
		}
		ids = append(ids, pub.ID)
		time.Sleep(5 * time.Millisecond)
	}
	list := func(q string) []string {
		var l struct{ Data []gancho.Event }
		if code := c.do("GET", "/v1/events"+q, nil, &l); code != 200 {
			t.Fatalf("list %s: %d", q, code)
		}
		var out []string
		for _, e := range l.Data {
			out = append(out, e.ID)
		}
		return out
	}
	for q, want := range map[string][]string{
		"":                              {ids[2], ids[1], ids[0]},
		"?type=order.created":           {ids[2], ids[0]},
		"?ownerId=o2":                   {ids[2], ids[1]},
		"?referenceId=r1":               {ids[0]},
		"?type=invoice.paid&ownerId=o1": nil,
	} {
		if got := list(q); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("list %q = %v, want %v", q, got, want)
		}
	}
	var e1 gancho.Event
	c.do("GET", "/v1/events/"+ids[1], nil, &e1)
	since := e1.CreatedAt.Format(time.RFC3339Nano)
	if got := list("?since=" + since); len(got) != 2 || got[1] != ids[1] {
		t.Errorf("since %s = %v", since, got)
	}
	if got := list("?until=" + since); len(got) != 1 || got[0] != ids[0] {
		t.Errorf("until %s = %v", since, got)
	}
	if code := c.do("GET", "/v1/events?since=yesterday", nil, nil); code != 400 {
		t.Errorf("bad since: %d", code)
	}
	if code := c.do("GET", "/v1/events/evt_unknown", nil, nil); code != 404 {
		t.Errorf("unknown event: %d", code)
	}
}
