package publish_test

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/publish"
)

// TestPublishRecordsMetrics: every event published counts once (a replay does not),
// and each fan-out records the deliveries it queued, where it ran: in the publish for
// an inline one, when it is resumed for one handed to the background.
func TestPublishRecordsMetrics(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	for range 3 {
		e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	}
	rec := metrics.NewCounters()
	pub := publish.New(e.st, e.q, time.Now).WithMetrics(rec)
	type figures struct{ published, fanOut, fanOuts int64 }
	check := func(step string, want figures) {
		t.Helper()
		s := rec.Snapshot()
		if got := (figures{s.EventsPublished, s.FanOut, s.FanOutEvents}); got != want {
			t.Errorf("after %s: published %d, fan-out %d deliveries from %d events; want %+v", step, got.published, got.fanOut, got.fanOuts, want)
		}
	}

	ev := e.event("order.created", 1)
	if _, err := pub.Publish(e.ctx, ev, "k1", "h1"); err != nil {
		t.Fatal(err)
	}
	check("a publish to 3 subscriptions", figures{1, 3, 1})
	if res, err := pub.Publish(e.ctx, ev, "k1", "h1"); err != nil || !res.Replayed {
		t.Fatalf("replay: %+v, %v", res, err)
	}
	check("its replay", figures{1, 3, 1})
	if _, err := pub.Publish(e.ctx, e.event("user.created", 2), "", ""); err != nil {
		t.Fatal(err)
	}
	check("a publish that matches nothing", figures{2, 3, 2})

	out := pub.PublishBatch(e.ctx, []publish.BatchItem{
		{Event: e.event("order.created", 3), Key: "k2", Hash: "h2"},
		{Event: e.event("user.created", 4)},
		{Event: e.event("order.created", 3), Key: "k2", Hash: "h2"}, // the first one's replay
	})
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("batch item %d: %v", i, o.Err)
		}
	}
	check("a batch of two events and a replay", figures{4, 6, 4})

	background := pub.WithInlineFanOut(2)
	res, err := background.Publish(e.ctx, e.event("order.created", 5), "", "")
	if err != nil || !res.Background {
		t.Fatalf("background publish: %+v, %v", res, err)
	}
	check("a publish handed to the background", figures{5, 6, 4})
	for range 2 {
		if _, err := background.ResumeFanOut(e.ctx, e.tenant, res.Event.ID, false); err != nil {
			t.Fatal(err)
		}
	}
	check("its fan-out, resumed twice", figures{5, 9, 5})
}
