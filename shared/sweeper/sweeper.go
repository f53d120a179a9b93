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
	PendingEvents(ctx context.Context, olderThan time.Time, limit int) ([]gancho.Event, error)
	Unpark(ctx context.Context, d gancho.Delivery) error
}

// Queue is what the sweeper needs from the queue.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
}

// Sweeper moves due parked deliveries back to the queue and repairs events whose
// deliveries were never all queued.
type Sweeper struct {
	store Store
	queue Queue
	log   *slog.Logger
	now   func() time.Time
	// grace is how long an event may sit in the outbox before it counts as stuck.
	grace time.Duration
}

// DefaultGrace leaves a publish (or a background fan-out) time to finish on its own.
const DefaultGrace = 2 * time.Minute

// New returns a Sweeper.
func New(store Store, q Queue, log *slog.Logger, now func() time.Time) *Sweeper {
	return &Sweeper{store: store, queue: q, log: log, now: now, grace: DefaultGrace}
}

// WithGrace sets how old an outbox entry must be to be repaired (tests).
func (s *Sweeper) WithGrace(d time.Duration) *Sweeper { s.grace = d; return s }

// batch bounds one query per shard; a sweep loops until nothing due is left or ctx ends.
const batch = 100

// Sweep hands stuck events to the consumer, then queues every due parked delivery;
// it returns how many messages it sent (fan-outs and deliveries).
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	// One stuck event must never stop parked retries: both always run.
	repaired, rerr := s.repairOutbox(ctx)
	n, uerr := s.unpark(ctx)
	return repaired + n, errors.Join(rerr, uerr)
}

// repairOutbox re-queues the fan-out of events stored more than the grace period ago
// whose deliveries were never all queued: the process died in between. A scheduled
// event far ahead counts from when its fan-out is due (gancho.Event.OutboxDue), so it
// is handed over ScheduleLead less the grace before its deliverAt, and the consumer
// delays its messages for the rest. Delivery ids
// are deterministic and the consumer keeps existing records, so this never
// duplicates work.
func (s *Sweeper) repairOutbox(ctx context.Context) (int, error) {
	stuck, err := s.store.PendingEvents(ctx, s.now().Add(-s.grace), batch)
	if err != nil {
		return 0, err
	}
	// Each stuck event is handed to the consumer as a fan-out message, so a large one
	// never runs inside the sweeper, and one that fails does not hold up the others.
	msgs := make([]queue.Message, 0, len(stuck))
	for _, ev := range stuck {
		msgs = append(msgs, queue.Message{Kind: queue.KindFanOut, TenantID: ev.TenantID, EventID: ev.ID})
		if ev.DeliverAt != nil && !ev.OutboxDue().Equal(ev.CreatedAt) {
			// Scheduled far ahead: it waited in the outbox on purpose until now.
			s.log.Info("fanning out scheduled event", "tenantId", ev.TenantID, "eventId", ev.ID, "deliverAt", ev.DeliverAt)
			continue
		}
		s.log.Warn("repairing unqueued event", "tenantId", ev.TenantID, "eventId", ev.ID)
	}
	if err := s.queue.Send(ctx, msgs, 0); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

// unpark queues every due parked delivery. Each one is sent before it leaves the
// index, so a crash in between only causes a duplicate message, which the
// consumer's conditional attempt write makes harmless.
func (s *Sweeper) unpark(ctx context.Context) (int, error) {
	total := 0
	// The due index is eventually consistent: what this sweep just unparked may still
	// be listed; it is not sent twice.
	sent := map[string]bool{}
	for ctx.Err() == nil {
		listed, err := s.store.DueDeliveries(ctx, s.now(), batch)
		if err != nil {
			return total, err
		}
		var due []gancho.Delivery
		for _, d := range listed {
			if !sent[d.ID] {
				due = append(due, d)
			}
		}
		if len(due) == 0 {
			return total, nil
		}
		msgs := make([]queue.Message, 0, len(due))
		for _, d := range due {
			sent[d.ID] = true
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
