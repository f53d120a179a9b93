package gancho

import (
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
	// CreatedBy is the key id (or "jwt:<issuer>#<sub>", or "admin") of the credential that
	// created this key.
	CreatedBy string    `json:"createdBy,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	Revoked   bool      `json:"revoked,omitempty"`
	// ExpiresAt, when set, is when the key stops authenticating (portal links' keys).
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Portal marks the key behind a customer-portal link: it cannot make portal links.
	Portal bool `json:"portal,omitempty"`
}

// Expired reports whether k has an expiry at or before now.
func (k APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// Principal is who a request acts for, after authentication. The platform
// operator's principal has no TenantID and only the admin scope.
type Principal struct {
	TenantID string
	KeyID    string // API key id, "jwt:<issuer>#<sub>" for a JWT, "admin" for the operator
	Scopes   []string
	OwnerID  string // non-empty: confined to this owner
	Portal   bool   // a customer-portal link's key (see APIKey.Portal)
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
