package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
)

// Batch publishing (the API contract, "Publishing in bulk, and without HTTP").
const (
	// MaxBatchEvents is the most events one POST /v1/events/batch takes.
	MaxBatchEvents = 100
	// MaxBatchBody bounds the body of POST /v1/events/batch.
	MaxBatchBody = 1 << 20
)

// bodyLimit is the largest body route name accepts.
func bodyLimit(name string) int {
	if name == "publish-events-batch" {
		return MaxBatchBody
	}
	return maxBody
}

// BatchPublisher publishes many events at once, with one outcome per event.
type BatchPublisher interface {
	PublishBatch(ctx context.Context, items []publish.BatchItem) []publish.BatchOutcome
}

type batchRequest struct {
	Events []json.RawMessage `json:"events"`
}

// batchPublished is a published event of a batch: what POST /v1/events answers, and
// whether it is the replay of an earlier publish with the same idempotency key.
type batchPublished struct {
	publishResponse
	Replayed bool `json:"replayed,omitempty"`
}

// batchFailed is an event of a batch that was not published.
type batchFailed struct {
	Error problem `json:"error"`
}

type batchResponse struct {
	Data []any `json:"data"`
}

// publishEventsBatch publishes up to MaxBatchEvents events, each validated and
// published on its own, with the work shared (publish.Publisher.PublishBatch). The
// answer is 202 with one item per event, in request order: the published event, or
// {"error": problem} whose errors name fields from the request body's root
// ("events/3/payload/orderId"). Each event's idempotencyKey works as in a single
// publish, with the same credential scoping, so a batch and a single publish replay
// each other; an Idempotency-Key header covers the whole request (the generic
// wrapper, and a key per event derived from it), and a response holding an error of
// ours (500) is not stored under it.
func (a *API) publishEventsBatch(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var req batchRequest
	if err := decodeLimit(r, &req, MaxBatchBody); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if n := len(req.Events); n == 0 || n > MaxBatchEvents {
		msg := fmt.Sprintf("must hold 1-%d events", MaxBatchEvents)
		if req.Events == nil {
			msg = "is required: an array of 1-" + strconv.Itoa(MaxBatchEvents) + " events"
		}
		writeError(w, r, a.log, gancho.Invalid(gancho.FieldError{Field: "events", Message: msg}))
		return
	}
	by := publisherOf(p)
	// The Idempotency-Key header covers the whole request: the generic wrapper replays
	// its stored response, and each event without its own key gets one derived from
	// the header and its position, so a repeat that runs again (the first run crashed,
	// or answered a 500 that was not stored) finds the events already published
	// instead of publishing them twice.
	header := r.Header.Get(HeaderIdempotencyKey)
	errs := make([]error, len(req.Events))
	var items []publish.BatchItem
	var at []int
	for i, raw := range req.Events {
		var in gancho.EventInput
		err := decodeEvent(raw, &in)
		var item publish.BatchItem
		if err == nil {
			implicit := ""
			if header != "" {
				implicit = publish.ScopedKey(by.credential, by.owner, batchKey(header, i))
			}
			item, err = a.prepareEvent(r.Context(), by, in, "", implicit)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		items = append(items, item)
		at = append(at, i)
	}
	results := make([]publish.BatchOutcome, len(req.Events))
	if len(items) > 0 {
		for j, o := range a.publisher.PublishBatch(r.Context(), items) {
			results[at[j]] = o
			errs[at[j]] = o.Err
		}
	}
	out := batchResponse{Data: make([]any, len(req.Events))}
	for i, err := range errs {
		if err == nil {
			res := results[i].Result
			item := batchPublished{publishResponse: publishResponse{ID: res.Event.ID, Type: res.Event.Type,
				CreatedAt: res.Event.CreatedAt, Deliveries: res.Deliveries}, Replayed: res.Replayed}
			if res.Background {
				item.FanOut = "queued"
			}
			out.Data[i] = item
			continue
		}
		prob := ProblemOf(err, "events/"+strconv.Itoa(i))
		if prob.Status >= http.StatusInternalServerError {
			a.log.ErrorContext(r.Context(), "batch publish: event failed", "index", i, "err", err)
			markTransient(w)
		}
		out.Data[i] = batchFailed{Error: prob}
	}
	writeJSON(w, http.StatusAccepted, out)
}

// batchKey is the idempotency key of the i-th event of a batch sent with the
// Idempotency-Key header and no idempotencyKey of its own. The NUL bytes keep it apart
// from every key a client can send (keys are printable ASCII).
func batchKey(header string, i int) string {
	return "\x00batch\x00" + header + "\x00" + strconv.Itoa(i)
}

// decodeEvent decodes one event of a batch or of an ingest message, strictly.
func decodeEvent(raw json.RawMessage, in *gancho.EventInput) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		const msg = "must be a JSON object: an event as POST /v1/events takes"
		return &gancho.Error{Kind: gancho.KindInvalid, Detail: "the event " + msg, Fields: []gancho.FieldError{{Message: msg}}}
	}
	return decodeBytes(raw, in)
}

