package deliver

import (
	"context"
	"errors"
	"net"
	"net/url"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/outbound"
)

// Recorder counts the consumer's attempts (package metrics: EMF lines on Lambda,
// counters locally).
type Recorder interface {
	Delivered(publishToDelivery time.Duration)
	Failed(reason metrics.Reason)
}

// record counts one attempt of a delivery of ev: a success with the time since ev was
// due (published, or its deliverAt when scheduled: the wait it asked for is no
// latency), or a failure with its reason. Every attempt sent counts, whether or not
// its outcome could be stored.
func (h *Handler) record(ev gancho.Event, reason metrics.Reason) {
	if reason != "" {
		h.metrics.Failed(reason)
		return
	}
	due := ev.CreatedAt
	if ev.DeliverAt != nil {
		due = *ev.DeliverAt
	}
	h.metrics.Delivered(h.now().Sub(due))
}

// failureReason classifies a failed attempt: by the receiver's status code, or by err,
// the error that kept the request from being answered.
func failureReason(status int, err error) metrics.Reason {
	switch {
	case status >= 400 && status < 500:
		return metrics.ReasonHTTP4xx
	case status >= 500 && status < 600:
		return metrics.ReasonHTTP5xx
	case status != 0 || err == nil:
		return metrics.ReasonOther // a redirect (never followed) or another code
	case outbound.Guarded(err):
		return metrics.ReasonRefused
	case errors.Is(err, context.DeadlineExceeded):
		return metrics.ReasonTimeout
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return metrics.ReasonTimeout
	}
	if errors.Is(err, errToken) {
		return metrics.ReasonOther
	}
	if _, ok := errors.AsType[*url.Error](err); ok {
		return metrics.ReasonNetwork // DNS, connection, TLS: the transport failed
	}
	return metrics.ReasonOther // the request could not be built: subject, secret
}
