// Package ingest publishes events sent to the ingest queue (the API contract, "Publishing in
// bulk, and without HTTP"): a message {"tenantId": "...", "event": {...}} is published
// exactly as POST /v1/events would publish the event for that tenant. Whoever may send
// to the queue (IAM) may publish for any tenant, with any ownerId.
//
// Each batch the event source hands over is validated message by message and
// published as one batch publish. A message that fails validation is moved to the
// ingest dead-letter queue with the problem object as its "problem" attribute, and
// acknowledged: sending it again cannot make it valid. A message that failed on our
// side (a store or queue error, or a publish under its key still running) is reported
// as a batch item failure, so SQS hands it over again, and to the dead-letter queue
// when it keeps failing. Nothing is dropped silently.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/publish"
)

// Message is what a publisher sends to the ingest queue.
type Message struct {
	TenantID string          `json:"tenantId"`
	Event    json.RawMessage `json:"event"`
}

// ProblemAttribute names the message attribute holding the problem object of a
// message dead-lettered for failing validation.
const ProblemAttribute = "problem"

// Decode parses a message body, strictly (unknown fields are refused), with errors
// that name the field.
func Decode(body string) (Message, error) {
	var m Message
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || dec.More() {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return m, gancho.Invalid(gancho.FieldError{Field: typ.Field, Message: "has the wrong type"})
		}
		detail := `the message body must be one JSON object {"tenantId": "...", "event": {...}}`
		if err != nil {
			detail += ": " + err.Error()
		}
		return m, gancho.Errorf(gancho.KindBadRequest, "%s", detail)
	}
	var errs []gancho.FieldError
	if m.TenantID == "" {
		errs = append(errs, gancho.FieldError{Field: "tenantId", Message: "is required"})
	}
	if len(bytes.TrimSpace(m.Event)) == 0 || bytes.Equal(bytes.TrimSpace(m.Event), []byte("null")) {
		errs = append(errs, gancho.FieldError{Field: "event", Message: "is required: an event as POST /v1/events takes"})
	}
	if len(errs) > 0 {
		return m, gancho.Invalid(errs...)
	}
	return m, nil
}

// Preparer validates an ingested event as POST /v1/events would (httpapi.API).
type Preparer interface {
	PrepareIngest(ctx context.Context, tenant string, event json.RawMessage, messageID string) (publish.BatchItem, error)
}

// Tenants reads tenants, to refuse messages for a tenant that does not exist.
type Tenants interface {
	GetTenant(ctx context.Context, id string) (gancho.Tenant, error)
}

// Sender sends to the ingest dead-letter queue.
type Sender interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Handler is the ingest queue's consumer.
type Handler struct {
	prep    Preparer
	pub     httpapi.BatchPublisher
	tenants Tenants
	sqs     Sender
	dlqURL  string
	log     *slog.Logger
	now     func() time.Time
	known   *cache.Cache[string, struct{}] // tenants seen to exist
}

// TenantCacheTTL is how long a tenant seen to exist is not read again.
const TenantCacheTTL = 60 * time.Second

const maxKnownTenants = 10000

// NewHandler returns the consumer; dlqURL is the ingest dead-letter queue.
func NewHandler(prep Preparer, pub httpapi.BatchPublisher, tenants Tenants, sender Sender, dlqURL string, log *slog.Logger) *Handler {
	h := &Handler{prep: prep, pub: pub, tenants: tenants, sqs: sender, dlqURL: dlqURL, log: log, now: time.Now}
	h.known = cache.New[string, struct{}](cache.Options[struct{}]{
		TTL: TenantCacheTTL, MaxEntries: maxKnownTenants, Now: func() time.Time { return h.now() },
	})
	return h
}

