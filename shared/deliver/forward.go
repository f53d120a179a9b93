package deliver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/signature"
)

// Forwarder puts a delivery on an SQS queue or SNS topic (package awsdest), assuming
// the destination's role, with the tenant id as external id, when it has one. A nil
// error means the queue or topic took the message.
type Forwarder interface {
	Forward(ctx context.Context, tenantID string, to gancho.Target, m gancho.QueueMessage) (gancho.Forwarded, error)
}

// WithForwarder lets the consumer deliver to SQS and SNS destinations.
func WithForwarder(f Forwarder) Option { return func(h *Handler) { h.forwarder = f } }

// WithTargetPolicy is the deployment's destination policy, which a queue or topic
// destination must still pass when its delivery is sent.
func WithTargetPolicy(p gancho.TargetPolicy) Option { return func(h *Handler) { h.targets = &p } }

// MaxSNSMessageBytes is the largest message SNS takes: body and attribute names and
// values together. SQS takes 1 MiB, more than any event's envelope.
const MaxSNSMessageBytes = 256 * 1024

// errTooLarge fails a delivery whose message no attempt could send: it is final at
// once rather than retried for days.
var errTooLarge = errors.New("message_too_large")

// errRefusedDestination fails, at once and for good, a delivery whose destination
// the deployment's policy refuses now (it was stored under another one): nothing is
// sent, and an update of the subscription must name one the policy accepts.
var errRefusedDestination = errors.New("destination_refused")

// errNoForwarder fails the attempts of a queue or topic destination where the
// consumer has no AWS clients for them.
var errNoForwarder = errors.New("sqs and sns destinations are not configured in this consumer")

// Message attribute names: the webhook-* values, as HTTP deliveries carry them in
// headers, and the event's id, type and attempt (an SNS filter policy can select on
// gancho-event-type).
const (
	AttrWebhookID        = "webhook-id"
	AttrWebhookTimestamp = "webhook-timestamp"
	AttrWebhookSignature = "webhook-signature"
	AttrEventID          = "gancho-event-id"
	AttrEventType        = "gancho-event-type"
	AttrAttempt          = "gancho-attempt"
)

// queueMessage builds the message of one attempt: the same body and signature as an
// HTTP delivery of the subscription.
func (r request) queueMessage(now time.Time) (gancho.QueueMessage, error) {
	body, err := Body(r.sub, r.event)
	if err != nil {
		return gancho.QueueMessage{}, err
	}
	keys, err := signingKeys(r.sub, now)
	if err != nil {
		return gancho.QueueMessage{}, err
	}
	ts := now.Unix()
	m := gancho.QueueMessage{Body: body, Attributes: map[string]string{
		AttrWebhookID:        r.delivery.ID,
		AttrWebhookTimestamp: strconv.FormatInt(ts, 10),
		AttrWebhookSignature: signature.Header(keys, r.delivery.ID, ts, body),
		AttrEventID:          r.event.ID,
		AttrEventType:        r.event.Type,
		AttrAttempt:          strconv.Itoa(r.attempt),
	}}
	if r.sub.Destination.Resource().FIFO() {
		m.GroupID = groupID(r.event.Subject)
		if m.GroupID == "" {
			m.GroupID = r.sub.ID
		}
		m.DeduplicationID = r.delivery.ID
	}
	return m, nil
}

// groupID is the FIFO message group of an event's subject: the subject itself when
// SQS and SNS take it as one (1-128 letters, digits and ASCII punctuation), else a
// digest of it, so every subject still orders its own events and no message is
// refused for its subject.
func groupID(subject string) string {
	valid := len(subject) <= 128
	for i := 0; valid && i < len(subject); i++ {
		valid = subject[i] > ' ' && subject[i] < 0x7f
	}
	if valid {
		return subject
	}
	sum := sha256.Sum256([]byte(subject))
	return "sha256-" + hex.EncodeToString(sum[:])
}

// ownRoleARN matches an IAM or STS ARN (a role, an assumed-role session) of account
// %s: AWS names the caller in an AccessDenied, and the caller is the deployment.
const ownRoleARN = `arn:aws[a-z-]*:(?:sts|iam)::%s:[^\s,;"']+`

// withoutOwnRoles is what AWS answered, with the deployment's own role ARNs left out:
// the attempt log is the tenant's to read.
func (r request) withoutOwnRoles(answer string) string {
	if r.targets == nil || !gancho.IsAccountID(r.targets.AWSAccount) || !strings.Contains(answer, r.targets.AWSAccount) {
		return answer
	}
	re := regexp.MustCompile(fmt.Sprintf(ownRoleARN, r.targets.AWSAccount))
	return re.ReplaceAllString(answer, "(this deployment's role)")
}

// size is what SNS and SQS count of a message: its body and its attributes' names,
// types and values.
func size(m gancho.QueueMessage) int {
	n := len(m.Body)
	for k, v := range m.Attributes {
		n += len(k) + len("String") + len(v)
	}
	return n
}

// forward is sendClassified for a queue or topic destination: one attempt, described.
func forward(ctx context.Context, f Forwarder, r request, now time.Time) (gancho.Attempt, metrics.Reason) {
	a := gancho.Attempt{Number: r.attempt, At: now.UTC(), Outcome: gancho.OutcomeFailure}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.sub.TimeoutSeconds)*time.Second)
	defer cancel()
	start := time.Now()
	var out gancho.Forwarded
	m, err := r.queueMessage(now)
	if size := size(m); err == nil && r.sub.Destination.Type == gancho.DestinationSNS && size > MaxSNSMessageBytes {
		err = fmt.Errorf("%w: %d bytes with its attributes, over SNS's %d", errTooLarge, size, MaxSNSMessageBytes)
	}
	if err == nil && r.targets != nil {
		if refused := r.sub.Destination.Check(*r.targets); refused != nil {
			err = fmt.Errorf("%w: %v", errRefusedDestination, refused)
		}
	}
	if err == nil && f == nil {
		err = errNoForwarder
	}
	if err == nil {
		to := r.sub.Destination
		to.SessionName = gancho.SessionName(r.sub.TenantID, r.sub.OwnerID)
		out, err = f.Forward(ctx, r.sub.TenantID, to, m)
	}
	a.DurationMs = time.Since(start).Milliseconds()
	a.StatusCode, a.Response = out.StatusCode, keep([]byte(r.withoutOwnRoles(out.Response)))
	if err != nil {
		a.Error = describe(err)
		return a, failureReason(out.StatusCode, err)
	}
	a.Outcome = gancho.OutcomeSuccess
	return a, ""
}
