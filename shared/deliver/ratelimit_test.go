package deliver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// rlEnv is a handler on in-memory fakes, a receiver answering 200 and a clock the
// test moves.
type rlEnv struct {
	t   *testing.T
	st  *testStore
	q   *memQueue
	h   *deliver.Handler
	f   benchFixture
	rcv *hookLog

	mu  sync.Mutex
	now time.Time
}

// hookLog records the webhooks a receiver got.
type hookLog struct {
	mu     sync.Mutex
	got    []http.Header
	bodies [][]byte
}

// newHookLog starts a receiver answering 200 that records what it got, and returns
// its URL.
func newHookLog(t *testing.T) (*hookLog, string) {
	rcv := &hookLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rcv.mu.Lock()
		rcv.got = append(rcv.got, r.Header.Clone())
		rcv.bodies = append(rcv.bodies, body)
		rcv.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return rcv, srv.URL
}

func (l *hookLog) headers() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

func (l *hookLog) received() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.bodies)
}

func newRLEnv(t *testing.T, limit *int, n int) *rlEnv {
	t.Helper()
	rcv, url := newHookLog(t)
	sub := newBenchSub("ten_rl", url+"/hooks")
	sub.RateLimitPerSecond = limit
	e := &rlEnv{t: t, st: newTestStore(), q: &memQueue{}, f: newBenchFixture(sub, n), rcv: rcv,
		// Half-way through a second, so a test's steps stay inside their windows.
		now: time.Unix(time.Now().Unix()+10, 500e6)}
	e.st.seed(t, e.f)
	e.h = deliver.NewHandler(e.st, e.q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
		deliver.WithClock(e.clock))
	return e
}

func (e *rlEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *rlEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// handle runs one batch of msgs and returns the ids of the messages reported failed.
func (e *rlEnv) handle(msgs ...queue.Message) []string {
	e.t.Helper()
	ev := events.SQSEvent{}
	for i, m := range msgs {
		body, err := json.Marshal(m)
		if err != nil {
			e.t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.DeliveryID + "/" + string(rune('0'+i)), Body: string(body)})
	}
	res, err := e.h.Handle(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	var failed []string
	for _, f := range res.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// first returns the attempt-1 messages of every delivery.
func (e *rlEnv) first() []queue.Message {
	var out []queue.Message
	for _, d := range e.f.dels {
		out = append(out, queue.Message{TenantID: d.TenantID, DeliveryID: d.ID, EventID: d.EventID, SubscriptionID: d.SubscriptionID, Attempt: 1})
	}
	return out
}

// attempts is the number of attempts recorded on the env's deliveries.
func (e *rlEnv) attempts() int {
	n := 0
	for _, d := range e.f.dels {
		n += len(e.st.delivery(d.ID).Attempts)
	}
	return n
}

func intp(v int) *int { return &v }

func TestNoRateLimitMakesNoLimiterCall(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, nil, 5)
	if failed := e.handle(e.first()...); len(failed) > 0 {
		t.Fatalf("failed items %v", failed)
	}
	if n := len(e.rcv.headers()); n != 5 {
		t.Fatalf("receiver got %d, want 5", n)
	}
	if n := e.st.takes.Load(); n != 0 {
		t.Errorf("%d rate-limit calls for a subscription without a limit", n)
	}
	if sent := e.q.take(); len(sent) != 0 {
		t.Errorf("messages re-sent: %+v", sent)
	}
}

// Over the limit a delivery is delayed, not failed: the same message (same attempt)
// goes back on the queue, nothing is recorded, and when it comes back it is
// processed like the first one, until every delivery went out exactly once.
func TestRateLimitDelaysWithoutRecordingAnAttempt(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(2), 5)
	msgs := e.first()
	for round := 1; len(msgs) > 0; round++ {
		if round > 5 {
			t.Fatalf("%d messages still re-sent after 5 rounds", len(msgs))
		}
		before := len(e.rcv.headers())
		if failed := e.handle(msgs...); len(failed) > 0 {
			t.Fatalf("round %d: failed items %v", round, failed)
		}
		if got := len(e.rcv.headers()) - before; got != min(2, len(msgs)) {
			t.Fatalf("round %d: %d sent within one second, want %d", round, got, min(2, len(msgs)))
		}
		sent := e.q.take()
		if len(sent) != len(msgs)-min(2, len(msgs)) {
			t.Fatalf("round %d: %d re-sent, want %d", round, len(sent), len(msgs)-2)
		}
		msgs = msgs[:0]
		for _, s := range sent {
			if s.msg.Attempt != 1 || s.msg.Manual {
				t.Errorf("re-sent message %+v, want the same attempt 1", s.msg)
			}
			if s.delay < time.Second || s.delay > 3*time.Second {
				t.Errorf("re-sent with delay %s, want 1-3 s", s.delay)
			}
			if d := e.st.delivery(s.msg.DeliveryID); d.Status != gancho.StatusPending || len(d.Attempts) != 0 {
				t.Errorf("delayed delivery changed: %s with %d attempts", d.Status, len(d.Attempts))
			}
			msgs = append(msgs, s.msg)
		}
		e.advance(time.Second)
	}
	seen := map[string]int{}
	for _, h := range e.rcv.headers() {
		seen[h.Get("webhook-id")]++
		if h.Get("X-Gancho-Attempt") != "1" {
			t.Errorf("X-Gancho-Attempt = %s", h.Get("X-Gancho-Attempt"))
		}
	}
	for _, d := range e.f.dels {
		got := e.st.delivery(d.ID)
		if got.Status != gancho.StatusDelivered || len(got.Attempts) != 1 || seen[d.ID] != 1 {
			t.Errorf("delivery %s: %s, %d attempts, received %d times", d.ID, got.Status, len(got.Attempts), seen[d.ID])
		}
	}
	if len(e.q.dead) > 0 {
		t.Errorf("dead letters: %+v", e.q.dead)
	}
}

