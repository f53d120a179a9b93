// Package sweeper re-queues deliveries parked in the store because their next retry
// was further away than the queue can delay a message (15 minutes). It runs every
// minute on AWS (an EventBridge schedule) and on a timer locally.
package sweeper

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
)

// Store is what the sweeper needs from storage.
type Store interface {
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]gancho.Delivery, error)
	Unpark(ctx context.Context, d gancho.Delivery) error
}

// Queue is what the sweeper needs from the queue.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
}

// Sweeper moves due parked deliveries back to the queue.
type Sweeper struct {
	store Store
	queue Queue
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Sweeper.
func New(store Store, q Queue, log *slog.Logger, now func() time.Time) *Sweeper {
	return &Sweeper{store: store, queue: q, log: log, now: now}
}

// batch bounds one query per shard; a sweep loops until nothing due is left or ctx ends.
const batch = 100

// Sweep queues every due parked delivery and returns how many it queued. Each one is
// sent before it leaves the index, so a crash in between only causes a duplicate
// message, which the consumer's conditional attempt write makes harmless.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		due, err := s.store.DueDeliveries(ctx, s.now(), batch)
		if err != nil {
			return total, err
		}
		if len(due) == 0 {
			return total, nil
		}
		msgs := make([]queue.Message, 0, len(due))
		for _, d := range due {
			msgs = append(msgs, queue.Message{TenantID: d.TenantID, DeliveryID: d.ID, EventID: d.EventID,
				SubscriptionID: d.SubscriptionID, Attempt: len(d.Attempts) + 1})
		}
		if err := s.queue.Send(ctx, msgs, 0); err != nil {
			return total, err
		}
		for _, d := range due {
			if err := s.store.Unpark(ctx, d); err != nil && !errors.Is(err, gancho.ErrConflict) {
				return total, err
			}
		}
		total += len(due)
		s.log.Info("sweep", "queued", len(due))
	}
	return total, ctx.Err()
}
