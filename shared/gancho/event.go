package gancho

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MaxPayloadBytes bounds an event's encoded payload.
const MaxPayloadBytes = 256 * 1024

// EventInput is a publish request.
type EventInput struct {
	Type           string          `json:"type"`
	Payload        json.RawMessage `json:"payload"`
	OwnerID        *string         `json:"ownerId" doc:"\"*\" reaches every owner's subscriptions"`
	Context        *string         `json:"context"`
	Subject        *string         `json:"subject"`
	Reference      *Reference      `json:"reference"`
	CallbackURL    *string         `json:"callbackUrl"`
	IdempotencyKey string          `json:"idempotencyKey" doc:"same as the Idempotency-Key header"`
	DeliverAt      *time.Time      `json:"deliverAt" doc:"scheduled delivery: when the event's deliveries are first attempted (RFC 3339, 1 s to 24 h ahead); absent: at once"`
}

// Scheduled delivery bounds: deliverAt is 1 s to 24 h after the publish.
const (
	MinDeliverAhead = time.Second
	MaxDeliverAhead = 24 * time.Hour
)

// ScheduleLead is how long before its deliverAt a scheduled event is fanned out: the
// longest delay the queue can put on a message (queue.MaxDelay), so its messages wait
// on the queue for the rest.
const ScheduleLead = 15 * time.Minute

// OutboxDue is when an event stored unqueued counts as due for the outbox repair:
// its creation, or for one scheduled beyond ScheduleLead, ScheduleLead before its
// deliverAt (it waits in the outbox until then, on purpose).
func (ev Event) OutboxDue() time.Time {
	if ev.DeliverAt != nil && ev.DeliverAt.Sub(ev.CreatedAt) > ScheduleLead {
		return ev.DeliverAt.Add(-ScheduleLead).UTC()
	}
	return ev.CreatedAt
}

