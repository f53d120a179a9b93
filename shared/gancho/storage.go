package gancho

// What the services and the store exchange, in the domain's words: the services
// define the small interfaces they need in these types, and the store (package
// dynamo) implements them.

import (
	"time"
	"unicode/utf8"
)

// KeyClaim asks to claim one publish idempotency key (see ClaimPublishKey).
type KeyClaim struct {
	Tenant, Key string
	Claim       PublishClaim
}

// KeyClaimResult is what ClaimPublishKey would have returned for one KeyClaim.
type KeyClaimResult struct {
	Claim PublishClaim
	Fresh bool
	Err   error
}

// FanOutWrite is what one event's fan-out writes: its notify subscriptions' inbox
// entries.
type FanOutWrite struct {
	Event Event
	Inbox []string // subscription ids
}

// EventRef names one event.
type EventRef struct{ TenantID, ID string }

// PublishClaim is the record of a publish idempotency key.
type PublishClaim struct {
	EventID   string    `json:"eventId"`
	Hash      string    `json:"hash"`
	ClaimedAt time.Time `json:"claimedAt"`
}

// EventFilter narrows an event list.
type EventFilter struct {
	Type, OwnerID, ReferenceID string
	Since, Until               *time.Time
}

// IdempotencyRecord is what is remembered of one request made with an Idempotency-Key.
type IdempotencyRecord struct {
	// Tenant, Credential and Owner are the key space: an empty Tenant is the
	// platform operator's. Credential is the caller's Principal.KeyID (an API
	// key id, a JWT's issuer and subject, or the operator's); Owner is kept apart
	// too, since one token subject may carry different owners.
	Tenant     string
	Credential string
	Owner      string
	Key        string
	Route      string
	// RequestHash identifies the request (method, path and body) the key was first used with.
	RequestHash string
	State       string
	// Lock identifies the run that holds a running record, so that only it can
	// complete or release the record.
	Lock string
	// LeaseUntil is when a running record whose run died may be taken over.
	LeaseUntil time.Time
	CreatedAt  time.Time
	ExpiresAt  time.Time

	// The stored response, once done.
	Status int
	Header map[string]string
	Body   []byte
}

// Page is one page of a list.
type Page struct {
	Limit  int
	Cursor string
}

// InboxQuery selects part of a subscription's inbox.
type InboxQuery struct {
	// Unseen selects the events not read yet, oldest first. Otherwise every event
	// within retention is selected, newest first, created in [Since, Until) when
	// those are set.
	Unseen       bool
	Since, Until *time.Time
	// Offset and Limit cut the page out of the selection.
	Offset, Limit int
}

// InboxPage is one page of event ids and the size of the whole selection.
type InboxPage struct {
	EventIDs []string
	Total    int
	// Cursors (a push subscription's new results) holds, for each of EventIDs, the
	// results cursor that marks it and the ones before it read.
	Cursors []string
}

// Match is a subscription found through the match index.
type Match struct {
	SubscriptionID string
	OwnerID        string // the subscription's owner; empty for owner-less ones
	Mode           string // ModeNotify, or empty for push
	Ordered        bool   // deliveries sharing a reference id keep publish order
}

// SubscriptionFilter narrows a subscription list.
type SubscriptionFilter struct {
	OwnerID  string
	Event    string
	IsActive *bool
}

// DeliveryRef names the items one queue message needs. With EventKnown, the message
// carries the event and it is not read.
type DeliveryRef struct {
	TenantID, DeliveryID, EventID, SubscriptionID string
	EventKnown                                    bool
}

// DeliveryFilter narrows a delivery list.
type DeliveryFilter struct {
	Status       string
	OwnerID      string // only deliveries to this owner's subscriptions
	Since, Until *time.Time
}

// DeliveryBatch is everything a batch of messages needs, read at once.
type DeliveryBatch struct {
	Deliveries    map[string]Delivery     // by delivery id: the records that exist
	Events        map[string]Event        // by event id
	Subscriptions map[string]Subscription // by subscription id
}

