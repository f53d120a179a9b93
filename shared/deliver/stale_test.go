package deliver_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// A message for an attempt already recorded queues the next attempt again only when
// it is the same message coming back (a consumer died between recording and
// queueing); a late duplicate copy must not add another.
func TestStaleMessageRequeuesOnlyWhenRedelivered(t *testing.T) {
	for _, tc := range []struct {
		receives string
		want     int
	}{{"1", 0}, {"2", 1}} {
		t.Run("receives="+tc.receives, func(t *testing.T) {
			e := newRLEnv(t, nil, 1)
			rec := e.f.msgs[0]
			d := e.f.dels[0]
			next := e.now.Add(5 * time.Second)
			d.Attempts = []gancho.Attempt{{Number: 1, At: e.now, StatusCode: 500, Outcome: gancho.OutcomeFailure}}
			d.Status, d.NextAttemptAt = gancho.StatusRetrying, &next
			e.st.putRecord(t, d)
			rec.Attributes = map[string]string{"ApproximateReceiveCount": tc.receives}
			out, err := e.h.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{rec}})
			if err != nil || len(out.BatchItemFailures) != 0 {
				t.Fatalf("handle: %v %+v", err, out)
			}
			e.q.mu.Lock()
			defer e.q.mu.Unlock()
			if len(e.q.sent) != tc.want {
				t.Fatalf("sent %d messages, want %d", len(e.q.sent), tc.want)
			}
			if tc.want == 1 && (e.q.sent[0].msg.Attempt != 2 || e.q.sent[0].delay <= 0) {
				t.Fatalf("requeued %+v, want attempt 2 after its remaining delay", e.q.sent[0])
			}
			if n := len(e.rcv.headers()); n != 0 {
				t.Fatalf("the receiver was called %d times", n)
			}
		})
	}
}
