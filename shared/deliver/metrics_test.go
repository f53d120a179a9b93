package deliver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestHandlerRecordsMetrics: one batch whose receivers answer 200, 404 and 500 and
// let one attempt time out gives one delivery, three failures by reason, four
// attempts, and the delivery's time since its event was published.
func TestHandlerRecordsMetrics(t *testing.T) {
	statusOf := map[string]int{"ord-0": http.StatusOK, "ord-1": http.StatusNotFound, "ord-2": http.StatusInternalServerError}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		code, ok := statusOf[strings.TrimPrefix(r.URL.Path, "/hooks/")]
		if !ok { // ord-3: no answer within the subscription's timeout
			<-r.Context().Done()
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	sub := newBenchSub("ten_metrics", srv.URL+"/hooks/:id")
	sub.TimeoutSeconds = 1
	f := newBenchFixture(sub, 4)
	st, q := newTestStore(), &memQueue{}
	st.seed(t, f)
	published := f.events[0].CreatedAt
	clock := func() time.Time { return published.Add(1500 * time.Millisecond) }
	rec := metrics.NewCounters()
	h := deliver.NewHandler(st, q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
		deliver.WithMetrics(rec), deliver.WithClock(clock))
	out, err := h.Handle(context.Background(), events.SQSEvent{Records: f.msgs})
	if err != nil || len(out.BatchItemFailures) != 0 {
		t.Fatalf("handle: %v %+v", err, out)
	}
	got := rec.Snapshot()
	want := metrics.Snapshot{
		Deliveries: 1, DeliveryFailures: 3, Attempts: 4,
		FailuresByReason:    map[string]int64{"http_4xx": 1, "http_5xx": 1, "timeout": 1},
		PublishToDeliveryMs: metrics.Percentiles{P50: 1500, P99: 1500, Samples: 1},
	}
	if got.Summary() != want.Summary() || got.FailuresByReason["timeout"] != 1 {
		t.Errorf("metrics after the batch\n got %s\nwant %s", got.Summary(), want.Summary())
	}
}