// fill takes every token of the current second, as other consumers would.
func (e *rlEnv) fill(limit int) {
	for range limit {
		if _, err := e.st.TakeRateToken(context.Background(), e.f.sub.TenantID, e.f.sub.ID, e.clock()); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestRateLimitedRetryKeepsItsAttemptNumber(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(1), 1)
	d := e.f.dels[0]
	next := e.clock()
	d.Status, d.NextAttemptAt = gancho.StatusRetrying, &next
	d.Attempts = []gancho.Attempt{{Number: 1, At: e.clock().Add(-5 * time.Second), StatusCode: 500, Outcome: gancho.OutcomeFailure}}
	e.st.putRecord(t, d)
	m := e.first()[0]
	m.Attempt = 2

	e.fill(1)
	if failed := e.handle(m); len(failed) > 0 {
		t.Fatalf("failed items %v", failed)
	}
	sent := e.q.take()
	if len(sent) != 1 || sent[0].msg != m {
		t.Fatalf("re-sent %+v, want the same message %+v", sent, m)
	}
	if got := e.st.delivery(d.ID); got.Status != gancho.StatusRetrying || len(got.Attempts) != 1 {
		t.Fatalf("delivery changed while delayed: %s, %d attempts", got.Status, len(got.Attempts))
	}

	e.advance(sent[0].delay)
	if failed := e.handle(sent[0].msg); len(failed) > 0 {
		t.Fatalf("failed items %v", failed)
	}
	got := e.st.delivery(d.ID)
	if got.Status != gancho.StatusDelivered || len(got.Attempts) != 2 || got.Attempts[1].Number != 2 {
		t.Fatalf("delivery after the delayed attempt: %s, %+v", got.Status, got.Attempts)
	}
	if h := e.rcv.headers(); len(h) != 1 || h[0].Get("X-Gancho-Attempt") != "2" {
		t.Fatalf("receiver got %v", h)
	}
}

func TestRateLimitedManualRetryStaysManual(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(3), 1)
	d := e.f.dels[0]
	d.Status = gancho.StatusFailed
	d.Attempts = []gancho.Attempt{{Number: 1, At: e.clock().Add(-time.Hour), StatusCode: 500, Outcome: gancho.OutcomeFailure}}
	e.st.putRecord(t, d)
	m := e.first()[0]
	m.Attempt, m.Manual = 2, true

	e.fill(3)
	e.handle(m)
	sent := e.q.take()
	if len(sent) != 1 || sent[0].msg != m {
		t.Fatalf("re-sent %+v, want the same manual message %+v", sent, m)
	}
	e.advance(2 * time.Second)
	e.handle(sent[0].msg)
	if got := e.st.delivery(d.ID); got.Status != gancho.StatusDelivered || len(got.Attempts) != 2 {
		t.Fatalf("delivery: %s, %d attempts", got.Status, len(got.Attempts))
	}
}

