package httpapi

import (
	"encoding/json"
	"reflect"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/openapi"
)

// routeDocs documents each route of Routes() by name beyond the route table: what is
// not a type (statuses, query and path parameters, descriptions) and which Go types
// its handler decodes and encodes. The document reflects the bodies' schemas from
// those types; openapi.Build reports a route without an entry and an entry that
// names no route, and tests require neither.
var routeDocs = map[string]openapi.Doc{
	"health": {Success: []int{200}, Response: openapi.Out[healthResponse]()},
	"help": {
		Description: "Every route of this API (the /help shape of the pull-results API), straight from the route table.",
		Success:     []int{200}, Response: openapi.Out[[]HelpEntry]()},
	"openapi": {Success: []int{200}, Response: openapi.Out[openAPIDocument]()},

	"create-tenant": {
		Description: "Creates a tenant and its first API key, which holds every tenant scope. The key's value is in this response only.",
		Request:     openapi.In[gancho.TenantInput](),
		Success:     []int{201}, Location: true, Errors: []int{409}, Response: openapi.Out[createdTenant]()},
	"get-tenant": {Success: []int{200}, Response: openapi.Out[gancho.Tenant]()},
	"update-tenant": {
		Description: "A JSON merge patch (RFC 7396) of the settings; write-only values left out or sent masked are kept.",
		Request:     openapi.In[tenantPatch](), MergePatch: true, Success: []int{200}, Response: openapi.Out[gancho.Tenant]()},
	"get-tenant-secret": {
		Description: "The secret that signs callbackUrl deliveries. Every tenant gets one when it is created; a tenant stored without one is 409 (POST /v1/tenant/secret/rotate creates it).",
		Success:     []int{200}, Response: openapi.Out[tenantSecretResponse](), Errors: []int{409}},
	"rotate-tenant-secret": {
		Description: "A new default secret; the previous one also signs until previousValidUntil (24 h).",
		Success:     []int{200}, Response: openapi.Out[tenantSecretResponse]()},

	"create-api-key": {
		Description: "Scopes (and owner) must be within the calling key's own. The key's value is in this response only.",
		Request:     openapi.In[keyInput]("name", "scopes"),
		Success:     []int{201}, Location: true, Response: openapi.Out[createdKey]()},
	"list-api-keys":  {Success: []int{200}, Response: list[gancho.APIKey](), Query: openapi.ListQuery()},
	"get-api-key":    {Success: []int{200}, Response: openapi.Out[gancho.APIKey](), Params: idParam},
	"delete-api-key": {Description: "Revokes the key; caches may honour it for up to 60 s.", Success: []int{204}, Params: idParam},

	"list-event-types": {Success: []int{200}, Response: list[gancho.EventType](), Query: openapi.ListQuery()},
	"put-event-type": {
		Description: "Creates (201) or updates (200) an event type. A schema, when set, is the JSON Schema every published payload of the type must match.",
		Request:     openapi.In[gancho.EventTypeInput](),
		Success:     []int{201, 200}, Location: true, Response: openapi.Out[gancho.EventType](), Params: nameParam},
	"delete-event-type": {
		Description: "Archives the type: no new subscriptions to it or publishes of it; existing subscriptions keep working.",
		Success:     []int{204}, Params: nameParam},

	"create-subscription": {
		Description: "The response holds the subscription's signing secret; reads never show it again. Publishing reuses the subscriptions it found for an event type for a few seconds: a new subscription (or a change, or a delete) may miss (or still get) events published within 5 s after it; a delivery to a deleted or disabled subscription ends cancelled. url is required unless destination names an SQS queue or SNS topic (destination.type sqs or sns), which then takes no url, method, headers, auth or notify mode; a queue or topic in another AWS account needs destination.roleArn, a role there trusting this deployment with the tenant id as external id.",
		Request:     openapi.In[gancho.SubscriptionInput](),
		Success:     []int{201}, Location: true, Response: openapi.Out[gancho.Subscription]()},
	"list-subscriptions": {Success: []int{200}, Response: list[gancho.Subscription](), Query: append(openapi.ListQuery(),
		openapi.Q("event", "only subscriptions whose patterns include this one", openapi.StringSchema),
		openapi.Q("ownerId", "only this owner's subscriptions", openapi.StringSchema),
		openapi.Q("isActive", "only active (true) or inactive (false) subscriptions", openapi.BoolSchema))},
	"get-subscription": {Success: []int{200}, Response: openapi.Out[gancho.Subscription](), Params: idParam},
	"replace-subscription": {
		Description: "Replaces the subscription: omitted fields take their defaults; write-only values left out or sent masked are kept, " + originRule,
		Request:     openapi.In[gancho.SubscriptionInput](), Success: []int{200}, Response: openapi.Out[gancho.Subscription](), Params: idParam},
	"update-subscription": {
		Description: "A JSON merge patch (RFC 7396): null removes a field, so it takes its default. Write-only values left out or sent masked are kept, " + originRule,
		Request:     openapi.In[gancho.SubscriptionInput](), MergePatch: true, Success: []int{200}, Response: openapi.Out[gancho.Subscription](), Params: idParam},
	"delete-subscription":     {Description: "Its queued deliveries end cancelled.", Success: []int{204}, Params: idParam},
	"get-subscription-secret": {Success: []int{200}, Response: openapi.Out[secretResponse](), Params: idParam},
	"rotate-subscription-secret": {
		Description: "A new signing secret; the previous one also signs until previousValidUntil (24 h).",
		Success:     []int{200}, Response: openapi.Out[secretResponse](), Params: idParam},
	"test-subscription": {
		Description: "Sends a webhook.test event to this subscription only. The optional subject fills \":id\" in the URL (default \"test\"). " +
			"A test delivery never counts towards consecutiveFailures, the status block or disabling, whatever the receiver answers. " +
			"Stored write-only values only ever go to the origin they were given for.",
		Request: openapi.In[testInput](), BodyOptional: true,
		Success: []int{202}, Location: true, Params: idParam, Response: openapi.Out[testResponse]()},
	"list-subscription-deliveries": {Success: []int{200}, Response: list[gancho.Delivery](), Params: idParam,
		Query: append(openapi.ListQuery(), openapi.Q("status", "only deliveries in this status", deliveryStatus), sinceParam, untilParam)},
	"recover-subscription": {
		Description: "Re-queues the subscription's failed and cancelled deliveries created in [since, until).",
		Request:     openapi.In[recoverInput]("since"),
		Success:     []int{202}, Params: idParam, Response: openapi.Out[recoverResponse]()},
	"subscription-callback": {
		Description: "Whether there are matched events not yet seen through results.",
		Success:     []int{200}, Params: idParam, Response: openapi.Out[callbackResponse]()},
	"subscription-results": {
		Description: "Without all=true: the events matched since the subscription was last viewed, which marks them viewed. With all=true: all of them within retention, filtered by date. Numbers may be sent as strings. For a push subscription (read from the events queued for it) an event shows among the new ones once every earlier event's fan-out has finished and at least 10 s after it was published; needView and all=true show it at once. An event published with deliverAt shows in neither before then, and then among the new ones once (a push subscription's at least 10 s after its deliverAt).",
		Request:     openapi.In[resultsBody](), BodyOptional: true,
		Query:   []openapi.Param{openapi.Q("all", "all events within retention instead of the unseen ones", openapi.BoolSchema)},
		Success: []int{200}, Params: idParam, Response: openapi.Out[resultsResponse]()},

	"publish-event": {
		Description: "Publishes an event to every matching subscription, or to callbackUrl instead.",
		Request:     openapi.In[gancho.EventInput]("type", "payload"),
		Success:     []int{202}, Location: true, Response: openapi.Out[publishResponse]()},
	"publish-events-batch": {
		Description: "Publishes 1-100 events (body at most 1 MiB), each validated and published on its own, as POST /v1/events would. The answer holds one item per event, in request order: the published event (replayed: true when its idempotencyKey matched an earlier publish), or {error: problem} whose errors name fields from the body's root, e.g. events/3/payload/orderId. Each event's idempotencyKey is scoped as in POST /v1/events; an Idempotency-Key header covers the whole request, and an answer holding a 500 item is not stored under it.",
		Request:     openapi.In[batchRequest](),
		Success:     []int{202}, Errors: []int{413}, Response: openapi.Out[batchResponse]()},
	"list-events": {Success: []int{200}, Response: list[gancho.Event](), Query: append(openapi.ListQuery(),
		openapi.Q("type", "only events of this type", openapi.StringSchema),
		openapi.Q("ownerId", "only this owner's events", openapi.StringSchema),
		openapi.Q("referenceId", "only events with this reference id", openapi.StringSchema),
		sinceParam, untilParam)},
	"get-event":             {Success: []int{200}, Response: openapi.Out[gancho.Event](), Params: idParam},
	"list-event-deliveries": {Description: "One row per destination.", Success: []int{200}, Response: list[gancho.Delivery](), Params: idParam, Query: openapi.ListQuery()},
	"get-delivery":          {Success: []int{200}, Response: openapi.Out[gancho.Delivery](), Params: idParam},
	"retry-delivery": {
		Description: "One more attempt now. A retrying delivery gets its next attempt now instead of at its scheduled time " +
			"(the scheduled one is not made as well; a failure goes on with the retry schedule, except for an ordered delivery, " +
			"where it ends failed); a delivered, failed or cancelled one gets a one-off attempt. A pending delivery is already queued: 409. " +
			"The response is the delivery as GET /v1/deliveries/{id} shows it.",
		Success: []int{202}, Errors: []int{409}, Params: idParam, Response: openapi.Out[gancho.Delivery]()},
	"create-portal-link": {
		Description: "A link to the customer portal, a web page served by this deployment where one owner sees and manages their own subscriptions, the event catalog and their deliveries. " +
			"The link's token is an API key bound to the tenant and the owner, holding the portal scopes the caller holds (subscriptions:read, subscriptions:write, events:read, deliveries:read, deliveries:write); " +
			"it stops authenticating at expiresAt (401), cannot make API keys or portal links, and is carried in the URL fragment, which browsers never send to a server. " +
			"A tenant-wide key must name ownerId; an owner-bound key makes links for its own owner only (403 otherwise).",
		Request: openapi.In[gancho.PortalLinkInput](), BodyOptional: true,
		Success: []int{201}, Response: openapi.Out[gancho.PortalLink]()},
	"portal": {
		Description: "The customer portal page (HTML). It is static: open it through a portal link, whose fragment carries the token the page calls this API with. " +
			"Sent with a Content-Security-Policy allowing only this origin's scripts, styles and connections.",
		Success: []int{200}, Response: openapi.Out[string](), Media: []string{"text/html"}},
	"portal-asset": {
		Description: "A script (text/javascript) or stylesheet (text/css) of the customer portal page, with the page's Content-Security-Policy.",
		Success:     []int{200}, Response: openapi.Out[string](), Media: []string{"text/javascript", "text/css"},
		Params: map[string]string{"asset": "the file, e.g. app.js or app.css"}},
	"redrive-dead-letters": {
		Description: "Moves the dead-letter queue's messages back to the deliveries queue.",
		Success:     []int{202}, Response: openapi.Out[redriveResponse]()},
}

