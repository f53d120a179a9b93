package devstack_test

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// An event with a deliverAt a few seconds ahead is delivered once to each of its
// subscriptions, a plain one (its message delayed on the queue) and an ordered one
// (its FIFO message held by the consumer), never before deliverAt. The event and
// the batch route carry deliverAt; a deliverAt out of range is refused naming it.
func TestScheduledDelivery(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	plain, plainURL := newMisbehaving(t, status(200))
	ordered, orderedURL := newMisbehaving(t, status(200))
	c.do("POST", "/v1/subscriptions", map[string]any{"url": plainURL, "events": []string{"order.*"}}, nil)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": orderedURL, "events": []string{"order.*"}, "ordered": true}, nil)

	for _, bad := range []time.Duration{-time.Minute, 0, 25 * time.Hour} {
		var prob struct {
			Errors []gancho.FieldError `json:"errors"`
		}
		at := time.Now().Add(bad).UTC().Format(time.RFC3339Nano)
		code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{}, "deliverAt": at}, &prob)
		if code != 422 || len(prob.Errors) != 1 || prob.Errors[0].Field != "deliverAt" {
			t.Errorf("deliverAt %s ahead: %d %+v, want 422 naming deliverAt", bad, code, prob)
		}
	}

	deliverAt := time.Now().Add(3 * time.Second).UTC().Truncate(time.Millisecond)
	var pub struct {
		ID         string `json:"id"`
		Deliveries int    `json:"deliveries"`
	}
	body := map[string]any{"type": "order.created", "payload": map[string]any{"n": 1}, "reference": map[string]any{"id": "r-1"},
		"deliverAt": deliverAt.Format(time.RFC3339Nano)}
	if code := c.do("POST", "/v1/events", body, &pub); code != 202 || pub.Deliveries != 2 {
		t.Fatalf("publish: %d, %d deliveries", code, pub.Deliveries)
	}
	var ev gancho.Event
	if code := c.do("GET", "/v1/events/"+pub.ID, nil, &ev); code != 200 || ev.DeliverAt == nil || !ev.DeliverAt.Equal(deliverAt) {
		t.Fatalf("event: %d, deliverAt %v, want %v", code, ev.DeliverAt, deliverAt)
	}
	var batch struct {
		Data []struct {
			ID    string         `json:"id"`
			Error map[string]any `json:"error"`
		} `json:"data"`
	}
	batchAt := deliverAt.Add(time.Second)
	if code := c.do("POST", "/v1/events/batch", map[string]any{"events": []map[string]any{
		{"type": "order.created", "payload": map[string]any{"n": 2}, "deliverAt": batchAt.Format(time.RFC3339Nano)}}}, &batch); code != 207 && code != 202 && code != 200 {
		t.Errorf("batch publish: %d", code)
	}

	for _, id := range []string{
		gancho.DeliveryID(pub.ID, subscriptionFor(t, c, plainURL)),
		gancho.DeliveryID(pub.ID, subscriptionFor(t, c, orderedURL)),
	} {
		if dl := waitDelivery(t, c, id, 30*time.Second); dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 1 || dl.Attempts[0].At.Before(deliverAt) {
			t.Errorf("delivery %s: %+v, want one attempt at or after %s", id, dl, deliverAt)
		}
	}
	if len(batch.Data) == 1 && batch.Data[0].ID != "" {
		dl := waitDelivery(t, c, gancho.DeliveryID(batch.Data[0].ID, subscriptionFor(t, c, plainURL)), 30*time.Second)
		if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 1 || dl.Attempts[0].At.Before(batchAt) {
			t.Errorf("batch event's delivery: %+v, want one attempt at or after %s", dl, batchAt)
		}
	} else {
		t.Errorf("batch publish answered %+v", batch.Data)
	}
	for name, rcv := range map[string]*misbehaving{"plain": plain, "ordered": ordered} {
		rcv.mu.Lock()
		times := append([]time.Time(nil), rcv.times...)
		rcv.mu.Unlock()
		for _, at := range times {
			if at.Before(deliverAt) {
				t.Errorf("%s receiver got a webhook at %s, before deliverAt %s", name, at, deliverAt)
			}
		}
	}
	if got := ordered.types(); len(got) != 2 {
		t.Errorf("ordered receiver got %v, want the two events once each", got)
	}
	if got := plain.types(); len(got) != 2 {
		t.Errorf("plain receiver got %v, want the two events once each", got)
	}
}

// subscriptionFor is the id of the subscription to url.
func subscriptionFor(t *testing.T, c client, url string) string {
	t.Helper()
	var l struct {
		Data []gancho.Subscription `json:"data"`
	}
	c.do("GET", "/v1/subscriptions", nil, &l)
	for _, s := range l.Data {
		if s.URL == url {
			return s.ID
		}
	}
	t.Fatalf("no subscription to %s", url)
	return ""
}
