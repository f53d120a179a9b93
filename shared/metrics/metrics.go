// Package metrics counts what Gancho does: events published and their fan-out,
// delivery attempts, successes, failures by reason, and how long an event took from
// its publish to a successful delivery. On Lambda the figures are written to standard
// output in CloudWatch's embedded metric format (EMF), one line per invocation: the
// Lambda service turns them into metrics, with no API call and no AWS dependency here.
// The local server keeps them in memory (Counters) and prints a summary.
//
// Metrics carry no tenant, subscription or event id, no URL, payload or secret: their
// only dimensions are the function's name and, for failures, a fixed reason.
package metrics

import (
	"context"
	"io"
	"time"
)

// Namespace is the CloudWatch namespace of Gancho's metrics.
const Namespace = "Gancho"

// Names of the metrics and their dimensions (the dashboard in template.yaml reads
// them).
const (
	MetricEventsPublished     = "EventsPublished"
	MetricFanOut              = "FanOut"
	MetricDeliveries          = "Deliveries"
	MetricDeliveryFailures    = "DeliveryFailures"
	MetricAttempts            = "Attempts"
	MetricPublishToDeliveryMs = "PublishToDeliveryMs"

	DimensionFunction = "Function"
	DimensionReason   = "Reason"
)

// Function names: the folder of the function under functions/ (an API route's name,
// such as publish-event, for the API's functions).
const (
	FunctionDeliver            = "deliver"
	FunctionIngest             = "ingest"
	FunctionSweeper            = "sweeper"
	FunctionPublishEvent       = "publish-event"
	FunctionPublishEventsBatch = "publish-events-batch"
)

// Reason classifies a failed delivery attempt.
type Reason string

// The reasons of DeliveryFailures, a closed set (a dimension's values must stay few).
const (
	ReasonHTTP4xx Reason = "http_4xx" // the receiver answered 4xx
	ReasonHTTP5xx Reason = "http_5xx" // the receiver answered 5xx
	ReasonTimeout Reason = "timeout"  // no answer within the subscription's timeout
	ReasonNetwork Reason = "network"  // DNS, connection or TLS failure
	ReasonRefused Reason = "refused"  // the outbound guard refused the address (SSRF policy)
	ReasonOther   Reason = "other"    // anything else: another status, a request that could not be built
)

// Reasons lists every Reason, in the order summaries print them.
var Reasons = [...]Reason{ReasonHTTP4xx, ReasonHTTP5xx, ReasonTimeout, ReasonNetwork, ReasonRefused, ReasonOther}

// index is r's position in Reasons (that of ReasonOther for an unknown one).
func (r Reason) index() int {
	for i, x := range Reasons {
		if x == r {
			return i
		}
	}
	return len(Reasons) - 1
}

// Recorder receives the figures. Implementations are safe for concurrent use.
type Recorder interface {
	// EventsPublished counts n events published (replays of an idempotent publish
	// excluded).
	EventsPublished(n int)
	// FanOut records the number of deliveries one event's fan-out queued.
	FanOut(deliveries int)
	// Delivered counts one successful attempt, publishToDelivery after its event was
	// published.
	Delivered(publishToDelivery time.Duration)
	// Failed counts one failed attempt.
	Failed(reason Reason)
}

// Flusher writes what a Recorder gathered; the Lambda wiring calls it once per
// invocation.
type Flusher interface {
	Flush()
}

// Discard is a Recorder that keeps nothing.
type Discard struct{}

func (Discard) EventsPublished(int)     {}
func (Discard) FanOut(int)              {}
func (Discard) Delivered(time.Duration) {}
func (Discard) Failed(Reason)           {}
func (Discard) Flush()                  {}

// FlushAfter wraps a Lambda handler so that f is flushed when each invocation ends:
// one EMF line (or a few) per invocation, whatever it did.
func FlushAfter[In, Out any](h func(context.Context, In) (Out, error), f Flusher) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		defer f.Flush()
		return h(ctx, in)
	}
}

// Sink is a Recorder that is flushed once per invocation.
type Sink interface {
	Recorder
	Flusher
}

// ForFunction returns the Sink of the function named function (its folder under
// functions/): EMF lines on w when it runs on Lambda (AWS_LAMBDA_FUNCTION_NAME is
// set), Discard elsewhere.
func ForFunction(function string, getenv func(string) string, w io.Writer) Sink {
	if getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		return Discard{}
	}
	return NewEMF(w, function, time.Now)
}