func TestRateLimitStoreErrorDelays(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(5), 2)
	e.st.takeErr = errors.New("throttled")
	if failed := e.handle(e.first()...); len(failed) > 0 {
		t.Fatalf("failed items %v", failed)
	}
	if n := len(e.rcv.headers()); n != 0 {
		t.Fatalf("sent %d without a rate check", n)
	}
	if sent := e.q.take(); len(sent) != 2 {
		t.Fatalf("re-sent %d, want 2", len(sent))
	}
	if n := e.attempts(); n != 0 {
		t.Errorf("%d attempts recorded", n)
	}
}

func TestRateLimitQueueErrorFailsTheItem(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(1), 1)
	e.fill(1)
	e.q.sendErr = errors.New("sqs down")
	failed := e.handle(e.first()...)
	if len(failed) != 1 {
		t.Fatalf("failed items %v, want the delayed message reported so it comes back", failed)
	}
	if n := e.attempts(); n != 0 || len(e.rcv.headers()) != 0 {
		t.Errorf("%d attempts, %d sent", n, len(e.rcv.headers()))
	}
}

// Once this process saw a window full, later takers of that second are refused
// without asking the store; the next second asks again.
func TestRateLimitRemembersAFullWindow(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(1), 4)
	msgs := e.first()
	for i, want := range []int64{1, 2, 2} {
		e.handle(msgs[i])
		if n := e.st.takes.Load(); n != want {
			t.Fatalf("after message %d: %d store calls, want %d", i+1, n, want)
		}
	}
	if n := len(e.rcv.headers()); n != 1 {
		t.Fatalf("sent %d in one second with limit 1", n)
	}
	e.advance(time.Second)
	e.handle(msgs[3])
	if n := e.st.takes.Load(); n != 3 || len(e.rcv.headers()) != 2 {
		t.Fatalf("next second: %d store calls, %d sent", n, len(e.rcv.headers()))
	}
}

// A backlog is spread over the following seconds by each refused taker's place in
// the window, instead of all coming back one second later.
func TestRateLimitSpreadsABacklog(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(2), 10)
	e.handle(e.first()...)
	sent := e.q.take()
	if len(sent) != 8 {
		t.Fatalf("re-sent %d, want 8", len(sent))
	}
	var longest time.Duration
	for _, s := range sent {
		if s.delay < time.Second || s.delay > 5*time.Second {
			t.Errorf("delay %s, want 1-5 s", s.delay)
		}
		longest = max(longest, s.delay)
	}
	// Eight refused takers hold at least four distinct places, so some wait >= 2 s.
	if longest < 2*time.Second {
		t.Errorf("longest delay %s: the backlog was not spread", longest)
	}
}

