package gancho

import "time"

// A portal link opens the customer portal for one owner of a tenant. Its token is an
// API key bound to that tenant and owner, holding at most PortalScopes, that stops
// authenticating at its expiry.
const (
	PortalLinkMinTTL     = 60 * time.Second
	PortalLinkMaxTTL     = 24 * time.Hour
	PortalLinkDefaultTTL = time.Hour
)

// PortalScopes are what a portal link's key may hold: an owner's subscriptions, the
// catalog, its events and its deliveries; never events:write, keys or tenant settings.
var PortalScopes = []string{
	ScopeSubscriptionsRead, ScopeSubscriptionsWrite, ScopeEventsRead, ScopeDeliveriesRead, ScopeDeliveriesWrite,
}

// PortalLinkInput is the body of POST /v1/portal-links.
type PortalLinkInput struct {
	OwnerID   *string `json:"ownerId" doc:"the owner whose subscriptions the portal shows; required for a tenant-wide key, and an owner-bound key's own owner by default"`
	ExpiresIn *int    `json:"expiresIn" doc:"seconds the link works, 60-86400 (default 3600)"`
}

// PortalLink is a new portal link: the URL to hand to the owner, shown this once.
type PortalLink struct {
	URL       string    `json:"url" doc:"the portal page; the token is in the fragment (#token=...), which browsers never send to a server"`
	ExpiresAt time.Time `json:"expiresAt"`
	KeyID     string    `json:"keyId" doc:"the link's API key: DELETE /v1/api-keys/{keyId} revokes the link before it expires"`
}