// Problem is an RFC 9457 problem object, as the API answers errors with.
type Problem = problem

// ProblemOf is the problem object the API would answer err with, its fields named
// from root ("events/3" makes "payload/orderId" "events/3/payload/orderId"). A problem
// without fields gets one naming root, so it always says which part of a request it is
// about. Errors of ours are 500 with a generic detail, never their text.
func ProblemOf(err error, root string) Problem {
	var ge *gancho.Error
	if !errors.As(err, &ge) {
		ge = &gancho.Error{Kind: gancho.KindInternal, Err: err}
	}
	status := statusOf(ge.Kind)
	prob := problem{Type: "https://gancho.dev/problems/" + slugs[status], Title: http.StatusText(status),
		Status: status, Detail: ge.Detail}
	if status == http.StatusInternalServerError {
		prob.Detail = "an internal error occurred; it has been logged; publishing this event again is safe with an idempotencyKey"
		return prob
	}
	for _, f := range ge.Fields {
		if f.Field == "" {
			f.Field = root
		} else if root != "" {
			f.Field = root + "/" + f.Field
		}
		prob.Errors = append(prob.Errors, f)
	}
	if len(prob.Errors) == 0 && root != "" {
		prob.Errors = []gancho.FieldError{{Field: root, Message: prob.Detail}}
	}
	if prob.Detail == "" && len(prob.Errors) > 0 {
		prob.Detail = prob.Errors[0].Field + " " + prob.Errors[0].Message
	}
	return prob
}

// Idempotency credentials of the ingest queue (the API contract): IAM is the credential, so
// every publisher's keys share one space per tenant, apart from every API key's.
const (
	// IngestCredential scopes the idempotencyKey of an ingested event.
	IngestCredential = "ingest"
	// ingestMessageCredential scopes the SQS message id, the key of an ingested event
	// without one: a message that SQS hands over again (after a failure, or a crash
	// mid-publish) publishes its event once.
	ingestMessageCredential = "ingest-message"
)

// PrepareIngest validates an event sent to the ingest queue for tenant exactly as
// POST /v1/events validates one (its ownerId is trusted: IAM is the credential). An
// event without idempotencyKey is keyed by messageID, when given.
func (a *API) PrepareIngest(ctx context.Context, tenant string, event json.RawMessage, messageID string) (publish.BatchItem, error) {
	var in gancho.EventInput
	if err := decodeEvent(event, &in); err != nil {
		return publish.BatchItem{}, err
	}
	implicit := ""
	if messageID != "" {
		implicit = publish.ScopedKey(ingestMessageCredential, "", messageID)
	}
	return a.prepareEvent(ctx, eventPublisher{tenant: tenant, credential: IngestCredential}, in, "", implicit)
}
