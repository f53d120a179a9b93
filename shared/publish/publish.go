// Package publish stores an event, finds the subscriptions it goes to and queues one
// delivery per destination.
package publish

import (
	"context"
	"fmt"
	"time"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
)

// Store is what publishing needs from storage.
type Store interface {
	MatchSubscriptions(ctx context.Context, ev gancho.Event) ([]dynamo.Match, error)
	CreateEvent(ctx context.Context, ev gancho.Event, deliveries []gancho.Delivery) error
	MarkEventQueued(ctx context.Context, ev gancho.Event, at time.Time) error
}

// Queue is what publishing needs from the queue.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
}

// Publisher publishes events.
type Publisher struct {
	store Store
	queue Queue
	now   func() time.Time
}

// New returns a Publisher.
func New(store Store, q Queue, now func() time.Time) *Publisher {
	return &Publisher{store: store, queue: q, now: now}
}

// Publish stores ev with one delivery record per matching subscription, then queues
// them. It returns the number of deliveries queued.
func (p *Publisher) Publish(ctx context.Context, ev gancho.Event) (int, error) {
	matches, err := p.store.MatchSubscriptions(ctx, ev)
	if err != nil {
		return 0, err
	}
	deliveries := make([]gancho.Delivery, 0, len(matches))
	msgs := make([]queue.Message, 0, len(matches))
	now := p.now().UTC()
	for _, m := range matches {
		d := gancho.Delivery{
			ID: gancho.DeliveryID(ev.ID, m.SubscriptionID), TenantID: ev.TenantID, EventID: ev.ID,
			SubscriptionID: m.SubscriptionID, EventType: ev.Type, OwnerID: ev.OwnerID,
			Status: gancho.StatusPending, CreatedAt: now, UpdatedAt: now,
		}
		deliveries = append(deliveries, d)
		msgs = append(msgs, queue.Message{TenantID: ev.TenantID, DeliveryID: d.ID, EventID: ev.ID, SubscriptionID: m.SubscriptionID, Attempt: 1})
	}
	if err := p.store.CreateEvent(ctx, ev, deliveries); err != nil {
		return 0, err
	}
	if err := p.queue.Send(ctx, msgs, 0); err != nil {
		return 0, fmt.Errorf("queue deliveries of %s: %w", ev.ID, err)
	}
	if err := p.store.MarkEventQueued(ctx, ev, p.now()); err != nil {
		return 0, err
	}
	return len(deliveries), nil
}
