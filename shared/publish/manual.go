package publish

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
)

// PublishTo stores ev with a single delivery to one subscription (the test event)
// and queues it. It returns the delivery id. The delivery belongs to the event's owner,
// which for a test event is the subscription's.
func (p *Publisher) PublishTo(ctx context.Context, ev gancho.Event, subscriptionID string) (string, error) {
	ev.TargetSubscriptionID = subscriptionID
	if _, err := p.storeAndFanOut(ctx, ev, "", gancho.PublishClaim{}); err != nil {
		return "", fmt.Errorf("queue test delivery: %w", err)
	}
	return gancho.DeliveryID(ev.ID, subscriptionID), nil
}

// Requeuer queues one more attempt of deliveries a user asks for.
type Requeuer interface {
	MarkRequeued(ctx context.Context, d gancho.Delivery) error
}

// manualMessage asks for one more attempt of d, whatever its state.
func manualMessage(d gancho.Delivery) queue.Message {
	return queue.Message{TenantID: d.TenantID, DeliveryID: d.ID, EventID: d.EventID,
		SubscriptionID: d.SubscriptionID, Attempt: len(d.Attempts) + 1, Manual: true}
}

// RetryNow queues one more attempt of d now (POST /v1/deliveries/{id}/retry), then
// shows it pending. For a delivery that is waiting for a retry on the standard queue,
// the message is that retry brought forward: the same attempt number, not marked
// manual, so a failure goes on with the retry schedule, and whichever of it and the
// scheduled message comes second finds the attempt made and is dropped; clearing the
// scheduled time also takes a parked retry out of the sweeper's index. An ordered
// delivery (in its reference's FIFO group) keeps its scheduled message held in that
// queue, where it cannot be brought forward: its attempt now is a one-off, as for a
// delivery that had ended, and the held message, when it comes back, finds the
// delivery final (or the attempt not yet made, and makes it instead).
func (p *Publisher) RetryNow(ctx context.Context, marks Requeuer, d gancho.Delivery, ordered bool) error {
	m := manualMessage(d)
	if d.Status == gancho.StatusRetrying && !ordered {
		m.Manual = false
	}
	return p.send(ctx, marks, []queue.Message{m}, []gancho.Delivery{d})
}

// Requeue sends one more attempt of each delivery now, then shows them pending.
// The message goes first: if marking fails, the attempt still happens.
func (p *Publisher) Requeue(ctx context.Context, marks Requeuer, ds []gancho.Delivery) (int, error) {
	msgs := make([]queue.Message, 0, len(ds))
	for _, d := range ds {
		msgs = append(msgs, manualMessage(d))
	}
	return len(ds), p.send(ctx, marks, msgs, ds)
}

// send queues msgs, then marks their deliveries pending. The messages go first: if
// marking fails, the attempts still happen. A delivery that changed meanwhile (an
// attempt was recorded) is left as it is.
func (p *Publisher) send(ctx context.Context, marks Requeuer, msgs []queue.Message, ds []gancho.Delivery) error {
	if err := p.queue.Send(ctx, msgs, 0); err != nil {
		return fmt.Errorf("requeue: %w", err)
	}
	for _, d := range ds {
		if err := marks.MarkRequeued(ctx, d); err != nil && !errors.Is(err, gancho.ErrConflict) {
			return err
		}
	}
	return nil
}

// DeadLetters is the dead-letter side of the queue.
type DeadLetters interface {
	ReceiveDeadLetters(ctx context.Context, visibility time.Duration) ([]queue.DeadLetter, error)
	DeleteDeadLetters(ctx context.Context, handles []string) error
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
}

// BatchLoader reads the deliveries of dead letters.
type BatchLoader interface {
	LoadDeliveryBatch(ctx context.Context, refs []gancho.DeliveryRef) (gancho.DeliveryBatch, error)
	Requeuer
}

// Redrive moves the dead-letter queue back to delivery, in application code so it
// works on AWS, LocalStack and the local emulator alike: each dead letter becomes one
// more attempt of its delivery (numbered after the attempts on record), then leaves
// the dead-letter queue. Messages that are not delivery messages stay where they are.
// It stops after max messages or when ctx ends.
func Redrive(ctx context.Context, dlq DeadLetters, store BatchLoader, max int) (moved, skipped int, err error) {
	for moved+skipped < max && ctx.Err() == nil {
		letters, err := dlq.ReceiveDeadLetters(ctx, time.Minute)
		if err != nil {
			return moved, skipped, err
		}
		if len(letters) == 0 {
			return moved, skipped, nil
		}
		var refs []gancho.DeliveryRef
		for _, l := range letters {
			if l.Valid {
				m := l.Message
				refs = append(refs, gancho.DeliveryRef{TenantID: m.TenantID, DeliveryID: m.DeliveryID, EventID: m.EventID, SubscriptionID: m.SubscriptionID})
			}
		}
		b, err := store.LoadDeliveryBatch(ctx, refs)
		if err != nil {
			return moved, skipped, err
		}
		var msgs []queue.Message
		var ds []gancho.Delivery
		var done []string
		for _, l := range letters {
			d, ok := b.Deliveries[l.Message.DeliveryID]
			switch {
			case !l.Valid:
				skipped++
				continue
			case ok:
				msgs = append(msgs, manualMessage(d))
				ds = append(ds, d)
			}
			// A dead letter whose delivery expired has nothing left to deliver.
			done = append(done, l.ReceiptHandle)
		}
		if err := dlq.Send(ctx, msgs, 0); err != nil {
			return moved, skipped, err
		}
		for _, d := range ds {
			if err := store.MarkRequeued(ctx, d); err != nil && !errors.Is(err, gancho.ErrConflict) {
				return moved, skipped, err
			}
		}
		if err := dlq.DeleteDeadLetters(ctx, done); err != nil {
			return moved, skipped, err
		}
		moved += len(msgs)
	}
	return moved, skipped, ctx.Err()
}