func TestRateLimitIsSharedAcrossHandlers(t *testing.T) {
	t.Parallel()
	// Four consumers (as Lambda instances) on one store, one batch each, same second.
	e := newRLEnv(t, intp(3), 20)
	msgs := e.first()
	var wg sync.WaitGroup
	for i := range 4 {
		h := deliver.NewHandler(e.st, e.q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
			deliver.WithClock(e.clock))
		batch := msgs[i*5 : i*5+5]
		wg.Go(func() {
			ev := events.SQSEvent{}
			for _, m := range batch {
				body, _ := json.Marshal(m)
				ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.DeliveryID, Body: string(body)})
			}
			if _, err := h.Handle(context.Background(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(e.rcv.headers()); n != 3 {
		t.Fatalf("four consumers sent %d in one second, want the limit 3", n)
	}
	if sent := e.q.take(); len(sent) != 17 {
		t.Fatalf("re-sent %d, want 17", len(sent))
	}
}

// countingLimiter grants every take and counts them.
type countingLimiter struct{ takes atomic.Int64 }

func (l *countingLimiter) TakeRateToken(context.Context, string, string, time.Time) (int64, error) {
	l.takes.Add(1)
	return 1, nil
}

func TestWithRateLimiter(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(1), 2)
	other := &countingLimiter{}
	h := deliver.NewHandler(e.st, e.q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
		deliver.WithClock(e.clock), deliver.WithRateLimiter(other))
	msgs := e.first()
	e.h = h
	e.handle(msgs[0])
	if other.takes.Load() != 1 || e.st.takes.Load() != 0 {
		t.Fatalf("limiter calls: given %d, store %d", other.takes.Load(), e.st.takes.Load())
	}
	e.h = deliver.NewHandler(e.st, e.q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
		deliver.WithClock(e.clock), deliver.WithRateLimiter(nil))
	e.handle(msgs[1])
	if e.st.takes.Load() != 0 || len(e.rcv.headers()) != 2 {
		t.Fatalf("with no limiter: %d store calls, %d sent", e.st.takes.Load(), len(e.rcv.headers()))
	}
}

// handleFIFO runs msgs as one batch of the ordered (FIFO) queue, all in one message
// group, and returns the receipt handles of the messages reported failed.
func (e *rlEnv) handleFIFO(msgs ...queue.Message) []string {
	e.t.Helper()
	ev := events.SQSEvent{}
	for _, m := range msgs {
		body, err := json.Marshal(m)
		if err != nil {
			e.t.Fatal(err)
		}
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: m.DeliveryID, ReceiptHandle: "rh-" + m.DeliveryID, Body: string(body),
			Attributes: map[string]string{"MessageGroupId": e.f.sub.ID + "#ref-1"}})
	}
	res, err := e.h.Handle(context.Background(), ev)
	if err != nil {
		e.t.Fatal(err)
	}
	var failed []string
	for _, f := range res.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	return failed
}

// An ordered message over the limit stays in its FIFO group: it is held in flight,
// the later ones of its group come back after it, and nothing is re-sent.
func TestRateLimitedOrderedMessageIsHeldInItsGroup(t *testing.T) {
	t.Parallel()
	e := newRLEnv(t, intp(1), 3)
	msgs := e.first()
	for round := 0; len(msgs) > 0; round++ {
		if round == 3 {
			t.Fatalf("%d messages left after 3 seconds", len(msgs))
		}
		failed := e.handleFIFO(msgs...)
		if len(failed) != len(msgs)-1 {
			t.Fatalf("round %d: failed %v, want all but the first", round, failed)
		}
		if len(msgs) > 1 {
			hold, ok := e.q.held["rh-"+msgs[1].DeliveryID]
			if !ok || hold < time.Second || hold > 2*time.Second {
				t.Fatalf("round %d: held %v, want the second message held 1-2 s", round, e.q.held)
			}
		}
		if sent := e.q.take(); len(sent) != 0 {
			t.Fatalf("round %d: ordered messages re-sent: %+v", round, sent)
		}
		msgs = msgs[1:]
		e.advance(time.Second)
	}
	var order []string
	for _, h := range e.rcv.headers() {
		order = append(order, h.Get("webhook-id"))
	}
	for i, d := range e.f.dels {
		got := e.st.delivery(d.ID)
		if got.Status != gancho.StatusDelivered || len(got.Attempts) != 1 || i >= len(order) || order[i] != d.ID {
			t.Errorf("delivery %d: %s with %d attempts; arrival order %v", i, got.Status, len(got.Attempts), order)
		}
	}
}
