package deliver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// newScheduledEnv is an rlEnv (no rate limit) whose n events are scheduled ahead of
// its clock.
func newScheduledEnv(t *testing.T, n int, ahead time.Duration) *rlEnv {
	t.Helper()
	rcv := &hookLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rcv.mu.Lock()
		rcv.got = append(rcv.got, r.Header.Clone())
		rcv.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	e := &rlEnv{t: t, st: newTestStore(), q: &memQueue{}, f: newBenchFixture(newBenchSub("ten_sched", srv.URL+"/hooks"), n), rcv: rcv,
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
