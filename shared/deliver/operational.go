package deliver

import (
	"context"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// statusEvents sends the operational events one batch's outcome o (of ordinary
// events) causes for sub, whose status block was read before the batch: failing as
// the consecutive failures reach each threshold, and recovered when a subscription
// that had reached the first one delivers again. Keys derive from the failing run
// (its failingSince), so consumers that see the same crossing send it once.
func (h *Handler) statusEvents(ctx context.Context, sub gancho.Subscription, o gancho.Outcome) {
	if h.ops == nil || sub.ID == gancho.CallbackDestination {
		return
	}
	before, since := sub.ConsecutiveFailures, sub.FailingSince
	if o.LastSuccess != nil {
		if before >= gancho.FailingThresholds[0] && since != nil {
			h.emit(ctx, gancho.SubscriptionRecovered(sub, *since, *o.LastSuccess))
		}
		// Failures after the success start a new run.
		before, since = 0, o.FirstFailure
	} else if since == nil {
		since = o.FirstFailure
	}
	if o.Failures == 0 || since == nil {
		return
	}
	for _, t := range gancho.CrossedThresholds(before, before+o.Failures) {
		h.emit(ctx, gancho.SubscriptionFailing(sub, t, *since, o.Last))
	}
}

// emit publishes an operational event. It is best effort: a failure is logged, and
// the delivery it is about goes on as if it had been sent.
func (h *Handler) emit(ctx context.Context, op gancho.Operational) {
	if h.ops == nil {
		return
	}
	if err := h.ops.PublishOperational(ctx, op); err != nil {
		h.log.Warn("operational event not sent", "type", op.Event.Type, "subscriptionId", op.Event.AboutSubscriptionID, "err", err)
		return
	}
	h.log.Info("operational event", "type", op.Event.Type, "subscriptionId", op.Event.AboutSubscriptionID)
}
