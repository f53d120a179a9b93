package gancho

import (
	"encoding/json"
	"time"
)

// Event is something a tenant published.
type Event struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"-"`
	Type      string     `json:"type"`
	CreatedAt time.Time  `json:"createdAt"`
	OwnerID   string     `json:"ownerId,omitempty"`
	Context   string     `json:"context,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Reference *Reference `json:"reference,omitempty"`
	// TargetSubscriptionID, when set, is the only destination (the test event).
	TargetSubscriptionID string `json:"targetSubscriptionId,omitempty"`
	// AboutSubscriptionID, on an operational event, is the subscription it is about,
	// which never receives it.
	AboutSubscriptionID string `json:"aboutSubscriptionId,omitempty" doc:"operational events: the subscription the event is about (it never receives it)"`
	// CallbackURL, when set, receives the event instead of the subscriptions
	// (a per-request callback).
	CallbackURL string          `json:"callbackUrl,omitempty"`
	Payload     json.RawMessage `json:"data" doc:"the payload as published"`
	// RetrySchedule, when set, is its type's schedule at publish time: it replaces the
	// subscriptions' schedules for this event's deliveries.
	RetrySchedule []int `json:"retrySchedule,omitempty" doc:"its event type's retry schedule when it was published (seconds before each retry), which replaces the subscriptions' own"`
	// DeliverAt, when set, is when the event's deliveries are first attempted
	// (scheduled delivery); they are pending until then.
	DeliverAt *time.Time `json:"deliverAt,omitempty" doc:"scheduled delivery: no delivery is attempted before this time (a manual retry excepted)"`
	// DeliveryCount is how many deliveries the event was queued for; QueuedAt is
	// when its fan-out finished (absent while it is still under way).
	DeliveryCount int        `json:"deliveryCount,omitempty"`
	QueuedAt      *time.Time `json:"queuedAt,omitempty"`
	// Destinations are where the event was queued (set with QueuedAt): the event's
	// deliveries, before each has a record of its own.
	Destinations []Destination `json:"-"`
}

// Destination is one delivery of an event, by the subscription it goes to (or
// CallbackDestination) and that subscription's owner.
type Destination struct {
	SubscriptionID string
	OwnerID        string
}

// PendingDelivery is the delivery of ev to dest before its first attempt, when it has
// no record of its own yet.
func PendingDelivery(ev Event, dest Destination) Delivery {
	return Delivery{ID: DeliveryID(ev.ID, dest.SubscriptionID), TenantID: ev.TenantID, EventID: ev.ID,
		SubscriptionID: dest.SubscriptionID, EventType: ev.Type, OwnerID: dest.OwnerID,
		Status: StatusPending, Attempts: []Attempt{}, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt}
}

// Reference ties an event to a provider object (type and id, e.g. the request it answers).
type Reference struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id"`
}

// CallbackDestination stands for an event's callbackUrl where a subscription id goes.
const CallbackDestination = "callback"

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusRetrying  = "retrying"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Delivery is one event on its way to one subscription.
type Delivery struct {
	ID             string     `json:"id"`
	TenantID       string     `json:"-"`
	EventID        string     `json:"eventId"`
	SubscriptionID string     `json:"subscriptionId"`
	EventType      string     `json:"eventType"`
	OwnerID        string     `json:"ownerId,omitempty"`
	Status         string     `json:"status" schema:"enum=pending|retrying|delivered|failed|cancelled"`
	Attempts       []Attempt  `json:"attempts"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
	// Recorded: the store holds a record of this delivery (written at its first
	// outcome); without one it is pending.
	Recorded bool `json:"-"`
}

// Attempt is one HTTP call made for a delivery.
type Attempt struct {
	Number     int       `json:"number"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"`
	DurationMs int64     `json:"durationMs"`
	Response   string    `json:"response,omitempty"`
	Error      string    `json:"error,omitempty"`
	Outcome    string    `json:"outcome" schema:"enum=success|failure"` // "success" or "failure"
	// RetryAfterSeconds is the receiver's Retry-After on a 429 or 503.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
}

// Attempt outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Final reports whether a delivery status is terminal.
func Final(status string) bool {
	return status == StatusDelivered || status == StatusFailed || status == StatusCancelled
}

// Envelope is an event as a receiver gets it (format envelope) and as pull results
// list it. Data is omitted when empty, which lets the consumer splice the stored
// payload in without encoding it again.
type Envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	OwnerID   string          `json:"ownerId,omitempty"`
	Context   string          `json:"context,omitempty"`
	Subject   string          `json:"subject,omitempty"`
	Reference *Reference      `json:"reference,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Envelope returns ev as a receiver sees it, with its payload.
func (ev Event) Envelope() Envelope {
	return Envelope{ID: ev.ID, Type: ev.Type, CreatedAt: ev.CreatedAt, OwnerID: ev.OwnerID,
		Context: ev.Context, Subject: ev.Subject, Reference: ev.Reference, Data: ev.Payload}
}
