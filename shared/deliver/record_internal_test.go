package deliver

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
)

type latencies struct{ got []time.Duration }

func (l *latencies) Delivered(d time.Duration) { l.got = append(l.got, d) }
func (l *latencies) Failed(metrics.Reason)     {}

// Publish-to-delivery latency counts from when the event was due: its publish, or its
// deliverAt when it was scheduled.
func TestRecordCountsLatencyFromWhenDue(t *testing.T) {
	now := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	at := now.Add(-2 * time.Second)
	l := &latencies{}
	h := &Handler{metrics: l, now: func() time.Time { return now }}
	h.record(gancho.Event{CreatedAt: now.Add(-time.Hour)}, "")
	h.record(gancho.Event{CreatedAt: now.Add(-time.Hour), DeliverAt: &at}, "")
	if len(l.got) != 2 || l.got[0] != time.Hour || l.got[1] != 2*time.Second {
		t.Fatalf("latencies %v, want 1h then 2s", l.got)
	}
}
