package publish_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/queue"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (e *batchEnv) delays() []time.Duration {
	q := e.queue()
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.delays)
}

// scheduledEvent is an event published at now to be delivered ahead later.
func (e *batchEnv) scheduledEvent(t *testing.T, now time.Time, ahead time.Duration, edit ...func(*gancho.EventInput)) gancho.Event {
	t.Helper()
	at := now.Add(ahead)
	in := gancho.EventInput{Type: "order.created", Payload: []byte(`{}`), DeliverAt: &at}
	for _, f := range edit {
		f(&in)
	}
	ev, err := gancho.NewEvent(e.tenant, in, now, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// Within the queue's delay, a scheduled event's messages are sent delayed until its
// deliverAt (ordered ones undelayed: the consumer holds them); further ahead, it
// waits in the outbox, due ScheduleLead before deliverAt, and its fan-out then
// delays its messages for the rest.
func TestPublishScheduled(t *testing.T) {
	t.Parallel()
	start := time.Now().UTC().Truncate(time.Second) // the store expires events by the real clock
	cases := []struct {
		name  string
		ahead time.Duration
	}{
		{"in 5 s", 5 * time.Second},
		{"in 15 min", 15 * time.Minute},
		{"in 2 h", 2 * time.Hour},
		{"in 24 h", 24 * time.Hour},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newBatchEnv(t)
			clk := &clock{t: start}
			pub := publish.New(e.st, e.q, clk.now)
			plain := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
			ordered := true
			inOrder := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*"), Ordered: &ordered})
			ev := e.scheduledEvent(t, start, tc.ahead, func(in *gancho.EventInput) { in.Reference = &gancho.Reference{ID: "r1"} })
			res, err := pub.Publish(e.ctx, ev, "", "")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := e.st.GetEvent(e.ctx, e.tenant, ev.ID)
			if err != nil || stored.DeliverAt == nil || !stored.DeliverAt.Equal(start.Add(tc.ahead)) {
				t.Fatalf("stored deliverAt %v, %v", stored.DeliverAt, err)
			}
			wantDelay := tc.ahead
			if tc.ahead > queue.MaxDelay {
				if !res.Background || res.Deliveries != 0 {
					t.Fatalf("result %+v, want its fan-out left for later", res)
				}
				if sent, ordered := e.queue().take(); len(sent)+len(ordered) != 0 {
					t.Fatalf("sent %+v %+v before the fan-out is due", sent, ordered)
				}
				due := start.Add(tc.ahead - gancho.ScheduleLead)
				pending := func(at time.Time) []string {
					evs, err := e.st.PendingEvents(e.ctx, at, 1000)
					if err != nil {
						t.Fatal(err)
					}
					var out []string
					for _, p := range evs {
						out = append(out, p.ID)
					}
					return out
				}
				if got := pending(due.Add(-time.Second)); len(got) != 0 {
					t.Fatalf("outbox repair would take it before it is due: %v", got)
				}
				if got := pending(due); !slices.Equal(got, []string{ev.ID}) {
					t.Fatalf("outbox at its due time: %v", got)
				}
				// A fan-out message early (a repeat, a sweep with no grace) does nothing.
				clk.set(due.Add(-time.Minute))
				if n, err := pub.ResumeFanOut(e.ctx, e.tenant, ev.ID, true); err != nil || n != 0 {
					t.Fatalf("early fan-out: %d, %v", n, err)
				}
				if sent, _ := e.queue().take(); len(sent) != 0 {
					t.Fatalf("early fan-out sent %+v", sent)
				}
				// The sweeper hands it over after its grace: the rest is a delay.
				clk.set(due.Add(2 * time.Minute))
				if n, err := pub.ResumeFanOut(e.ctx, e.tenant, ev.ID, true); err != nil || n != 2 {
					t.Fatalf("fan-out when due: %d, %v", n, err)
				}
				wantDelay = gancho.ScheduleLead - 2*time.Minute
			} else if res.Background || res.Deliveries != 2 {
				t.Fatalf("result %+v", res)
			}
			delays := e.delays()
			sent, ord := e.queue().take()
			if len(sent) != 1 || sent[0].SubscriptionID != plain.ID || !slices.Equal(delays, []time.Duration{wantDelay}) {
				t.Errorf("sent %+v with delays %v, want one to %s delayed %s", sent, delays, plain.ID, wantDelay)
			}
			if len(ord) != 1 || ord[0].SubscriptionID != inOrder.ID {
				t.Errorf("sent in order %+v, want one to %s", ord, inOrder.ID)
			}
			if got := e.outbox(t); len(got) != 0 {
				t.Errorf("outbox after the fan-out: %v", got)
			}
		})
	}
}

// In a batch, scheduled events are fanned out by the consumer (one due within the
// queue's delay: a fan-out message now) or the sweeper (further ahead: nothing now).
func TestPublishBatchScheduled(t *testing.T) {
	t.Parallel()
	e := newBatchEnv(t)
	start := time.Now().UTC().Truncate(time.Second) // the store expires events by the real clock
	clk := &clock{t: start}
	pub := publish.New(e.st, e.q, clk.now)
	sub := e.subscribe(t, gancho.SubscriptionInput{Events: listp("order.*")})
	near, far := e.scheduledEvent(t, start, 10*time.Second), e.scheduledEvent(t, start, 3*time.Hour)
	now := e.event("order.created", 3)
	out := pub.PublishBatch(e.ctx, []publish.BatchItem{{Event: near}, {Event: far}, {Event: now}})
	for i, o := range out {
		if o.Err != nil {
			t.Fatalf("item %d: %v", i, o.Err)
		}
	}
	if !out[0].Result.Background || !out[1].Result.Background || out[2].Result.Background || out[2].Result.Deliveries != 1 {
		t.Fatalf("results %+v", out)
	}
	delays := e.delays()
	sent, _ := e.queue().take()
	var fanOuts []string
	for i, m := range sent {
		switch {
		case m.Kind == queue.KindFanOut:
			fanOuts = append(fanOuts, m.EventID)
		case m.EventID != now.ID || delays[i] != 0:
			t.Errorf("message %+v delayed %s", m, delays[i])
		}
	}
	if !slices.Equal(fanOuts, []string{near.ID}) {
		t.Fatalf("fan-out messages for %v, want only %s", fanOuts, near.ID)
	}
	if n, err := pub.ResumeFanOut(e.ctx, e.tenant, near.ID, false); err != nil || n != 1 {
		t.Fatalf("fan-out: %d, %v", n, err)
	}
	delays = e.delays()
	if sent, _ = e.queue().take(); len(sent) != 1 || sent[0].SubscriptionID != sub.ID || delays[0] != 10*time.Second {
		t.Errorf("fan-out sent %+v delayed %v", sent, delays)
	}
	if got := e.outbox(t); len(got) != 0 {
		t.Errorf("outbox now (the far one is due later): %v", got)
	}
}
