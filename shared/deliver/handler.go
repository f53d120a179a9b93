package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sort"
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
	RecordAttempt(ctx context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time, park bool) error
	SetDeliveryStatus(ctx context.Context, d gancho.Delivery, status string) error
	RecordSubscriptionOutcome(ctx context.Context, tenant, subID string, o dynamo.Outcome) error
	DisableSubscription(ctx context.Context, sub gancho.Subscription, reason string, at time.Time) error
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
	// parkAfter: longer delays are parked in the store for the sweeper (SQS delays
	// stop at 15 minutes).
	parkAfter time.Duration
	// disableAfter: a subscription failing this long with no success is disabled.
	disableAfter time.Duration
}

// Defaults of the consumer's policies.
const (
	DefaultParkAfter    = queue.MaxDelay
	DefaultDisableAfter = 5 * 24 * time.Hour
)

// Option adjusts a Handler.
type Option func(*Handler)

// WithParallelism bounds how many deliveries of a batch are in flight at once.
func WithParallelism(n int) Option { return func(h *Handler) { h.parallelism = max(1, n) } }

// WithParkAfter sets the longest delay sent to the queue; longer ones are parked.
func WithParkAfter(d time.Duration) Option {
	return func(h *Handler) { h.parkAfter = min(d, queue.MaxDelay) }
}

// WithDisableAfter sets how long a subscription may fail with no success before it is
// disabled.
func WithDisableAfter(d time.Duration) Option { return func(h *Handler) { h.disableAfter = d } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// NewHandler returns a consumer. client must be the guarded outbound client.
func NewHandler(store Store, q Queue, client *http.Client, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{store: store, queue: q, client: client, log: log, parallelism: 16, now: time.Now, jitter: jitter,
		parkAfter: DefaultParkAfter, disableAfter: DefaultDisableAfter}
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
	attempts := make([]*gancho.Attempt, len(ev.Records))
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
			attempts[i], results[i] = h.process(work, msgs[i], batch)
		}()
	}
	wg.Wait()
	for i, err := range results {
		if err != nil {
			fail(i)
		}
	}
	h.recordOutcomes(ctx, msgs, attempts, batch)
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// recordOutcomes writes each subscription's status block once for the batch, and
// disables subscriptions that have failed for too long without a success.
func (h *Handler) recordOutcomes(ctx context.Context, msgs []queue.Message, attempts []*gancho.Attempt, b dynamo.DeliveryBatch) {
	type key struct{ tenant, sub string }
	var made []struct {
		k key
		a gancho.Attempt
	}
	for i, a := range attempts {
		if a != nil {
			made = append(made, struct {
				k key
				a gancho.Attempt
			}{key{msgs[i].TenantID, msgs[i].SubscriptionID}, *a})
		}
	}
	sort.SliceStable(made, func(i, j int) bool { return made[i].a.At.Before(made[j].a.At) })
	outcomes := map[key]*dynamo.Outcome{}
	var order []key
	for _, m := range made {
		o := outcomes[m.k]
		if o == nil {
			o = &dynamo.Outcome{}
			outcomes[m.k] = o
			order = append(order, m.k)
		}
		o.Add(m.a)
	}
	now := h.now()
	for _, k := range order {
		o := outcomes[k]
		if err := h.store.RecordSubscriptionOutcome(ctx, k.tenant, k.sub, *o); err != nil {
			h.log.Warn("subscription status not updated", "tenantId", k.tenant, "subscriptionId", k.sub, "err", err)
		}
		sub := b.Subscriptions[k.sub]
		if o.LastSuccess != nil || !sub.IsActive {
			continue
		}
		since := o.FirstFailure
		if sub.FailingSince != nil {
			since = sub.FailingSince
		}
		if since != nil && now.Sub(*since) >= h.disableAfter {
			reason := fmt.Sprintf("failing since %s with no successful delivery", since.UTC().Format(time.RFC3339))
			if err := h.store.DisableSubscription(ctx, sub, reason, now); err != nil {
				h.log.Warn("disable subscription", "subscriptionId", sub.ID, "err", err)
				continue
			}
			h.log.Info("subscription disabled", "tenantId", k.tenant, "subscriptionId", sub.ID, "reason", reason)
		}
	}
}

