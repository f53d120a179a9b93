package deliver

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
)

// Store is what the consumer needs from storage.
type Store interface {
	LoadDeliveryBatch(ctx context.Context, refs []dynamo.DeliveryRef) (dynamo.DeliveryBatch, error)
	RecordAttempt(ctx context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time) error
	SetDeliveryStatus(ctx context.Context, d gancho.Delivery, status string) error
	RecordSubscriptionOutcome(ctx context.Context, tenant, subID string, a gancho.Attempt) error
}

// Queue is what the consumer needs from the queue.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
	SendDeadLetter(ctx context.Context, msgs []queue.Message) error
}

// Handler consumes batches of delivery messages.
type Handler struct {
	store       Store
	queue       Queue
	client      *http.Client
	tokens      *Tokens
	log         *slog.Logger
	parallelism int
	now         func() time.Time
	jitter      func(time.Duration) time.Duration
}

// Option adjusts a Handler.
type Option func(*Handler)

// WithParallelism bounds how many deliveries of a batch are in flight at once.
func WithParallelism(n int) Option { return func(h *Handler) { h.parallelism = max(1, n) } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// NewHandler returns a consumer. client must be the guarded outbound client.
func NewHandler(store Store, q Queue, client *http.Client, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{store: store, queue: q, client: client, log: log, parallelism: 16, now: time.Now, jitter: jitter}
	for _, o := range opts {
		o(h)
	}
	h.tokens = NewTokens(client, h.now)
	return h
}

// jitter spreads d by +-20 %.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// deadlineMargin is kept free before the Lambda deadline to report unfinished items.
const deadlineMargin = 2 * time.Second

// Handle delivers a batch and reports the messages that must come back
// (ReportBatchItemFailures). It never fails the whole batch for one message.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	work := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		work, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
		defer cancel()
	}
	msgs := make([]queue.Message, len(ev.Records))
	ok := make([]bool, len(ev.Records))
	var refs []dynamo.DeliveryRef
	for i, rec := range ev.Records {
		m, err := queue.Decode(rec.Body)
		if err != nil {
			// A poison message: let the queue's RedrivePolicy move it to the DLQ.
			h.log.Error("undecodable message", "messageId", rec.MessageId, "err", err)
			continue
		}
		msgs[i], ok[i] = m, true
		refs = append(refs, dynamo.DeliveryRef{TenantID: m.TenantID, DeliveryID: m.DeliveryID, EventID: m.EventID, SubscriptionID: m.SubscriptionID})
	}
	var failures []events.SQSBatchItemFailure
	fail := func(i int) {
		failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
	}
	batch, err := h.store.LoadDeliveryBatch(work, refs)
	if err != nil {
		h.log.Error("load batch", "err", err)
		for i := range ev.Records {
			fail(i)
		}
		return events.SQSEventResponse{BatchItemFailures: failures}, nil
	}

	results := make([]error, len(ev.Records))
	sem := make(chan struct{}, h.parallelism)
	var wg sync.WaitGroup
	for i := range ev.Records {
		if !ok[i] {
			results[i] = errors.New("undecodable")
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = h.process(work, msgs[i], batch)
		}()
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			fail(i)
		}
	}
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// process handles one message. A nil error means the message may be deleted: the
// delivery is final, or its next attempt is safely on the queue.
func (h *Handler) process(ctx context.Context, m queue.Message, b dynamo.DeliveryBatch) error {
	log := h.log.With("tenantId", m.TenantID, "deliveryId", m.DeliveryID, "attempt", m.Attempt)
	d, found := b.Deliveries[m.DeliveryID]
	if !found {
		log.Warn("delivery not found; dropping message")
		return nil
	}
	if gancho.Final(d.Status) {
		return nil
	}
	if done := len(d.Attempts); done != m.Attempt-1 {
		// A duplicate or stale message. If the attempt it asked for was made and the
		// next one may never have been queued (crash in between), queue it again:
		// a duplicate of that one is harmless too.
		if done == m.Attempt && d.Status == gancho.StatusRetrying {
			return h.requeue(ctx, m, d)
		}
		log.Info("stale message", "recordedAttempts", done)
		return nil
	}
	sub, okSub := b.Subscriptions[m.SubscriptionID]
	ev, okEv := b.Events[m.EventID]
	if !okSub || !sub.IsActive || !okEv {
		if err := h.store.SetDeliveryStatus(ctx, d, gancho.StatusCancelled); err != nil && !errors.Is(err, gancho.ErrConflict) {
			return err
		}
		log.Info("delivery cancelled", "subscriptionFound", okSub, "eventFound", okEv)
		return nil
	}

	now := h.now()
	a := send(ctx, h.client, request{delivery: d, sub: sub, event: ev, attempt: m.Attempt, tokens: h.tokens}, now)
	if ctx.Err() != nil && a.Outcome != gancho.OutcomeSuccess {
		// Out of time: the message comes back and the attempt is made again.
		return ctx.Err()
	}
	status, next, delay := h.outcome(sub, a, now)
	if err := h.store.RecordAttempt(ctx, d, a, status, next); err != nil {
		if errors.Is(err, gancho.ErrConflict) {
			log.Info("attempt already recorded by another consumer")
			return nil
		}
		return err
	}
	if err := h.store.RecordSubscriptionOutcome(ctx, m.TenantID, sub.ID, a); err != nil {
		log.Warn("subscription status not updated", "err", err)
	}
	log.Info("attempt", "subscriptionId", sub.ID, "eventId", ev.ID, "status", status,
		"statusCode", a.StatusCode, "durationMs", a.DurationMs, "error", a.Error)
	switch status {
	case gancho.StatusRetrying:
		nm := m
		nm.Attempt++
		return h.queue.Send(ctx, []queue.Message{nm}, delay)
	case gancho.StatusFailed:
		return h.queue.SendDeadLetter(ctx, []queue.Message{m})
	}
	return nil
}

// outcome decides the delivery's status after attempt a, and when to try again.
func (h *Handler) outcome(sub gancho.Subscription, a gancho.Attempt, now time.Time) (string, *time.Time, time.Duration) {
	if a.Outcome == gancho.OutcomeSuccess {
		return gancho.StatusDelivered, nil, 0
	}
	if a.Error == errMissingSubject.Error() || a.Number > len(sub.RetrySchedule) {
		return gancho.StatusFailed, nil, 0
	}
	delay := h.jitter(time.Duration(sub.RetrySchedule[a.Number-1]) * time.Second)
	// Delays beyond the queue's maximum are capped for now; parking longer delays in
	// the store for a sweeper is tracked separately.
	delay = min(delay, queue.MaxDelay)
	next := now.Add(delay)
	return gancho.StatusRetrying, &next, delay
}

// requeue re-sends the next attempt of a delivery whose record says it is due.
func (h *Handler) requeue(ctx context.Context, m queue.Message, d gancho.Delivery) error {
	delay := time.Duration(0)
	if d.NextAttemptAt != nil {
		delay = min(max(0, d.NextAttemptAt.Sub(h.now())), queue.MaxDelay)
	}
	nm := m
	nm.Attempt++
	return h.queue.Send(ctx, []queue.Message{nm}, delay)
}