// DeliverDelay is how long the first attempt of ev must still wait at now (0 when it
// is not scheduled or is due), rounded up to whole seconds as the queue counts them.
func (ev Event) DeliverDelay(now time.Time) time.Duration {
	if ev.DeliverAt == nil {
		return 0
	}
	d := ev.DeliverAt.Sub(now)
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

// ScheduledResultsKey is where ev, scheduled and fanned out at queuedAt, sorts among
// a push subscription's new results (ok is false for an event not scheduled: its id
// is its place). An event shows in pull results only from its deliverAt, so it
// sorts there, or at its fan-out if that came later, rather than at its creation:
// a reader's cursor, which passes the creation of every event it reads, may have
// passed this one's long before it is due (up to MaxDeliverAhead), but not its
// deliverAt. The key sorts among event ids by that time and ends with the event's.
func ScheduledResultsKey(ev Event, queuedAt time.Time) (string, bool) {
	if ev.DeliverAt == nil {
		return "", false
	}
	at := *ev.DeliverAt
	if queuedAt.After(at) {
		at = queuedAt
	}
	return ResultsFloor(at) + resultsKeyMark + strings.TrimPrefix(ev.ID, PrefixEvent), true
}

// ResultsFloor is the smallest event id or ScheduledResultsKey at t; every key of
// an event due at or before t sorts before ResultsFloor(t) + "~".
func ResultsFloor(t time.Time) string { return IDFloor(PrefixEvent, t) }

// resultsKeyMark separates a ScheduledResultsKey's time from its event id.
const resultsKeyMark = "."

// ScheduledResultsEvent returns the event id of a ScheduledResultsKey; ok is false
// for anything else (an event id, a delivery id).
func ScheduledResultsEvent(key string) (string, bool) {
	floor := len(PrefixEvent) + idLen
	if len(key) <= floor || !strings.HasPrefix(key, PrefixEvent) || key[floor:floor+1] != resultsKeyMark {
		return "", false
	}
	return PrefixEvent + key[floor+1:], true
}

// BroadcastOwner as an event's ownerId reaches subscriptions of every owner.
const BroadcastOwner = "*"

// TypeTest is the event type sent by subscription tests; it cannot be published.
const TypeTest = "webhook.test"

// NewEvent validates in and returns the event to store.
func NewEvent(tenantID string, in EventInput, now time.Time, policy TargetPolicy) (Event, error) {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if in.Type == "" {
		bad("type", "is required")
	} else if msg := checkEventType(in.Type); msg != "" {
		bad("type", "%s", msg)
	} else if in.Type == TypeTest {
		bad("type", "%s is sent by POST /v1/subscriptions/{id}/test and cannot be published", TypeTest)
	} else if IsOperational(in.Type) {
		bad("type", "%s events are sent by Gancho and cannot be published", OperationalPrefix+"*")
	}
	payload := bytes.TrimSpace(in.Payload)
	if len(payload) == 0 {
		bad("payload", "is required")
	} else if len(payload) > MaxPayloadBytes {
		return Event{}, Errorf(KindTooLarge, "payload must be at most %d bytes", MaxPayloadBytes)
	}
	ev := Event{TenantID: tenantID, Type: in.Type, CreatedAt: now.UTC(), Payload: payload}
	if in.OwnerID != nil {
		if *in.OwnerID != BroadcastOwner {
			if msg := checkToken(*in.OwnerID); msg != "" {
				bad("ownerId", "%s", msg)
			}
		}
		ev.OwnerID = *in.OwnerID
	}
	if in.Context != nil {
		if msg := checkToken(*in.Context); msg != "" {
			bad("context", "%s", msg)
		}
		ev.Context = *in.Context
	}
	if in.Subject != nil {
		if msg := CheckSubject(*in.Subject); msg != "" {
			bad("subject", "%s", msg)
		}
		ev.Subject = *in.Subject
	}
	if in.Reference != nil {
		if msg := checkToken(in.Reference.ID); msg != "" {
			bad("reference.id", "%s", msg)
		}
		if len(in.Reference.Type) > 100 {
			bad("reference.type", "must be at most 100 characters")
		}
		ev.Reference = in.Reference
	}
	if in.CallbackURL != nil {
		if msg := checkURL(*in.CallbackURL, policy); msg != "" {
			bad("callbackUrl", "%s", msg)
		}
		ev.CallbackURL = *in.CallbackURL
	}
	if len(in.IdempotencyKey) > 255 {
		bad("idempotencyKey", "must be at most 255 characters")
	}
	if in.DeliverAt != nil {
		if ahead := in.DeliverAt.Sub(now); ahead < MinDeliverAhead || ahead > MaxDeliverAhead {
			bad("deliverAt", "must be 1 s to 24 h from now (it is %s ahead)", ahead.Round(time.Second))
		} else {
			at := in.DeliverAt.UTC()
			ev.DeliverAt = &at
		}
	}
	if len(errs) > 0 {
		return Event{}, Invalid(errs...)
	}
	ev.ID = NewID(PrefixEvent, now)
	return ev, nil
}

// CheckSubject validates an event's subject, which fills ":id" in receiver URLs:
// 1-512 characters, and not "." or "..", which would stand for a path segment that
// climbs the receiver's path (/hooks/../end) however it is escaped.
func CheckSubject(v string) string {
	switch {
	case v == "" || len(v) > 512:
		return "must be 1-512 characters"
	case v == "." || v == "..":
		return "must not be . or .. (it fills a URL path segment)"
	}
	return ""
}

// MatchPatterns lists the subscription patterns that accept eventType: the type itself,
// "p.*" for each proper prefix p, and "*".
func MatchPatterns(eventType string) []string {
	out := []string{eventType}
	for i := len(eventType) - 1; i > 0; i-- {
		if eventType[i] == '.' {
			out = append(out, eventType[:i]+".*")
		}
	}
	if IsOperational(eventType) {
		return out // asked for by name or "gancho.*", never by a plain "*"
	}
	return append(out, "*")
}

// Accepts reports whether a subscription's patterns accept eventType.
func Accepts(patterns []string, eventType string) bool {
	for _, p := range patterns {
		if p == "*" && !IsOperational(eventType) || p == eventType || strings.HasSuffix(p, ".*") && strings.HasPrefix(eventType, p[:len(p)-1]) {
			return true
		}
	}
	return false
}

// Matches reports whether sub receives ev (the API contract, "Matching"): an owner-less (or
// context-less) subscription gets every event of its types; one with an owner gets that
// owner's events and broadcasts.
func Matches(sub Subscription, ev Event) bool {
	if !sub.IsActive || !Accepts(sub.Events, ev.Type) {
		return false
	}
	if sub.OwnerID != "" && sub.OwnerID != ev.OwnerID && ev.OwnerID != BroadcastOwner {
		return false
	}
	if sub.Context != "" && sub.Context != ev.Context {
		return false
	}
	return true
}
