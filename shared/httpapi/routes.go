package httpapi

import (
	"net/http"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Route scopes beyond the tenant scopes in package gancho.
const (
	// ScopeNone marks routes that need no credentials.
	ScopeNone = auth.ScopeNone
	// ScopeAuthenticated marks routes any valid credential may call.
	ScopeAuthenticated = auth.ScopeAuthenticated
	// ScopeAdmin is the platform operator's (tenants, dead letters); never a tenant scope.
	ScopeAdmin = auth.ScopeAdmin
)

// Route is one API route. Name is also the folder of its Lambda under functions/.
// Access is what its Lambda may do to the table and queues; template.yaml grants
// exactly that.
type Route struct {
	Name    string
	Method  string
	Path    string
	Scope   string
	Access  Access
	Summary string
	handler func(*API, http.ResponseWriter, *http.Request)
}

// Routes is the one route table: the local server, every route Lambda, the template
// check, /v1/help and /v1/openapi.json all read it.
func Routes() []Route {
	return []Route{
		{"health", http.MethodGet, "/v1/health", ScopeNone, AccessNone, "liveness", (*API).health},
		{"help", http.MethodGet, "/v1/help", ScopeNone, AccessNone, "every route of this API", (*API).help},
		{"openapi", http.MethodGet, "/v1/openapi.json", ScopeNone, AccessNone, "the OpenAPI 3.1 document of this API", (*API).openAPI},

		{"create-tenant", http.MethodPost, "/v1/tenants", ScopeAdmin, AccessWrite, "create a tenant; the response holds its first API key, once", (*API).createTenant},
		{"get-tenant", http.MethodGet, "/v1/tenant", ScopeAuthenticated, AccessRead, "the calling tenant's settings", (*API).getTenant},
		{"update-tenant", http.MethodPatch, "/v1/tenant", gancho.ScopeTenantWrite, AccessWrite, "change the tenant's settings (JSON merge patch)", (*API).updateTenant},
		{"get-tenant-secret", http.MethodGet, "/v1/tenant/secret", gancho.ScopeTenantWrite, AccessRead, "the tenant's default signing secret (signs callbackUrl deliveries)", (*API).getTenantSecret},
		{"rotate-tenant-secret", http.MethodPost, "/v1/tenant/secret/rotate", gancho.ScopeTenantWrite, AccessWrite, "replace the tenant's default secret; the old one still signs for 24 h", (*API).rotateTenantSecret},

		{"create-api-key", http.MethodPost, "/v1/api-keys", gancho.ScopeKeysWrite, AccessWrite, "create an API key within the caller's own scopes and owner; shown once", (*API).createAPIKey},
		{"list-api-keys", http.MethodGet, "/v1/api-keys", gancho.ScopeKeysRead, AccessRead, "list API keys (never their values)", (*API).listAPIKeys},
		{"get-api-key", http.MethodGet, "/v1/api-keys/{id}", gancho.ScopeKeysRead, AccessRead, "one API key (never its value)", (*API).getAPIKey},
		{"delete-api-key", http.MethodDelete, "/v1/api-keys/{id}", gancho.ScopeKeysWrite, AccessWrite, "revoke an API key", (*API).deleteAPIKey},

		{"list-event-types", http.MethodGet, "/v1/event-types", gancho.ScopeSubscriptionsRead, AccessRead, "the tenant's event-type catalog; webhook.test and the operational gancho.* types are always listed", (*API).listEventTypes},
		{"put-event-type", http.MethodPut, "/v1/event-types/{name}", gancho.ScopeSubscriptionsWrite, AccessWrite, "create or update an event type, with an optional JSON Schema for its payload", (*API).putEventType},
		{"delete-event-type", http.MethodDelete, "/v1/event-types/{name}", gancho.ScopeSubscriptionsWrite, AccessWrite, "archive an event type: no new subscriptions or publishes; existing ones keep working", (*API).deleteEventType},

		{"create-subscription", http.MethodPost, "/v1/subscriptions", gancho.ScopeSubscriptionsWrite, AccessWrite, "create a subscription; the response holds its secret", (*API).createSubscription},
		{"list-subscriptions", http.MethodGet, "/v1/subscriptions", gancho.ScopeSubscriptionsRead, AccessRead, "list subscriptions, newest first; filters event, ownerId, isActive", (*API).listSubscriptions},
		{"get-subscription", http.MethodGet, "/v1/subscriptions/{id}", gancho.ScopeSubscriptionsRead, AccessRead, "one subscription with its status block, without its secret", (*API).getSubscription},
		{"replace-subscription", http.MethodPut, "/v1/subscriptions/{id}", gancho.ScopeSubscriptionsWrite, AccessWrite, "replace a subscription: omitted fields take their defaults, write-only values are kept", (*API).replaceSubscription},
		{"update-subscription", http.MethodPatch, "/v1/subscriptions/{id}", gancho.ScopeSubscriptionsWrite, AccessWrite, "change a subscription with a JSON merge patch (RFC 7396)", (*API).updateSubscription},
		{"delete-subscription", http.MethodDelete, "/v1/subscriptions/{id}", gancho.ScopeSubscriptionsWrite, AccessWrite, "delete a subscription; its queued deliveries end cancelled", (*API).deleteSubscription},
		{"get-subscription-secret", http.MethodGet, "/v1/subscriptions/{id}/secret", gancho.ScopeSubscriptionsWrite, AccessRead, "the subscription's signing secret", (*API).getSubscriptionSecret},
		{"rotate-subscription-secret", http.MethodPost, "/v1/subscriptions/{id}/secret/rotate", gancho.ScopeSubscriptionsWrite, AccessWrite, "replace the signing secret; the old one also signs for 24 h", (*API).rotateSubscriptionSecret},

		{"test-subscription", http.MethodPost, "/v1/subscriptions/{id}/test", gancho.ScopeSubscriptionsWrite, AccessWrite | AccessQueue, "send a webhook.test event to this subscription only", (*API).testSubscription},
		{"list-subscription-deliveries", http.MethodGet, "/v1/subscriptions/{id}/deliveries", gancho.ScopeDeliveriesRead, AccessRead, "the subscription's deliveries, newest first; filters status, since, until", (*API).listSubscriptionDeliveries},
		{"recover-subscription", http.MethodPost, "/v1/subscriptions/{id}/recover", gancho.ScopeDeliveriesWrite, AccessWrite | AccessQueue, "re-queue the subscription's failed and cancelled deliveries since a time", (*API).recoverSubscription},
		{"subscription-callback", http.MethodGet, "/v1/subscriptions/{id}/callback", gancho.ScopeEventsRead, AccessRead, "whether the subscription has matched events not yet read through results", (*API).subscriptionCallback},
		{"subscription-results", http.MethodPost, "/v1/subscriptions/{id}/results", gancho.ScopeEventsRead, AccessWrite, "the events matched since the last read, marked read; with ?all=true every event within retention, by date", (*API).subscriptionResults},

		{"publish-event", http.MethodPost, "/v1/events", gancho.ScopeEventsWrite, AccessWrite | AccessQueue | AccessOrderedQueue, "publish an event to every matching subscription", (*API).publishEvent},
		{"publish-events-batch", http.MethodPost, "/v1/events/batch", gancho.ScopeEventsWrite, AccessWrite | AccessQueue | AccessOrderedQueue, "publish up to 100 events at once; one result or problem per event, in order", (*API).publishEventsBatch},
		{"list-events", http.MethodGet, "/v1/events", gancho.ScopeEventsRead, AccessRead, "list events, newest first; filters type, ownerId, referenceId, since, until", (*API).listEvents},
		{"get-event", http.MethodGet, "/v1/events/{id}", gancho.ScopeEventsRead, AccessRead, "one event with its payload", (*API).getEvent},
		{"list-event-deliveries", http.MethodGet, "/v1/events/{id}/deliveries", gancho.ScopeDeliveriesRead, AccessRead, "an event's deliveries, one per destination", (*API).listEventDeliveries},
		{"get-delivery", http.MethodGet, "/v1/deliveries/{id}", gancho.ScopeDeliveriesRead, AccessRead, "a delivery's status and every attempt", (*API).getDelivery},
		{"retry-delivery", http.MethodPost, "/v1/deliveries/{id}/retry", gancho.ScopeDeliveriesWrite, AccessWrite | AccessQueue, "one more attempt of a delivery, now", (*API).retryDelivery},
		{"create-portal-link", http.MethodPost, "/v1/portal-links", gancho.ScopeSubscriptionsWrite, AccessWrite, "a short-lived link to the customer portal for one owner", (*API).createPortalLink},
		{"portal", http.MethodGet, "/portal", ScopeNone, AccessNone, "the customer portal page (open it through a portal link)", (*API).portalPage},
		{"portal-asset", http.MethodGet, "/portal/{asset}", ScopeNone, AccessNone, "the customer portal's scripts and styles", (*API).portalAsset},
		{"redrive-dead-letters", http.MethodPost, "/v1/dead-letters/redrive", ScopeAdmin, AccessWrite | AccessQueue | AccessDeadLetters, "move the dead-letter queue back to delivery", (*API).redriveDeadLetters},
	}
}

// MaxPathIDLength bounds an {id} in a path: no id Gancho issues is near it, so a
// longer one names nothing (404) and never reaches the store.
const MaxPathIDLength = 200