// originRule is the API contract, "Write-only values follow the origin", said on PUT and PATCH.
const originRule = "unless url or auth.url moves to another origin (scheme, host, port): then every stored write-only value " +
	"(auth.value, sensitive headers, token request headers and body fields) must be sent again, or 422 names each missing one."

var (
	idParam        = map[string]string{"id": "the object's id"}
	nameParam      = map[string]string{"name": "the event type, e.g. crm.lead.created"}
	deliveryStatus = map[string]any{"type": "string", "enum": []any{
		gancho.StatusPending, gancho.StatusRetrying, gancho.StatusDelivered, gancho.StatusFailed, gancho.StatusCancelled}}
	sinceParam = openapi.Q("since", "only objects created at or after this time (RFC 3339)", openapi.DateTimeSchema)
	untilParam = openapi.Q("until", "only objects created before this time (RFC 3339)", openapi.DateTimeSchema)
)

// list is a page of T as the handlers encode it (listResponse).
func list[T any]() openapi.Body {
	return openapi.List[listResponse[json.RawMessage]](openapi.Out[T]())
}

// componentNames names components whose Go type names are not what the API calls them.
var componentNames = map[reflect.Type]string{
	reflect.TypeFor[problem]():              "Problem",
	reflect.TypeFor[healthResponse]():       "Health",
	reflect.TypeFor[openAPIDocument]():      "OpenAPIDocument",
	reflect.TypeFor[gancho.TenantInput]():   "TenantCreate",
	reflect.TypeFor[createdTenant]():        "TenantCreated",
	reflect.TypeFor[gancho.Tenant]():        "TenantSettings",
	reflect.TypeFor[tenantPatch]():          "TenantPatch",
	reflect.TypeFor[tenantSecretResponse](): "TenantSecret",
	reflect.TypeFor[secretResponse]():       "Secret",
	reflect.TypeFor[keyInput]():             "APIKeyCreate",
	reflect.TypeFor[createdKey]():           "APIKeyCreated",
	reflect.TypeFor[gancho.APIKey]():        "APIKey",
	reflect.TypeFor[testInput]():            "TestInput",
	reflect.TypeFor[testResponse]():         "TestSent",
	reflect.TypeFor[recoverInput]():         "RecoverInput",
	reflect.TypeFor[recoverResponse]():      "Recovered",
	reflect.TypeFor[callbackResponse]():     "Callback",
	reflect.TypeFor[resultsBody]():          "ResultsQuery",
	reflect.TypeFor[resultsResponse]():      "Results",
	reflect.TypeFor[publishResponse]():      "Published",
	reflect.TypeFor[batchRequest]():         "EventBatch",
	reflect.TypeFor[batchResponse]():        "BatchPublishResult",
	reflect.TypeFor[batchPublished]():       "BatchPublished",
	reflect.TypeFor[batchFailed]():          "BatchFailed",
	reflect.TypeFor[redriveResponse]():      "Redriven",
	reflect.TypeFor[notice]():               "Notice",

	// The customer portal's link.
	reflect.TypeFor[gancho.PortalLinkInput](): "PortalLinkCreate",
	reflect.TypeFor[gancho.PortalLink]():      "PortalLink",
}
