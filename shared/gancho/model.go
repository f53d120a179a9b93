package gancho

import (
	"encoding/json"
	"time"
)

// APIKey is a tenant credential; only its hash is stored.
type APIKey struct {
	ID       string   `json:"id"`
	TenantID string   `json:"tenantId"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
	OwnerID  string   `json:"ownerId,omitempty"`
	// MaskedKey is "****" plus the key's last 4 characters, to tell keys apart.
	MaskedKey string `json:"maskedKey,omitempty"`
	// CreatedBy is the key id (or "jwt:<sub>", or "admin") of the credential that
	// created this key.
	CreatedBy string    `json:"createdBy,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// Principal is who a request acts for, after authentication. The platform
// operator's principal has no TenantID and only the admin scope.
type Principal struct {
	TenantID string
	KeyID    string // API key id, "jwt:<sub>" for a JWT, "admin" for the operator
	Scopes   []string
	OwnerID  string // non-empty: confined to this owner
}

// Has reports whether the principal holds scope.
func (p Principal) Has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Scopes a tenant key may hold.
const (
	ScopeSubscriptionsRead  = "subscriptions:read"
	ScopeSubscriptionsWrite = "subscriptions:write"
	ScopeEventsRead         = "events:read"
	ScopeEventsWrite        = "events:write"
	ScopeDeliveriesRead     = "deliveries:read"
	ScopeDeliveriesWrite    = "deliveries:write"
	ScopeKeysRead           = "keys:read"
	ScopeKeysWrite          = "keys:write"
	ScopeTenantWrite        = "tenant:write"
)

// AllTenantScopes is what a tenant's first key receives.
var AllTenantScopes = []string{
	ScopeSubscriptionsRead, ScopeSubscriptionsWrite, ScopeEventsRead, ScopeEventsWrite,
	ScopeDeliveriesRead, ScopeDeliveriesWrite, ScopeKeysRead, ScopeKeysWrite, ScopeTenantWrite,
}

// Event is something a tenant published.
type Event struct {
	ID        string          `json:"id"`
	TenantID  string          `json:"-"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	OwnerID   string          `json:"ownerId,omitempty"`
	Context   string          `json:"context,omitempty"`
	Subject   string          `json:"subject,omitempty"`
	Reference *Reference      `json:"reference,omitempty"`
	Payload   json.RawMessage `json:"data"`
}

// Reference ties an event to a provider object (seed 002's reference_type/reference_id).
type Reference struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id"`
}

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
	Status         string     `json:"status"`
	Attempts       []Attempt  `json:"attempts"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	UpdatedAt      time.Time  `json:"updatedAt"`
}

// Attempt is one HTTP call made for a delivery.
type Attempt struct {
	Number     int       `json:"number"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"statusCode,omitempty"`
	DurationMs int64     `json:"durationMs"`
	Response   string    `json:"response,omitempty"`
	Error      string    `json:"error,omitempty"`
	Outcome    string    `json:"outcome"` // "success" or "failure"
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
