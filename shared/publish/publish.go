// Package publish stores an event, finds the subscriptions it goes to and queues one
// delivery per destination, so that no stored event is ever left unqueued.
//
// Two write plans. Most events (small enough to travel in their messages, fanned out
// inline, with no notify subscription) are queued first and then stored once, already
// marked queued with their destinations: one item written, no outbox. If the
// process dies in between, the deliveries go out and the event is not stored; the
// caller got no answer and retries (under its idempotency key, the same event id and
// delivery ids, which the consumer does not attempt twice). The others are stored
// first in the outbox, queued, then marked queued; the sweeper finishes what a dead
// process left.
package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/queue"
)

// Store is what publishing needs from storage.
type Store interface {
	MatchSubscriptions(ctx context.Context, ev gancho.Event) ([]gancho.Match, error)
	CreateEvent(ctx context.Context, ev gancho.Event) error
	MarkEventQueued(ctx context.Context, ev gancho.Event, at time.Time, dests []gancho.Destination) error
	GetEvent(ctx context.Context, tenant, id string) (gancho.Event, error)
	ClaimPublishKey(ctx context.Context, tenant, key string, claim gancho.PublishClaim) (gancho.PublishClaim, bool, error)
	AbandonPublishKey(ctx context.Context, tenant, key string, claim gancho.PublishClaim) error
	Inbox
	BatchStore
}

// Queue is what publishing needs from the queue.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
	SendOrdered(ctx context.Context, msgs []queue.Message, groups []string) error
}

// Publisher publishes events.
type Publisher struct {
	store Store
	queue Queue
	now   func() time.Time
	// inline is the largest fan-out done while the publisher waits; larger ones are
	// handed to the delivery consumer as one fan-out message.
	inline int
	// batchInline is the most deliveries a batch publish queues inline, all its
	// events together.
	batchInline int
	// takeover is how long a claimed idempotency key whose event never appeared
	// blocks repeats (the first request is presumed still running).
	takeover time.Duration
	metrics  Recorder
}

// Recorder counts what publishing did (package metrics).
type Recorder interface {
	EventsPublished(n int)
	FanOut(deliveries int)
}

// DefaultInlineFanOut is the largest fan-out done inside the publish request.
const DefaultInlineFanOut = 50

// New returns a Publisher.
func New(store Store, q Queue, now func() time.Time) *Publisher {
	return &Publisher{store: store, queue: q, now: now, inline: DefaultInlineFanOut, batchInline: DefaultBatchInlineFanOut,
		takeover: gancho.IdempotencyLease, metrics: metrics.Discard{}}
}

// WithMetrics sets where publishing counts events and fan-outs (default: nowhere).
func (p *Publisher) WithMetrics(r Recorder) *Publisher { p.metrics = r; return p }

// record counts a publish that did not fail: a new event, and its fan-out unless it
// continues in the background (ResumeFanOut records it then).
func (p *Publisher) record(res Result) {
	if res.Replayed {
		return
	}
	p.metrics.EventsPublished(1)
	if !res.Background {
		p.metrics.FanOut(res.Deliveries)
	}
}

// WithInlineFanOut sets the largest fan-out done inline (tests use small numbers).
func (p *Publisher) WithInlineFanOut(n int) *Publisher { p.inline = n; return p }

// WithBatchInlineFanOut sets the most deliveries a batch publish queues inline.
func (p *Publisher) WithBatchInlineFanOut(n int) *Publisher { p.batchInline = n; return p }

// Result is what a publish did.
type Result struct {
	Event      gancho.Event
	Deliveries int  // queued so far
	Background bool // the fan-out continues in the delivery consumer
	Replayed   bool // an earlier publish with the same idempotency key
}

// Errors of a publish under an idempotency key, as causes of its conflict error.
var (
	// ErrKeyReused: the key was used for a different event.
	ErrKeyReused = errors.New("idempotency key used for a different event")
	// ErrStillRunning: the key's first publish has not stored its event yet.
	ErrStillRunning = errors.New("a publish with this idempotency key is still running")
)

// FieldIdempotencyKey is the field a publish idempotency conflict names; the HTTP
// API renames it when the key came in the Idempotency-Key header.
const FieldIdempotencyKey = "idempotencyKey"

