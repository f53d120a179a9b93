package gancho

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Operational events: Gancho's own events about a tenant's subscriptions and
// deliveries, in every tenant's catalog, delivered like any event to the
// subscriptions that name them. They are never sent to the subscription they are
// about, a plain "*" does not reach them (a subscription asks for them by name or
// with "gancho.*"), and the deliveries of operational events never cause more of
// them, so a failing operational endpoint cannot feed on itself.
const (
	OperationalPrefix         = "gancho."
	TypeSubscriptionDisabled  = "gancho.subscription.disabled"
	TypeSubscriptionFailing   = "gancho.subscription.failing"
	TypeSubscriptionRecovered = "gancho.subscription.recovered"
	TypeDeliveryFailed        = "gancho.delivery.failed"
)

// FailingThresholds are the consecutive failure counts at which
// gancho.subscription.failing is sent, once each per failing run.
var FailingThresholds = []int{5, 20, 100}

// IsOperational reports whether eventType is one of Gancho's own.
func IsOperational(eventType string) bool { return strings.HasPrefix(eventType, OperationalPrefix) }

// operationalTypes are the built-in catalog entries of the operational events.
func operationalTypes() []EventType {
	return []EventType{
		{Name: TypeDeliveryFailed, BuiltIn: true, Description: "A delivery exhausted its retry schedule. Sent by Gancho; it cannot be published."},
		{Name: TypeSubscriptionDisabled, BuiltIn: true, Description: "A subscription was disabled (410 Gone, or failing for 5 days). Sent by Gancho; it cannot be published."},
		{Name: TypeSubscriptionFailing, BuiltIn: true, Description: "A subscription's consecutive failures reached 5, 20 or 100. Sent by Gancho; it cannot be published."},
		{Name: TypeSubscriptionRecovered, BuiltIn: true, Description: "A subscription that had reached 5 consecutive failures delivered again. Sent by Gancho; it cannot be published."},
	}
}

// CrossedThresholds returns the FailingThresholds t with before < t <= after.
func CrossedThresholds(before, after int) []int {
	var out []int
	for _, t := range FailingThresholds {
		if before < t && t <= after {
			out = append(out, t)
		}
	}
	return out
}

// Operational is one operational event to publish, with the idempotency key that
// makes it once: concurrent consumers that see the same change compute the same key.
type Operational struct {
	Event Event
	Key   string
}

// operational builds the event about sub (its owner's, never delivered to sub).
func operational(sub Subscription, eventType string, at time.Time, key string, payload map[string]any) Operational {
	payload["subscriptionId"] = sub.ID
	if sub.Name != "" {
		payload["subscriptionName"] = sub.Name
	}
	raw, _ := json.Marshal(payload) // maps of strings, numbers and times always encode
	return Operational{
		Event: Event{TenantID: sub.TenantID, Type: eventType, CreatedAt: at.UTC(), OwnerID: sub.OwnerID,
			Payload: raw, AboutSubscriptionID: sub.ID},
		Key: OperationalPrefix + key,
	}
}

func unix(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// SubscriptionDisabled is sent when sub (as it was before) is disabled at at.
func SubscriptionDisabled(sub Subscription, reason string, at time.Time) Operational {
	return operational(sub, TypeSubscriptionDisabled, at, "disabled/"+sub.ID+"/"+unix(sub.UpdatedAt),
		map[string]any{"reason": reason, "disabledAt": at.UTC()})
}

// SubscriptionFailing is sent when sub's failing run, begun at since, reaches
// threshold consecutive failures; last is the latest failed attempt.
func SubscriptionFailing(sub Subscription, threshold int, since time.Time, last Attempt) Operational {
	p := map[string]any{"consecutiveFailures": threshold, "failingSince": since.UTC()}
	if last.StatusCode != 0 {
		p["lastStatusCode"] = last.StatusCode
	}
	if last.Error != "" {
		p["lastError"] = last.Error
	}
	return operational(sub, TypeSubscriptionFailing, last.At, "failing/"+sub.ID+"/"+strconv.Itoa(threshold)+"/"+unix(since), p)
}

// SubscriptionRecovered is sent when sub, failing since since (at least the first
// threshold), delivers again at at.
func SubscriptionRecovered(sub Subscription, since, at time.Time) Operational {
	return operational(sub, TypeSubscriptionRecovered, at, "recovered/"+sub.ID+"/"+unix(since),
		map[string]any{"failingSince": since.UTC(), "recoveredAt": at.UTC()})
}

// DeliveryFailed is sent when d (of event ev, to sub) ends failed after its last
// attempt a.
func DeliveryFailed(sub Subscription, ev Event, d Delivery, a Attempt) Operational {
	p := map[string]any{"deliveryId": d.ID, "eventId": ev.ID, "eventType": ev.Type, "attempts": a.Number}
	if a.StatusCode != 0 {
		p["lastStatusCode"] = a.StatusCode
	}
	if a.Error != "" {
		p["lastError"] = a.Error
	}
	return operational(sub, TypeDeliveryFailed, a.At, "delivery-failed/"+d.ID, p)
}