// Outcome sums up the attempts one batch made to one subscription, in order.
type Outcome struct {
	Last         Attempt    // the latest attempt
	LastSuccess  *time.Time // the latest success, if any
	Failures     int        // failures after LastSuccess (or all, without one)
	FirstFailure *time.Time // the first of those failures
}

// Add folds attempt a (made after the ones already added) into o.
func (o *Outcome) Add(a Attempt) {
	o.Last = a
	if a.Outcome == OutcomeSuccess {
		at := a.At
		o.LastSuccess, o.Failures, o.FirstFailure = &at, 0, nil
		return
	}
	o.Failures++
	if o.FirstFailure == nil {
		at := a.At
		o.FirstFailure = &at
	}
}

// Apply returns the status block st after the attempts folded into o: the last
// status code and response always; a success resets the failure count (failures
// after it start a new count); failures with no success add to the count, and
// failingSince keeps the first failure of the run. Stores apply this rule
// atomically, without reading the block first (DynamoDB in one update expression).
func (st Status) Apply(o Outcome) Status {
	ts := func(t time.Time) *time.Time { u := t.UTC(); return &u }
	a := o.Last
	st.LastStatusCode, st.LastResponse, st.LastAttemptAt = a.StatusCode, TruncateUTF8(a.Response, MaxStatusResponse), ts(a.At)
	switch {
	case o.LastSuccess != nil && o.Failures == 0:
		st.LastSuccessAt, st.ConsecutiveFailures, st.FailingSince = ts(*o.LastSuccess), 0, nil
	case o.LastSuccess != nil:
		st.LastSuccessAt, st.ConsecutiveFailures, st.FailingSince = ts(*o.LastSuccess), o.Failures, ts(*o.FirstFailure)
	default:
		if st.FailingSince == nil {
			st.FailingSince = ts(*o.FirstFailure)
		}
		st.ConsecutiveFailures += o.Failures
	}
	return st
}

// Changes reports whether writing o would change what a reader of st (the status
// block the batch read) relies on: the last status code and response, the failure
// count and failingSince, or times more than StatusRefresh older than o's. Failures
// always change it (they count).
func (o Outcome) Changes(st Status) bool {
	a := o.Last
	switch {
	case o.LastSuccess == nil || o.Failures > 0 || a.Outcome != OutcomeSuccess:
		return true
	case st.ConsecutiveFailures != 0 || st.FailingSince != nil:
		return true
	case st.LastStatusCode != a.StatusCode || st.LastResponse != TruncateUTF8(a.Response, MaxStatusResponse):
		return true
	case st.LastAttemptAt == nil || st.LastSuccessAt == nil:
		return true
	}
	return a.At.Sub(*st.LastAttemptAt) >= StatusRefresh || o.LastSuccess.Sub(*st.LastSuccessAt) >= StatusRefresh
}

// StatusRefresh is how far behind the last attempt lastAttemptAt and lastSuccessAt may
// be shown: a batch of successes that changes nothing else in the status block
// leaves it unwritten while the times it holds are less than this old.
const StatusRefresh = time.Minute

// MaxStatusResponse is how much of the last response the status block keeps.
const MaxStatusResponse = 1024

// TruncateUTF8 cuts v to at most max bytes without splitting a character.
func TruncateUTF8(v string, max int) string {
	if len(v) <= max {
		return v
	}
	for max > 0 && !utf8.RuneStart(v[max]) {
		max--
	}
	return v[:max]
}

// NoticeLease is how long a pending notice holds off the next one past its last
// known schedule: if the process that should end it dies, notices resume after this.
const NoticeLease = time.Hour

// FanOutSettle is how long after its creation an event waits before it can show in a
// push subscription's new results: more than the outbox index lags behind the table
// and than an event's clock runs ahead of its PutItem.
const FanOutSettle = 10 * time.Second

// MaxMarkSeen is the most events MarkSeen takes at once (one transaction).
const MaxMarkSeen = 100

// Idempotency record states.
const (
	IdempotencyRunning = "running"
	IdempotencyDone    = "done"
)
