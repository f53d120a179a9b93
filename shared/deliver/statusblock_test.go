package deliver_test

import (
	"context"
	"io"
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

// The status block is written only when a batch changes something a reader sees: a
// success like the last one, whose times are recent, leaves it alone.
func TestStatusBlockWrittenOnlyOnChange(t *testing.T) {
	recent, old := -10*time.Second, -gancho.StatusRefresh-time.Second
	for _, tc := range []struct {
		name     string
		code     int
		body     string
		status   func(now time.Time) gancho.Status
		outcomes int
	}{
		{"same success, recent times", 200, "ok", func(now time.Time) gancho.Status { return healthy(now, recent, 200, "ok") }, 0},
		{"same success, times a minute old", 200, "ok", func(now time.Time) gancho.Status { return healthy(now, old, 200, "ok") }, 1},
		{"another status code", 202, "ok", func(now time.Time) gancho.Status { return healthy(now, recent, 200, "ok") }, 1},
		{"another response", 200, "ok again", func(now time.Time) gancho.Status { return healthy(now, recent, 200, "ok") }, 1},
		{"success after failures", 200, "ok", func(now time.Time) gancho.Status {
			st := healthy(now, recent, 500, "")
			since := now.Add(-time.Hour)
			st.ConsecutiveFailures, st.FailingSince = 2, &since
			return st
		}, 1},
		{"failure", 500, "ok", func(now time.Time) gancho.Status { return healthy(now, recent, 500, "ok") }, 1},
		{"first attempt ever", 200, "ok", func(time.Time) gancho.Status { return gancho.Status{} }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(tc.code)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			now := time.Now()
			sub := newBenchSub("ten_status", srv.URL+"/hooks/:id")
			sub.Status = tc.status(now)
			f := newBenchFixture(sub, 3)
			st, q := newTestStore(), &memQueue{}
			st.seed(t, f)
			h := deliver.NewHandler(st, q, outbound.NewClient(outbound.Options{AllowPrivate: true}), testenv.Logger(t))
			out, err := h.Handle(context.Background(), events.SQSEvent{Records: f.msgs})
			if err != nil || len(out.BatchItemFailures) != 0 {
				t.Fatalf("handle: %v %+v", err, out)
			}
			if n := st.outcomeCount(); n != tc.outcomes {
				t.Errorf("status block written %d times, want %d", n, tc.outcomes)
			}
		})
	}
}

// healthy is a status block after a success age ago (age < 0) answered code and resp.
func healthy(now time.Time, age time.Duration, code int, resp string) gancho.Status {
	at := now.Add(age)
	return gancho.Status{LastStatusCode: code, LastResponse: resp, LastAttemptAt: &at, LastSuccessAt: &at}
}
