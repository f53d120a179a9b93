package gancho_test

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func TestRetryPolicyNext(t *testing.T) {
	t.Parallel()
	schedule := []int{5, 300, 1800}
	double := func(d time.Duration) time.Duration { return 2 * d }
	fail := func(n int) gancho.Attempt { return gancho.Attempt{Number: n, Outcome: gancho.OutcomeFailure} }
	withRetryAfter := func(n, s int) gancho.Attempt {
		a := fail(n)
		a.RetryAfterSeconds = s
		return a
	}
	for _, tc := range []struct {
		name       string
		jitter     func(time.Duration) time.Duration
		a          gancho.Attempt
		permanent  bool
		wantStatus string
		wantDelay  time.Duration
	}{
		{"success", nil, gancho.Attempt{Number: 1, Outcome: gancho.OutcomeSuccess}, false, gancho.StatusDelivered, 0},
		{"success even if marked permanent", nil, gancho.Attempt{Number: 2, Outcome: gancho.OutcomeSuccess}, true, gancho.StatusDelivered, 0},
		{"first failure: first step", nil, fail(1), false, gancho.StatusRetrying, 5 * time.Second},
		{"second failure: second step", nil, fail(2), false, gancho.StatusRetrying, 300 * time.Second},
		{"last step", nil, fail(3), false, gancho.StatusRetrying, 1800 * time.Second},
		{"schedule spent", nil, fail(4), false, gancho.StatusFailed, 0},
		{"permanent failure", nil, fail(1), true, gancho.StatusFailed, 0},
		{"no attempt number", nil, fail(0), false, gancho.StatusFailed, 0},
		{"jitter applies to the step", double, fail(1), false, gancho.StatusRetrying, 10 * time.Second},
		{"Retry-After within the step range", nil, withRetryAfter(2, 450), false, gancho.StatusRetrying, 450 * time.Second},
		{"Retry-After shorter than the step: the step", nil, withRetryAfter(2, 1), false, gancho.StatusRetrying, 300 * time.Second},
		{"Retry-After longer than twice the step: twice the step", nil, withRetryAfter(1, 3600), false, gancho.StatusRetrying, 10 * time.Second},
		{"Retry-After takes no jitter", double, withRetryAfter(2, 400), false, gancho.StatusRetrying, 400 * time.Second},
		{"Retry-After does not outlast the schedule", nil, withRetryAfter(4, 10), false, gancho.StatusFailed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, delay := gancho.RetryPolicy{Schedule: schedule, Jitter: tc.jitter}.Next(tc.a, tc.permanent)
			if status != tc.wantStatus || delay != tc.wantDelay {
				t.Errorf("Next = %s, %s; want %s, %s", status, delay, tc.wantStatus, tc.wantDelay)
			}
		})
	}
}
