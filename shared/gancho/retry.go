package gancho

import "time"

// RetryPolicy decides what follows an attempt: whether the delivery is over, and if
// not, how long until the next attempt. It is the whole retry schedule's logic, with
// no clock and no randomness of its own.
type RetryPolicy struct {
	// Schedule is the delay before each retry, in seconds: Schedule[n-1] follows
	// attempt n; after the last one the delivery fails.
	Schedule []int
	// Jitter spreads a scheduled delay (nil: none).
	Jitter func(time.Duration) time.Duration
}

// Next returns the delivery's status after attempt a, and the delay until its next
// attempt when that status is StatusRetrying. permanent says the failure cannot be
// fixed by trying again (a 410, a subject that cannot be built): the delivery fails.
// A receiver's Retry-After (a.RetryAfterSeconds, on a 429 or 503) sets the delay
// within [step, 2 x step] of the scheduled step, without jitter: a receiver may slow
// Gancho down, never stop it or hurry it.
func (p RetryPolicy) Next(a Attempt, permanent bool) (string, time.Duration) {
	if a.Outcome == OutcomeSuccess {
		return StatusDelivered, 0
	}
	if permanent || a.Number < 1 || a.Number > len(p.Schedule) {
		return StatusFailed, 0
	}
	step := time.Duration(p.Schedule[a.Number-1]) * time.Second
	if a.RetryAfterSeconds > 0 {
		return StatusRetrying, min(max(time.Duration(a.RetryAfterSeconds)*time.Second, step), 2*step)
	}
	if p.Jitter != nil {
		return StatusRetrying, p.Jitter(step)
	}
	return StatusRetrying, step
}