// process handles one message and returns the attempt it made, if any. A nil error
// means the message may be deleted: the delivery is final, or its next attempt is
// safely on the queue or parked in the store.
func (h *Handler) process(ctx context.Context, m queue.Message, b dynamo.DeliveryBatch) (*gancho.Attempt, error) {
	log := h.log.With("tenantId", m.TenantID, "deliveryId", m.DeliveryID, "attempt", m.Attempt)
	d, found := b.Deliveries[m.DeliveryID]
	if !found {
		log.Warn("delivery not found; dropping message")
		return nil, nil
	}
	if gancho.Final(d.Status) && !m.Manual {
		return nil, nil
	}
	if done := len(d.Attempts); done != m.Attempt-1 {
		// A duplicate or stale message. If the attempt it asked for was made and the
		// next one may never have been queued (crash in between), queue it again:
		// a duplicate of that one is harmless too.
		if done == m.Attempt && d.Status == gancho.StatusRetrying && d.NextAttemptAt != nil && d.NextAttemptAt.Sub(h.now()) <= h.parkAfter {
			return nil, h.requeue(ctx, m, d)
		}
		log.Info("stale message", "recordedAttempts", done)
		return nil, nil
	}
	sub, okSub := b.Subscriptions[m.SubscriptionID]
	ev, okEv := b.Events[m.EventID]
	if !okSub || !sub.IsActive || !okEv {
		if err := h.store.SetDeliveryStatus(ctx, d, gancho.StatusCancelled); err != nil && !errors.Is(err, gancho.ErrConflict) {
			return nil, err
		}
		log.Info("delivery cancelled", "subscriptionFound", okSub, "eventFound", okEv)
		return nil, nil
	}

	now := h.now()
	a := send(ctx, h.client, request{delivery: d, sub: sub, event: ev, attempt: m.Attempt, tokens: h.tokens}, now)
	if ctx.Err() != nil && a.Outcome != gancho.OutcomeSuccess {
		// Out of time: the message comes back and the attempt is made again.
		return nil, ctx.Err()
	}
	status, next, delay := h.outcome(sub, a, now)
	if m.Manual && status == gancho.StatusRetrying {
		// A one-off attempt a user asked for: it does not start a retry schedule.
		status, next = gancho.StatusFailed, nil
	}
	park := status == gancho.StatusRetrying && delay > h.parkAfter
	if err := h.store.RecordAttempt(ctx, d, a, status, next, park); err != nil {
		if errors.Is(err, gancho.ErrConflict) {
			log.Info("attempt already recorded by another consumer")
			return nil, nil
		}
		return nil, err
	}
	log.Info("attempt", "subscriptionId", sub.ID, "eventId", ev.ID, "status", status, "parked", park,
		"statusCode", a.StatusCode, "durationMs", a.DurationMs, "error", a.Error)
	if a.StatusCode == http.StatusGone {
		if err := h.store.DisableSubscription(ctx, sub, "the receiver answered 410 Gone", now); err != nil {
			log.Warn("disable subscription after 410", "err", err)
		}
	}
	switch {
	case status == gancho.StatusRetrying && !park:
		nm := m
		nm.Attempt++
		return &a, h.queue.Send(ctx, []queue.Message{nm}, delay)
	case status == gancho.StatusFailed && !m.Manual:
		return &a, h.queue.SendDeadLetter(ctx, []queue.Message{m})
	}
	return &a, nil
}

// outcome decides the delivery's status after attempt a, and when to try again.
func (h *Handler) outcome(sub gancho.Subscription, a gancho.Attempt, now time.Time) (string, *time.Time, time.Duration) {
	if a.Outcome == gancho.OutcomeSuccess {
		return gancho.StatusDelivered, nil, 0
	}
	if a.Error == errMissingSubject.Error() || a.StatusCode == http.StatusGone || a.Number > len(sub.RetrySchedule) {
		return gancho.StatusFailed, nil, 0
	}
	step := time.Duration(sub.RetrySchedule[a.Number-1]) * time.Second
	delay := h.jitter(step)
	if a.RetryAfterSeconds > 0 {
		// The receiver asked for a pause: honour it within [step, 2 x step].
		delay = min(max(time.Duration(a.RetryAfterSeconds)*time.Second, step), 2*step)
	}
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
