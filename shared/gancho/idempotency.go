package gancho

import "time"

// Idempotency keys, one set of rules for both forms they take. Every POST keeps its
// first response under the caller's key (the API's idempotency records); POST
// /v1/events keeps the key with the event instead (PublishClaim), because a stored
// response cannot make a retry after a crash finish the first run's event, and a
// released or expired response would let it publish a second one. Both forms follow
// these rules.
const (
	// IdempotencyWindow is how long a key is remembered: its first response (or
	// event) is replayed, and another request under it is a conflict.
	IdempotencyWindow = 24 * time.Hour
	// IdempotencyLease is how long a first request may run before a repeat of it may
	// take its key over (its process died before finishing). Every API Lambda is
	// stopped long before this.
	IdempotencyLease = time.Minute
)
