package gancho_test

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func TestStatusApply(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ok := func(s int) gancho.Attempt {
		return gancho.Attempt{Outcome: gancho.OutcomeSuccess, StatusCode: 200, Response: "ok", At: at(s)}
	}
	fail := func(s int) gancho.Attempt {
		return gancho.Attempt{Outcome: gancho.OutcomeFailure, StatusCode: 500, Response: "down", At: at(s)}
	}
	failing := func(n, since int) gancho.Status {
		f := at(since)
		return gancho.Status{ConsecutiveFailures: n, FailingSince: &f}
	}
	tests := []struct {
		name      string
		before    gancho.Status
		attempts  []gancho.Attempt
		wantFails int
		wantSince *int // seconds after t0; nil: not failing
		wantOK    *int // lastSuccessAt
		wantCode  int
	}{
		{"a success on a healthy block", gancho.Status{}, []gancho.Attempt{ok(1)}, 0, nil, secs(1), 200},
		{"a success resets a failing block", failing(7, -60), []gancho.Attempt{ok(1)}, 0, nil, secs(1), 200},
		{"failures add to the count and keep its start", failing(3, -60), []gancho.Attempt{fail(1), fail(2)}, 5, secs(-60), nil, 500},
		{"failures start a count", gancho.Status{}, []gancho.Attempt{fail(1), fail(2)}, 2, secs(1), nil, 500},
		{"failures after a success in the batch count from it", failing(9, -60), []gancho.Attempt{fail(1), ok(2), fail(3)}, 1, secs(3), secs(2), 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o gancho.Outcome
			for _, a := range tc.attempts {
				o.Add(a)
			}
			got := tc.before.Apply(o)
			last := tc.attempts[len(tc.attempts)-1]
			if got.ConsecutiveFailures != tc.wantFails || got.LastStatusCode != tc.wantCode || got.LastAttemptAt == nil || !got.LastAttemptAt.Equal(last.At) {
				t.Fatalf("status = %+v", got)
			}
			if !sameTime(got.FailingSince, tc.wantSince, at) || !sameTime(got.LastSuccessAt, tc.wantOK, at) {
				t.Fatalf("failingSince %v, lastSuccessAt %v; want %v, %v", got.FailingSince, got.LastSuccessAt, tc.wantSince, tc.wantOK)
			}
		})
	}
}

func secs(v int) *int { return &v }

func sameTime(got *time.Time, want *int, at func(int) time.Time) bool {
	if want == nil {
		return got == nil
	}
	return got != nil && got.Equal(at(*want))
}
