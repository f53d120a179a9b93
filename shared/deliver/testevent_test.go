package deliver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// A test delivery (POST /v1/subscriptions/{id}/test) is a probe: whatever the
// receiver answers, it never counts towards consecutiveFailures or auto-disable, and
// leaves the status block alone. A regular event in the same situation does count.
func TestTestDeliveryNeverCounts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      int
		test      bool
		outcomes  int
		wantAlive bool
	}{
		{"regular event, 500, failing for 6 days: disabled", 500, false, 1, false},
		{"regular event, 410: disabled", 410, false, 1, false},
		{"test event, 500, failing for 6 days", 500, true, 0, true},
		{"test event, 410", 410, true, 0, true},
		{"test event, 200", 200, true, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tc.code) }))
			t.Cleanup(srv.Close)
			now := time.Now()
			sub := newBenchSub("ten_probe", srv.URL+"/hooks/:id")
			since := now.Add(-6 * 24 * time.Hour)
			sub.FailingSince, sub.ConsecutiveFailures = &since, 3
			f := newBenchFixture(sub, 1)
			if tc.test {
				f.events[0].Type, f.events[0].TargetSubscriptionID = gancho.TypeTest, sub.ID
				f.dels[0].EventType = gancho.TypeTest
			}
			st, q := newTestStore(), &memQueue{}
			st.seed(t, f)
			h := deliver.NewHandler(st, q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t),
				deliver.WithClock(func() time.Time { return now }))
			out, err := h.Handle(context.Background(), events.SQSEvent{Records: f.msgs})
			if err != nil || len(out.BatchItemFailures) != 0 {
				t.Fatalf("handle: %v %+v", err, out)
			}
			if d := st.delivery(f.dels[0].ID); len(d.Attempts) != 1 || d.Attempts[0].StatusCode != tc.code {
				t.Fatalf("delivery %+v, want one attempt answered %d", d, tc.code)
			}
			if n := st.outcomeCount(); n != tc.outcomes {
				t.Errorf("status block updated %d times, want %d", n, tc.outcomes)
			}
			if got := st.sub(sub.ID); got.IsActive != tc.wantAlive {
				t.Errorf("subscription active = %v, want %v (%s)", got.IsActive, tc.wantAlive, got.DisabledReason)
			}
		})
	}
}
