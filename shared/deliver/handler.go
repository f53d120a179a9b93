package deliver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/queue"
)

// Store is what the consumer needs from storage.
type Store interface {
	LoadDeliveryBatch(ctx context.Context, refs []gancho.DeliveryRef) (gancho.DeliveryBatch, error)
	RecordAttempt(ctx context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time, park bool) error
	SetDeliveryStatus(ctx context.Context, d gancho.Delivery, status string) error
	RecordSubscriptionOutcome(ctx context.Context, tenant, subID string, o gancho.Outcome) error
	DisableSubscription(ctx context.Context, sub gancho.Subscription, reason string, at time.Time) error
	TenantStore
	RateLimiter
	NoticeSettler
}

// Queue is what the consumer needs from the queue.
type Queue interface {
	Send(ctx context.Context, msgs []queue.Message, delay time.Duration) error
	SendDeadLetter(ctx context.Context, msgs []queue.Message) error
	Hold(ctx context.Context, receiptHandle string, d time.Duration) error
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
	// rate enforces rateLimitPerSecond across consumers (nil: no store for it).
	rate    *rateGate
	fanOut  FanOuter
	ops     Operations
	tenants *tenantCache
	metrics Recorder
	// forwarder sends to SQS and SNS destinations (nil: their attempts fail).
	forwarder Forwarder
	// targets is the deployment's destination policy (WithTargetPolicy).
	targets *gancho.TargetPolicy
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

// FanOuter continues large fan-outs that publishing handed to the consumer.
type FanOuter interface {
	ResumeFanOut(ctx context.Context, tenant, eventID string, repair bool) (int, error)
}

// Operations publishes Gancho's operational events (publish.Publisher does).
type Operations interface {
	PublishOperational(ctx context.Context, op gancho.Operational) error
}

// WithOperationalEvents lets the consumer send operational events: a subscription
// disabled, failing (5, 20, 100 consecutive failures), recovered, and a delivery
// that exhausted its schedule.
func WithOperationalEvents(o Operations) Option { return func(h *Handler) { h.ops = o } }

// WithFanOut lets the consumer run fan-out messages.
func WithFanOut(f FanOuter) Option { return func(h *Handler) { h.fanOut = f } }

// WithMetrics sets where the consumer counts its attempts (default: nowhere).
func WithMetrics(r Recorder) Option { return func(h *Handler) { h.metrics = r } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// NewHandler returns a consumer. client must be the guarded outbound client.
func NewHandler(store Store, q Queue, client *http.Client, log *slog.Logger, opts ...Option) *Handler {
	h := &Handler{store: store, queue: q, client: client, log: log, parallelism: 16, now: time.Now, jitter: jitter,
		parkAfter: DefaultParkAfter, disableAfter: DefaultDisableAfter, rate: newRateGate(store), metrics: metrics.Discard{}}
	for _, o := range opts {
		o(h)
	}
	h.tokens = NewTokens(client, h.now)
	h.tenants = newTenantCache(store, h.now)
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
	var refs []gancho.DeliveryRef
	for i, rec := range ev.Records {
		m, err := queue.Decode(rec.Body)
		if err != nil {
			// A poison message: let the queue's RedrivePolicy move it to the DLQ.
			h.log.Error("undecodable message", "messageId", rec.MessageId, "err", err)
			continue
		}
		m.Receives, _ = strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
		msgs[i], ok[i] = m, true
		if m.Kind == queue.KindFanOut {
			continue
		}
		refs = append(refs, gancho.DeliveryRef{TenantID: m.TenantID, DeliveryID: m.DeliveryID, EventID: m.EventID,
			SubscriptionID: m.SubscriptionID, EventKnown: m.Event != nil})
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
	for i, m := range msgs {
		if ok[i] && m.Event != nil {
			batch.Events[m.EventID] = *m.Event
		}
	}

	results := make([]error, len(ev.Records))
	attempts := make([]*gancho.Attempt, len(ev.Records))
	if isOrdered(ev) {
		h.handleOrdered(work, ev, msgs, ok, batch, attempts, results)
	} else {
		h.handleConcurrent(work, msgs, ok, batch, attempts, results)
	}
	for i, err := range results {
		if err != nil {
			fail(i)
		}
	}
	h.recordOutcomes(ctx, msgs, attempts, batch)
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// handleConcurrent delivers a standard-queue batch with bounded parallelism.
func (h *Handler) handleConcurrent(ctx context.Context, msgs []queue.Message, ok []bool,
	b gancho.DeliveryBatch, attempts []*gancho.Attempt, results []error) {
	sem := make(chan struct{}, h.parallelism)
	var wg sync.WaitGroup
	for i := range msgs {
		if !ok[i] {
			results[i] = errors.New("undecodable")
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if msgs[i].Kind == queue.KindFanOut {
				results[i] = h.runFanOut(ctx, msgs[i])
				return
			}
			attempts[i], _, results[i] = h.process(ctx, msgs[i], b, false)
		}()
	}
	wg.Wait()
}

// runFanOut continues the fan-out of one large event; a failure brings the message
// back, and the fan-out resumes without duplicating what was already written.
func (h *Handler) runFanOut(ctx context.Context, m queue.Message) error {
	if h.fanOut == nil {
		return errors.New("fan-out message but no fan-out configured")
	}
	n, err := h.fanOut.ResumeFanOut(ctx, m.TenantID, m.EventID, true)
	if err != nil {
		h.log.Error("fan-out", "tenantId", m.TenantID, "eventId", m.EventID, "err", err)
		return err
	}
	h.log.Info("fan-out", "tenantId", m.TenantID, "eventId", m.EventID, "deliveries", n)
	return nil
}

// isOrdered reports whether a batch comes from the FIFO queue of ordered deliveries.
func isOrdered(ev events.SQSEvent) bool {
	return len(ev.Records) > 0 && ev.Records[0].Attributes["MessageGroupId"] != ""
}

// errHeld reports an ordered message kept in flight until its retry is due, and the
// later messages of its group, which must wait behind it.
var errHeld = errors.New("held for a retry, with the rest of its group")

// handleOrdered delivers a FIFO batch: message groups concurrently, the messages of a
// group one after another. When one waits for a retry, it is held in flight for its
// delay (the queue's visibility timeout) and it and every later message of its group
// are reported failed, so they come back after it, in order.
func (h *Handler) handleOrdered(ctx context.Context, ev events.SQSEvent, msgs []queue.Message, ok []bool,
	b gancho.DeliveryBatch, attempts []*gancho.Attempt, results []error) {
	groups := map[string][]int{}
	var order []string
	for i, rec := range ev.Records {
		g := rec.Attributes["MessageGroupId"]
		if _, seen := groups[g]; !seen {
			order = append(order, g)
		}
		groups[g] = append(groups[g], i)
	}
	sem := make(chan struct{}, h.parallelism)
	var wg sync.WaitGroup
	for _, g := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(idx []int) {
			defer wg.Done()
			defer func() { <-sem }()
			for n, i := range idx {
				if !ok[i] {
					results[i] = errors.New("undecodable")
					continue
				}
				var hold time.Duration
				attempts[i], hold, results[i] = h.process(ctx, msgs[i], b, true)
				if hold > 0 {
					if err := h.queue.Hold(ctx, ev.Records[i].ReceiptHandle, hold); err != nil {
						h.log.Warn("hold ordered message", "deliveryId", msgs[i].DeliveryID, "err", err)
					}
					results[i] = errHeld
				}
				if results[i] != nil {
					for _, later := range idx[n+1:] {
						results[later] = errHeld
					}
					return
				}
			}
		}(groups[g])
	}
	wg.Wait()
}

// isProbe reports whether ev is a test event (POST /v1/subscriptions/{id}/test): its
// deliveries are probes that leave the subscription's status block, failure count
// and auto-disable alone, whatever the receiver answers.
func isProbe(ev gancho.Event) bool {
	return ev.Type == gancho.TypeTest || ev.TargetSubscriptionID != ""
}

// recordOutcomes writes each subscription's status block once for the batch, and
// disables subscriptions that have failed for too long without a success. Test
// deliveries do not count.
func (h *Handler) recordOutcomes(ctx context.Context, msgs []queue.Message, attempts []*gancho.Attempt, b gancho.DeliveryBatch) {
	type key struct{ tenant, sub string }
	var made []struct {
		k      key
		a      gancho.Attempt
		evType string
	}
	for i, a := range attempts {
		if ev := b.Events[msgs[i].EventID]; a != nil && !isProbe(ev) {
			made = append(made, struct {
				k      key
				a      gancho.Attempt
				evType string
			}{key{msgs[i].TenantID, msgs[i].SubscriptionID}, *a, ev.Type})
		}
	}
	sort.SliceStable(made, func(i, j int) bool { return made[i].a.At.Before(made[j].a.At) })
	outcomes := map[key]*gancho.Outcome{}
	// ordinary are the outcomes of deliveries of ordinary events only: those of
	// operational events count in the status block but cause no operational events.
	ordinary := map[key]*gancho.Outcome{}
	var order []key
	for _, m := range made {
		o := outcomes[m.k]
		if o == nil {
			o = &gancho.Outcome{}
			outcomes[m.k] = o
			order = append(order, m.k)
		}
		o.Add(m.a)
		if !gancho.IsOperational(m.evType) {
			if ordinary[m.k] == nil {
				ordinary[m.k] = &gancho.Outcome{}
			}
			ordinary[m.k].Add(m.a)
		}
	}
	now := h.now()
	for _, k := range order {
		o := outcomes[k]
		sub, known := b.Subscriptions[k.sub]
		// Successes that change nothing a reader sees but times younger than
		// gancho.StatusRefresh are not written: one write less per subscription and
		// batch on a healthy endpoint.
		if !known || o.Changes(sub.Status) {
			if err := h.store.RecordSubscriptionOutcome(ctx, k.tenant, k.sub, *o); err != nil {
				h.log.Warn("subscription status not updated", "tenantId", k.tenant, "subscriptionId", k.sub, "err", err)
			}
		}
		if oo := ordinary[k]; known && oo != nil {
			h.statusEvents(ctx, sub, *oo)
		}
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
			if ordinary[k] != nil {
				h.emit(ctx, gancho.SubscriptionDisabled(sub, reason, now))
			}
		}
	}
}

// process handles one message and returns the attempt it made, if any. A nil error
// means the message may be deleted: the delivery is final, or its next attempt is
// safely on the queue or parked in the store. With ordered, the message is a FIFO
// one that comes back (held) for each retry: the attempt number is the record's, and
// a retry is a hold for the returned duration instead of a new message.
func (h *Handler) process(ctx context.Context, m queue.Message, b gancho.DeliveryBatch, ordered bool) (*gancho.Attempt, time.Duration, error) {
	d, found := b.Deliveries[m.DeliveryID]
	if !found {
		// Before its first outcome a delivery has no record: the message and its
		// event say what it is.
		d, found = pendingDelivery(m, b)
	}
	if found && ordered {
		m.Attempt = len(d.Attempts) + 1
	}
	log := h.log.With("tenantId", m.TenantID, "deliveryId", m.DeliveryID, "attempt", m.Attempt)
	if !found {
		log.Warn("delivery not found; dropping message")
		return nil, 0, nil
	}
	if gancho.Final(d.Status) && !m.Manual {
		return nil, 0, nil
	}
	if ordered && d.NextAttemptAt != nil && d.NextAttemptAt.After(h.now().Add(time.Second)) {
		// Back early (visibility cut short): keep waiting, with the group.
		return nil, d.NextAttemptAt.Sub(h.now()), nil
	}
	if done := len(d.Attempts); done != m.Attempt-1 {
		// A duplicate or stale message. If the attempt it asked for was made and the
		// next one may never have been queued (crash in between), queue it again:
		// a duplicate of that one is harmless too.
		// Only this same message coming back (received before) means a consumer died
		// in between; a late duplicate of an attempt already made must not queue
		// another copy of the next one.
		if done == m.Attempt && m.Receives > 1 && d.Status == gancho.StatusRetrying && d.NextAttemptAt != nil && d.NextAttemptAt.Sub(h.now()) <= h.parkAfter {
			return nil, 0, h.requeue(ctx, m, d)
		}
		log.Info("stale message", "recordedAttempts", done)
		return nil, 0, nil
	}
	ev, okEv := b.Events[m.EventID]
	tenant, err := h.tenants.get(ctx, m.TenantID)
	if err != nil && !errors.Is(err, gancho.ErrNotFound) {
		return nil, 0, err
	}
	sub, okSub := b.Subscriptions[m.SubscriptionID]
	if m.SubscriptionID == gancho.CallbackDestination && okEv {
		sub, okSub = callbackSubscription(tenant, ev), true
	}
	if !okSub || !sub.IsActive || !okEv {
		if err := h.store.SetDeliveryStatus(ctx, d, gancho.StatusCancelled); err != nil && !errors.Is(err, gancho.ErrConflict) {
			return nil, 0, err
		}
		log.Info("delivery cancelled", "subscriptionFound", okSub, "eventFound", okEv)
		return nil, 0, nil
	}

	now := h.now()
	if wait := ev.DeliverDelay(now); wait > 0 && !m.Manual && len(d.Attempts) == 0 {
		// Scheduled delivery, not due yet: an ordered message (a FIFO queue cannot
		// delay one) is held in flight with its group behind it, any other one goes
		// back on the queue for the rest. Nothing is attempted or recorded. A manual
		// attempt a user asks for goes at once.
		log.Info("scheduled; waiting", "deliverAt", ev.DeliverAt, "waitS", wait.Seconds())
		if ordered {
			return nil, min(wait, queue.MaxHold), nil
		}
		return nil, 0, h.queue.Send(ctx, []queue.Message{m}, min(wait, queue.MaxDelay))
	}
	if hold, limited, err := h.rateLimited(ctx, m, sub, now, ordered, log); limited || err != nil {
		return nil, hold, err
	}
	sub = h.noticeDue(ctx, sub, ev, d, log)
	req := request{delivery: d, sub: sub, event: ev, attempt: m.Attempt, tokens: h.tokens, tenant: tenant, targets: h.targets}
	var a gancho.Attempt
	var reason metrics.Reason
	if sub.Destination.IsAWS() {
		a, reason = forward(ctx, h.forwarder, req, now)
	} else {
		a, reason = sendClassified(ctx, h.client, req, now)
	}
	h.record(ev, reason)
	if ctx.Err() != nil && a.Outcome != gancho.OutcomeSuccess {
		// Out of time: the message comes back and the attempt is made again.
		return nil, 0, ctx.Err()
	}
	status, next, delay := h.outcome(sub, ev, a, now)
	if m.Manual && status == gancho.StatusRetrying {
		// A one-off attempt a user asked for: it does not start a retry schedule.
		status, next = gancho.StatusFailed, nil
	}
	park := status == gancho.StatusRetrying && delay > h.parkAfter && !ordered
	if err := h.store.RecordAttempt(ctx, d, a, status, next, park); err != nil {
		if errors.Is(err, gancho.ErrConflict) {
			log.Info("attempt already recorded by another consumer")
			return nil, 0, nil
		}
		return nil, 0, err
	}
	log.Info("attempt", "subscriptionId", sub.ID, "eventId", ev.ID, "status", status, "parked", park,
		"statusCode", a.StatusCode, "durationMs", a.DurationMs, "error", a.Error)
	h.settleNotice(ctx, d, sub, status, next, log)
	// Only a subscription's deliveries of ordinary events cause operational events.
	causesOps := sub.ID != gancho.CallbackDestination && !isProbe(ev) && !gancho.IsOperational(ev.Type)
	if a.StatusCode == http.StatusGone && sub.ID != gancho.CallbackDestination && !isProbe(ev) {
		const reason = "the receiver answered 410 Gone"
		if err := h.store.DisableSubscription(ctx, sub, reason, now); err != nil {
			log.Warn("disable subscription after 410", "err", err)
		} else if causesOps && sub.IsActive {
			h.emit(ctx, gancho.SubscriptionDisabled(sub, reason, now))
		}
	}
	if status == gancho.StatusFailed && !m.Manual && causesOps {
		h.emit(ctx, gancho.DeliveryFailed(sub, ev, d, a))
	}
	switch {
	case status == gancho.StatusRetrying && ordered:
		return &a, min(delay, queue.MaxHold), nil
	case status == gancho.StatusRetrying && !park:
		nm := m
		nm.Attempt++
		return &a, 0, h.queue.Send(ctx, []queue.Message{nm}, delay)
	case status == gancho.StatusFailed && !m.Manual:
		// Ordered or not, the message is acknowledged: a failed delivery releases its
		// group. The dead-letter copy is for a human or a redrive.
		return &a, 0, h.queue.SendDeadLetter(ctx, []queue.Message{m})
	}
	return &a, 0, nil
}

// pendingDelivery is the delivery a message asks for when it has no record yet: a
// first attempt of an event that exists. Its owner is its subscription's.
func pendingDelivery(m queue.Message, b gancho.DeliveryBatch) (gancho.Delivery, bool) {
	ev, ok := b.Events[m.EventID]
	if !ok || m.Manual || m.Attempt != 1 {
		return gancho.Delivery{}, false
	}
	dest := gancho.Destination{SubscriptionID: m.SubscriptionID, OwnerID: ev.OwnerID}
	if sub, ok := b.Subscriptions[m.SubscriptionID]; ok {
		dest.OwnerID = sub.OwnerID
	}
	d := gancho.PendingDelivery(ev, dest)
	if d.ID != m.DeliveryID {
		return gancho.Delivery{}, false
	}
	return d, true
}

// finalErrors are the failures no later attempt can mend: the delivery fails at once
// instead of following its retry schedule. An attempt's error is one of them, or one
// of them followed by ": " and its detail (describe).
var finalErrors = []error{errMissingSubject, errInvalidSubject, errTooLarge, errRefusedDestination}

// outcome decides the delivery's status after attempt a, and when to try again, by
// the retry schedule of ev's type if it has one, else the subscription's
// (gancho.RetryPolicy).
func (h *Handler) outcome(sub gancho.Subscription, ev gancho.Event, a gancho.Attempt, now time.Time) (string, *time.Time, time.Duration) {
	permanent := a.StatusCode == http.StatusGone || slices.ContainsFunc(finalErrors, func(e error) bool {
		return a.Error == e.Error() || strings.HasPrefix(a.Error, e.Error()+": ")
	})
	schedule := sub.RetrySchedule
	if len(ev.RetrySchedule) > 0 {
		schedule = ev.RetrySchedule
	}
	status, delay := gancho.RetryPolicy{Schedule: schedule, Jitter: h.jitter}.Next(a, permanent)
	if status != gancho.StatusRetrying {
		return status, nil, 0
	}
	next := now.Add(delay)
	return status, &next, delay
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
