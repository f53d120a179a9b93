package httpapi

import (
	"net/http"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// ScopeNone marks routes that need no credentials.
const ScopeNone = ""

// Route is one API route. Name is also the folder of its Lambda under functions/.
type Route struct {
	Name    string
	Method  string
	Path    string
	Scope   string
	Summary string
	handler func(*API, http.ResponseWriter, *http.Request)
}

// Routes is the one route table: the local server, every route Lambda, the template
// check and the help listing all read it.
func Routes() []Route {
	return []Route{
		{"health", http.MethodGet, "/v1/health", ScopeNone, "liveness", (*API).health},
		{"create-subscription", http.MethodPost, "/v1/subscriptions", gancho.ScopeSubscriptionsWrite, "create a subscription; the response holds its secret", (*API).createSubscription},
		{"list-subscriptions", http.MethodGet, "/v1/subscriptions", gancho.ScopeSubscriptionsRead, "list subscriptions, newest first", (*API).listSubscriptions},
		{"get-subscription", http.MethodGet, "/v1/subscriptions/{id}", gancho.ScopeSubscriptionsRead, "one subscription with its status block", (*API).getSubscription},
		{"delete-subscription", http.MethodDelete, "/v1/subscriptions/{id}", gancho.ScopeSubscriptionsWrite, "delete a subscription; its queued deliveries end cancelled", (*API).deleteSubscription},
		{"publish-event", http.MethodPost, "/v1/events", gancho.ScopeEventsWrite, "publish an event to every matching subscription", (*API).publishEvent},
		{"get-delivery", http.MethodGet, "/v1/deliveries/{id}", gancho.ScopeDeliveriesRead, "a delivery's status and every attempt", (*API).getDelivery},
	}
}