// ScopedKey is the idempotency key of a publish by credential (the caller's
// gancho.Principal.KeyID) for owner: keys are per credential (the API contract), so
// another credential of the tenant that sends the same value publishes its own event.
// The parts are length-prefixed, so no choice of them can pass for another.
func ScopedKey(credential, owner, key string) string {
	var b strings.Builder
	for _, part := range []string{credential, owner, key} {
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return b.String()
}

// Publish stores ev and queues its deliveries. With an idempotency key (see
// ScopedKey), a repeat with the same request (hash) returns the first event and
// queues nothing; another request under the same key is a conflict. A repeat after
// the first publish died before storing its event (its claim is older than the
// takeover time, or was abandoned on an error) stores the event under the first
// one's id, so a retry after a crash or a timeout never makes a second event.
func (p *Publisher) Publish(ctx context.Context, ev gancho.Event, idemKey, hash string) (Result, error) {
	var claim gancho.PublishClaim
	if idemKey != "" {
		var fresh bool
		var err error
		claim, fresh, err = p.store.ClaimPublishKey(ctx, ev.TenantID, idemKey,
			gancho.PublishClaim{EventID: ev.ID, Hash: hash, ClaimedAt: p.now().UTC()})
		if err != nil {
			return Result{}, err
		}
		if !fresh {
			if claim.Hash != hash {
				return Result{}, reused()
			}
			first, err := p.store.GetEvent(ctx, ev.TenantID, claim.EventID)
			switch {
			case err == nil:
				return Result{Event: first, Deliveries: first.DeliveryCount, Replayed: true}, nil
			case !errors.Is(err, gancho.ErrNotFound):
				return Result{}, err
			case p.now().Sub(claim.ClaimedAt) < p.takeover:
				return Result{}, stillRunning()
			}
			// The first request died before storing its event: finish its work
			// under its event id.
			ev.ID = claim.EventID
		}
	}
	res, err := p.storeAndFanOut(ctx, ev, idemKey, claim)
	if err == nil {
		p.record(res)
	}
	return res, err
}

// storeAndFanOut stores ev, whose idempotency key (if any) it holds under claim, and
// queues its deliveries.
func (p *Publisher) storeAndFanOut(ctx context.Context, ev gancho.Event, idemKey string, claim gancho.PublishClaim) (Result, error) {
	// notStored ends a run that did not store the event: a retry may take the key
	// over at once, under the same event id (so even an event that was stored after
	// all is not stored twice).
	notStored := func(err error) (Result, error) {
		if errors.Is(err, gancho.ErrConflict) && idemKey != "" {
			return Result{}, stillRunning()
		}
		if idemKey != "" {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			claim.EventID = ev.ID
			if aerr := p.store.AbandonPublishKey(actx, ev.TenantID, idemKey, claim); aerr != nil {
				err = errors.Join(err, aerr)
			}
		}
		return Result{}, err
	}
	if scheduledAfterLead(ev, p.now()) {
		// It waits in the outbox, due ScheduleLead before its deliverAt, when the
		// sweeper hands it to the consumer, which matches it then and fans it out with
		// the rest as a delay: matching it now would be a read for nothing.
		if err := p.store.CreateEvent(ctx, ev); err != nil {
			return notStored(err)
		}
		return Result{Event: ev, Background: true}, nil
	}
	matches, err := p.destinations(ctx, ev)
	if err != nil {
		return notStored(err)
	}
	if !queuedFirst(ev, matches, p.inline) {
		if err := p.store.CreateEvent(ctx, ev); err != nil {
			return notStored(err)
		}
		n, background, err := p.fanOutStored(ctx, ev, matches, false, false)
		if err != nil {
			// The event is stored and in the outbox: the sweeper will queue it.
			return Result{}, fmt.Errorf("queue deliveries of %s (the sweeper will retry): %w", ev.ID, err)
		}
		ev.DeliveryCount = n
		return Result{Event: ev, Deliveries: n, Background: background}, nil
	}
	if err := p.queueDeliveries(ctx, ev, matches); err != nil {
		return notStored(fmt.Errorf("queue deliveries of %s: %w", ev.ID, err))
	}
	now := p.now().UTC()
	ev.QueuedAt, ev.DeliveryCount, ev.Destinations = &now, len(matches), destinationsOf(matches)
	if err := p.store.CreateEvent(ctx, ev); err != nil {
		return notStored(fmt.Errorf("store %s after queueing its deliveries: %w", ev.ID, err))
	}
	return Result{Event: ev, Deliveries: len(matches)}, nil
}

// scheduledAfterLead reports whether ev's deliverAt is further ahead of now than the
// queue can delay a message: its fan-out waits in the outbox (gancho.Event.OutboxDue).
func scheduledAfterLead(ev gancho.Event, now time.Time) bool {
	return ev.DeliverDelay(now) > queue.MaxDelay
}

// queuedFirst reports whether ev's deliveries are queued before it is stored: when
// its messages carry it (the consumer needs no read of it), its fan-out is inline,
// and no notify subscription's inbox must point to it first.
func queuedFirst(ev gancho.Event, matches []gancho.Match, inline int) bool {
	if len(matches) > inline || !queue.Embeddable(ev) {
		return false
	}
	for _, m := range matches {
		if m.Mode == gancho.ModeNotify {
			return false
		}
	}
	return true
}

// destinations are the subscriptions ev goes to: its target or its callback, or the
// matching subscriptions.
func (p *Publisher) destinations(ctx context.Context, ev gancho.Event) ([]gancho.Match, error) {
	if ev.TargetSubscriptionID != "" {
		// A test event goes to its one subscription, on repair too.
		return []gancho.Match{{SubscriptionID: ev.TargetSubscriptionID, OwnerID: ev.OwnerID}}, nil
	}
	if ev.CallbackURL != "" {
		// A per-request callback: the event goes to it instead of the subscriptions,
		// always in publish order per reference.
		return []gancho.Match{{SubscriptionID: gancho.CallbackDestination, OwnerID: ev.OwnerID, Ordered: true}}, nil
	}
	matches, err := p.store.MatchSubscriptions(ctx, ev)
	if err != nil || ev.AboutSubscriptionID == "" {
		return matches, err
	}
	// An operational event never goes to the subscription it is about. A copy: the
	// store may share its slice with its match cache.
	out := make([]gancho.Match, 0, len(matches))
	for _, m := range matches {
		if m.SubscriptionID != ev.AboutSubscriptionID {
			out = append(out, m)
		}
	}
	return out, nil
}

// PublishOperational publishes one of Gancho's operational events under its key,
// once: a repeat with the same key (another consumer saw the same change, or a batch
// processed again) publishes nothing more. The key lives in a space of Gancho's own,
// apart from every credential's.
func (p *Publisher) PublishOperational(ctx context.Context, op gancho.Operational) error {
	ev := op.Event
	ev.ID = gancho.NewID(gancho.PrefixEvent, ev.CreatedAt)
	sum := sha256.Sum256([]byte(op.Key))
	_, err := p.Publish(ctx, ev, ScopedKey(gancho.OperationalPrefix, "", op.Key), hex.EncodeToString(sum[:]))
	return err
}

func destinationsOf(matches []gancho.Match) []gancho.Destination {
	out := make([]gancho.Destination, len(matches))
	for i, m := range matches {
		out[i] = gancho.Destination{SubscriptionID: m.SubscriptionID, OwnerID: m.OwnerID}
	}
	return out
}

func keyConflict(cause error, detail, message string) error {
	return &gancho.Error{Kind: gancho.KindConflict, Detail: detail, Err: cause,
		Fields: []gancho.FieldError{{Field: FieldIdempotencyKey, Message: message}}}
}

func reused() error {
	return keyConflict(ErrKeyReused,
		"this idempotency key was already used within 24 h for a different event; use a new key",
		"was used for a different event")
}

func stillRunning() error {
	return keyConflict(ErrStillRunning,
		"a publish with this idempotency key is still running; retry shortly to get its event",
		"is in use by a publish that is still running")
}

// fanOutStored queues the deliveries of ev, stored in the outbox, to matches, then
// takes it out of the outbox with its destinations. A fan-out larger than the inline
// limit is handed to the delivery consumer as one message, unless inBackground (the
// consumer or the sweeper running it). With repair, inbox items already written are
// kept; re-sent messages for deliveries already under way are dropped by the
// consumer (their attempt number is stale).
func (p *Publisher) fanOutStored(ctx context.Context, ev gancho.Event, matches []gancho.Match, inBackground, repair bool) (int, bool, error) {
	if len(matches) > p.inline && !inBackground {
		msg := queue.Message{Kind: queue.KindFanOut, TenantID: ev.TenantID, EventID: ev.ID}
		if err := p.queue.Send(ctx, []queue.Message{msg}, 0); err != nil {
			return 0, false, err
		}
		return 0, true, nil
	}
	// Every match goes to its subscription's inbox; coalesced notices drop out here.
	matches, err := p.pull(ctx, ev, matches, repair)
	if err != nil {
		return 0, false, err
	}
	if err := p.queueDeliveries(ctx, ev, matches); err != nil {
		return 0, false, err
	}
	if err := p.store.MarkEventQueued(ctx, ev, p.now(), destinationsOf(matches)); err != nil {
		return 0, false, err
	}
	return len(matches), false, nil
}

// queueDeliveries queues the first attempt of each delivery of ev to matches (ordered
// ones on the FIFO queue, grouped by destination and reference). No record is written:
// a delivery's record is written at its first outcome.
func (p *Publisher) queueDeliveries(ctx context.Context, ev gancho.Event, matches []gancho.Match) error {
	const chunk = 500
	for start := 0; start < len(matches); start += chunk {
		msgs, ordered, groups := messagesOf(ev, matches[start:min(start+chunk, len(matches))])
		// A scheduled event's messages wait on the queue until its deliverAt; ordered
		// ones cannot (FIFO queues have no per-message delay): the consumer holds them.
		if err := p.queue.Send(ctx, msgs, min(ev.DeliverDelay(p.now()), queue.MaxDelay)); err != nil {
			return err
		}
		if len(ordered) > 0 {
			if err := p.queue.SendOrdered(ctx, ordered, groups); err != nil {
				return err
			}
		}
	}
	return nil
}

// messagesOf makes the first messages of the deliveries of ev to matches: msgs for the
// deliveries queue, ordered (with their message groups) for the FIFO one. They carry
// the event when it fits.
func messagesOf(ev gancho.Event, matches []gancho.Match) (msgs, ordered []queue.Message, groups []string) {
	var carried *gancho.Event
	if queue.Embeddable(ev) {
		carried = &ev
	}
	msgs = make([]queue.Message, 0, len(matches))
	for _, m := range matches {
		msg := queue.Message{TenantID: ev.TenantID, DeliveryID: gancho.DeliveryID(ev.ID, m.SubscriptionID), EventID: ev.ID,
			SubscriptionID: m.SubscriptionID, Attempt: 1, Event: carried}
		if m.Ordered && ev.Reference != nil && ev.Reference.ID != "" {
			ordered = append(ordered, msg)
			groups = append(groups, orderGroup(ev.TenantID, m.SubscriptionID, ev.Reference.ID))
			continue
		}
		msgs = append(msgs, msg)
	}
	return msgs, ordered, groups
}

// orderGroup is the FIFO message group of a destination and reference: hashed, since
// SQS accepts only up to 128 printable ASCII characters and references may hold more.
func orderGroup(tenant, destination, reference string) string {
	sum := sha256.Sum256([]byte(tenant + "\x00" + destination + "\x00" + reference))
	return hex.EncodeToString(sum[:])
}

// ResumeFanOut runs a fan-out handed to the background, or repairs one that a dead
// process left unfinished.
func (p *Publisher) ResumeFanOut(ctx context.Context, tenant, eventID string, repair bool) (int, error) {
	ev, err := p.store.GetEvent(ctx, tenant, eventID)
	if errors.Is(err, gancho.ErrNotFound) {
		return 0, nil // expired meanwhile: nothing left to deliver
	}
	if err != nil {
		return 0, err
	}
	if ev.QueuedAt != nil {
		return ev.DeliveryCount, nil
	}
	if scheduledAfterLead(ev, p.now()) {
		return 0, nil // not due yet: the sweeper hands it over again when it is
	}
	matches, err := p.destinations(ctx, ev)
	if err != nil {
		return 0, err
	}
	n, _, err := p.fanOutStored(ctx, ev, matches, true, repair)
	if err == nil {
		p.metrics.FanOut(n)
	}
	return n, err
}
