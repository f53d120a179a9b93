package deliver_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// newScheduledEnv is an rlEnv (no rate limit) whose n events are scheduled ahead of
// its clock; tune adjusts its subscription.
func newScheduledEnv(t *testing.T, n int, ahead time.Duration, tune ...func(*gancho.Subscription)) *rlEnv {
	t.Helper()
	rcv, url := newHookLog(t)
	sub := newBenchSub("ten_sched", url+"/hooks")
	for _, f := range tune {
		f(&sub)
	}
	e := &rlEnv{t: t, st: newTestStore(), q: &memQueue{}, f: newBenchFixture(sub, n), rcv: rcv,
		now: time.Unix(time.Now().Unix()+10, 0).UTC()}
	at := e.now.Add(ahead)
	for i := range e.f.events {
		e.f.events[i].DeliverAt = &at
	}
	e.st.seed(t, e.f)
	e.h = deliver.NewHandler(e.st, e.q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
		deliver.WithClock(e.clock))
	return e
}

// A first-attempt message that arrives before its event's deliverAt is not
// attempted: a standard-queue one goes back on the queue for the rest, an ordered
// one is held in flight with its group behind it. At deliverAt it is delivered once.
func TestScheduledDeliveryWaitsForDeliverAt(t *testing.T) {
	t.Parallel()
	const ahead = 90 * time.Second
	t.Run("standard queue", func(t *testing.T) {
		t.Parallel()
		e := newScheduledEnv(t, 2, ahead)
		if failed := e.handle(e.first()...); len(failed) != 0 {
			t.Fatalf("failed %v", failed)
		}
		back := e.q.take()
		if len(back) != 2 || e.attempts() != 0 || len(e.rcv.headers()) != 0 {
			t.Fatalf("early: re-sent %+v, %d attempts, %d received", back, e.attempts(), len(e.rcv.headers()))
		}
		var again []queue.Message
		for _, s := range back {
			if s.delay != ahead || s.msg.Attempt != 1 {
				t.Errorf("re-sent %+v delayed %s, want attempt 1 delayed %s", s.msg, s.delay, ahead)
			}
			again = append(again, s.msg)
		}
		e.advance(ahead)
		if failed := e.handle(again...); len(failed) != 0 {
			t.Fatalf("failed at deliverAt: %v", failed)
		}
		if e.attempts() != 2 || len(e.rcv.headers()) != 2 || len(e.q.take()) != 0 {
			t.Errorf("at deliverAt: %d attempts, %d received", e.attempts(), len(e.rcv.headers()))
		}
	})
	t.Run("ordered", func(t *testing.T) {
		t.Parallel()
		e := newScheduledEnv(t, 2, ahead)
		msgs := e.first()
		if failed := e.handleFIFO(msgs...); len(failed) != 2 {
			t.Fatalf("failed %v, want both (held, and behind it)", failed)
		}
		if hold := e.q.held["rh-"+msgs[0].DeliveryID]; hold != ahead {
			t.Errorf("held %v, want the first held %s", e.q.held, ahead)
		}
		if sent := e.q.take(); len(sent) != 0 || e.attempts() != 0 || len(e.rcv.headers()) != 0 {
			t.Fatalf("early: sent %+v, %d attempts", sent, e.attempts())
		}
		e.advance(ahead)
		if failed := e.handleFIFO(msgs...); len(failed) != 0 {
			t.Fatalf("failed at deliverAt: %v", failed)
		}
		if e.attempts() != 2 || len(e.rcv.headers()) != 2 {
			t.Errorf("at deliverAt: %d attempts, %d received", e.attempts(), len(e.rcv.headers()))
		}
	})
	t.Run("due: attempted at once", func(t *testing.T) {
		t.Parallel()
		e := newScheduledEnv(t, 1, ahead)
		e.advance(ahead + time.Second)
		if failed := e.handle(e.first()...); len(failed) != 0 || e.attempts() != 1 {
			t.Fatalf("failed %v, %d attempts", failed, e.attempts())
		}
		for _, d := range e.f.dels {
			if got := e.st.delivery(d.ID); got.Status != gancho.StatusDelivered {
				t.Errorf("status %s", got.Status)
			}
		}
	})
}

// A scheduled event's notice (a notify subscription's) tells of the event when it is
// due: sent at deliverAt, it records the update then (needView, lastUpdateAt at
// deliverAt) and carries it, which publishing could not do without telling early.
func TestScheduledNoticeRecordsTheUpdateWhenDue(t *testing.T) {
	t.Parallel()
	e := newScheduledEnv(t, 1, time.Minute, func(s *gancho.Subscription) { s.Mode = gancho.ModeNotify })
	sub, at := e.f.sub, *e.f.events[0].DeliverAt

	e.handle(e.first()...)
	again := e.q.take()
	if got, _ := e.st.GetSubscription(context.Background(), sub.TenantID, sub.ID); got.NeedView || got.LastUpdateAt != nil || len(again) != 1 {
		t.Fatalf("before deliverAt: needView %v lastUpdateAt %v, %d re-sent", got.NeedView, got.LastUpdateAt, len(again))
	}
	e.advance(time.Minute)
	if failed := e.handle(again[0].msg); len(failed) != 0 {
		t.Fatalf("failed %v", failed)
	}
	got, _ := e.st.GetSubscription(context.Background(), sub.TenantID, sub.ID)
	if !got.NeedView || got.LastUpdateAt == nil || !got.LastUpdateAt.Equal(at) {
		t.Errorf("after the notice: needView %v lastUpdateAt %v, want true and %v", got.NeedView, got.LastUpdateAt, at)
	}
	bodies := e.rcv.received()
	var n struct {
		LastUpdateAt *time.Time `json:"lastUpdateAt"`
	}
	if len(bodies) != 1 || json.Unmarshal(bodies[0], &n) != nil || n.LastUpdateAt == nil || !n.LastUpdateAt.Equal(at) {
		t.Errorf("notices %q, want one with lastUpdateAt %v", bodies, at)
	}
}