// Handle publishes one batch of ingest messages (an SQS event with
// ReportBatchItemFailures).
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	retry := func(rec events.SQSMessage, why string, err error) {
		h.log.WarnContext(ctx, "ingest: message will be retried", "messageId", rec.MessageId, "why", why, "err", err)
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
	}
	var dead []deadLetter
	var items []publish.BatchItem
	var from []events.SQSMessage
	for _, rec := range ev.Records {
		m, err := Decode(rec.Body)
		if err == nil {
			err = h.checkTenant(ctx, m.TenantID)
		}
		root := ""
		var item publish.BatchItem
		if err == nil {
			root = "event"
			item, err = h.prep.PrepareIngest(ctx, m.TenantID, m.Event, rec.MessageId)
		}
		if err != nil {
			if transient(err) {
				retry(rec, "validation could not finish", err)
			} else {
				dead = append(dead, deadLetter{rec, httpapi.ProblemOf(err, root)})
			}
			continue
		}
		items = append(items, item)
		from = append(from, rec)
	}
	if len(items) > 0 {
		for i, o := range h.pub.PublishBatch(ctx, items) {
			switch {
			case o.Err == nil:
				h.log.DebugContext(ctx, "ingest: published", "messageId", from[i].MessageId, "eventId", o.Result.Event.ID, "replayed", o.Result.Replayed)
			case transient(o.Err):
				retry(from[i], "publish failed", o.Err)
			default:
				dead = append(dead, deadLetter{from[i], httpapi.ProblemOf(o.Err, "event")})
			}
		}
	}
	for _, rec := range h.deadLetter(ctx, dead) {
		retry(rec, "could not be moved to the dead-letter queue", nil)
	}
	return resp, nil
}

// transient reports whether err may pass when the message is handed over again: an
// error of ours, or a publish under the same key that is still running.
func transient(err error) bool {
	return gancho.KindOf(err) == gancho.KindInternal || errors.Is(err, publish.ErrStillRunning)
}

// checkTenant refuses a message for a tenant that does not exist; tenants seen to
// exist are remembered for TenantCacheTTL.
func (h *Handler) checkTenant(ctx context.Context, tenant string) error {
	// A tenant not found is not remembered: one created a moment later is usable.
	_, err := h.known.Get(ctx, tenant, func(ctx context.Context) (struct{}, error) {
		_, err := h.tenants.GetTenant(ctx, tenant)
		return struct{}{}, err
	})
	if errors.Is(err, gancho.ErrNotFound) {
		return gancho.Invalid(gancho.FieldError{Field: "tenantId", Message: "names no tenant of this deployment"})
	}
	if err != nil {
		return fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	return nil
}

type deadLetter struct {
	rec     events.SQSMessage
	problem httpapi.Problem
}

// deadLetter moves messages that failed validation to the dead-letter queue, ten per
// call, each with its problem and the attributes it was sent with; it returns those
// it could not move.
func (h *Handler) deadLetter(ctx context.Context, dead []deadLetter) []events.SQSMessage {
	var failed []events.SQSMessage
	for start := 0; start < len(dead); start += 10 {
		part := dead[start:min(start+10, len(dead))]
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(part))
		for i, d := range part {
			prob, _ := json.Marshal(d.problem)
			attrs := map[string]types.MessageAttributeValue{}
			for name, a := range d.rec.MessageAttributes {
				if name != ProblemAttribute && len(attrs) < 9 {
					attrs[name] = types.MessageAttributeValue{DataType: aws.String(a.DataType), StringValue: a.StringValue, BinaryValue: a.BinaryValue}
				}
			}
			attrs[ProblemAttribute] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(string(prob))}
			entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)),
				MessageBody: aws.String(d.rec.Body), MessageAttributes: attrs})
			h.log.WarnContext(ctx, "ingest: message refused, moved to the dead-letter queue", "messageId", d.rec.MessageId,
				"status", d.problem.Status, "detail", d.problem.Detail)
		}
		if h.dlqURL == "" {
			h.log.ErrorContext(ctx, "ingest: no dead-letter queue configured (GANCHO_INGEST_DLQ_URL)")
			for _, d := range part {
				failed = append(failed, d.rec)
			}
			continue
		}
		out, err := h.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &h.dlqURL, Entries: entries})
		if err != nil {
			h.log.ErrorContext(ctx, "ingest: send to the dead-letter queue", "err", err)
			for _, d := range part {
				failed = append(failed, d.rec)
			}
			continue
		}
		for _, f := range out.Failed {
			if i, err := strconv.Atoi(aws.ToString(f.Id)); err == nil && i < len(part) {
				failed = append(failed, part[i].rec)
			}
		}
	}
	return failed
}
