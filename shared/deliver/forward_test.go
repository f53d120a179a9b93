package deliver

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/verify"
)

type forwarderFunc func(ctx context.Context, tenant string, to gancho.Target, m gancho.QueueMessage) (gancho.Forwarded, error)

func (f forwarderFunc) Forward(ctx context.Context, tenant string, to gancho.Target, m gancho.QueueMessage) (gancho.Forwarded, error) {
	return f(ctx, tenant, to, m)
}

func queueRequest(t *testing.T, queueURL, subject string) request {
	t.Helper()
	sub, err := gancho.NewSubscription(gancho.SubscriptionInput{Destination: &gancho.Target{Type: "sqs", QueueURL: queueURL}},
		gancho.TargetPolicy{AWSAccount: "111111111111"})
	if err != nil {
		t.Fatal(err)
	}
	sub.ID, sub.TenantID, sub.Secret = "sub1", "t1", gancho.NewSecret()
	ev := gancho.Event{ID: "evt_1", TenantID: "t1", Type: "order.created", Subject: subject, Payload: []byte(`{"n":1}`)}
	d := gancho.PendingDelivery(ev, gancho.Destination{SubscriptionID: sub.ID})
	return request{delivery: d, sub: sub, event: ev, attempt: 2}
}

func TestForwardBuildsSignedMessage(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name, queue, subject string
		wantGroup            string
	}{
		{"standard queue", "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q", "order-7", ""},
		{"FIFO queue orders by subject", "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q.fifo", "order-7", "order-7"},
		{"FIFO queue without subject orders by subscription", "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q.fifo", "", "sub1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := queueRequest(t, tc.queue, tc.subject)
			var got gancho.QueueMessage
			var gotTenant string
			f := forwarderFunc(func(_ context.Context, tenant string, to gancho.Target, m gancho.QueueMessage) (gancho.Forwarded, error) {
				got, gotTenant = m, tenant
				return gancho.Forwarded{StatusCode: 200, Response: "msg-1"}, nil
			})
			a, reason := forward(context.Background(), f, r, now)
			if a.Outcome != gancho.OutcomeSuccess || a.StatusCode != 200 || a.Response != "msg-1" || a.Number != 2 || reason != "" || gotTenant != "t1" {
				t.Fatalf("attempt %+v reason %q tenant %q", a, reason, gotTenant)
			}
			v, err := verify.New(r.sub.Secret)
			if err != nil {
				t.Fatal(err)
			}
			at := got.Attributes
			if err := v.VerifySignature(at[AttrWebhookID], at[AttrWebhookTimestamp], at[AttrWebhookSignature], got.Body); err != nil {
				t.Errorf("signature: %v (%v)", err, at)
			}
			if at[AttrWebhookID] != r.delivery.ID || at[AttrEventType] != "order.created" || at[AttrAttempt] != "2" || at[AttrEventID] != "evt_1" {
				t.Errorf("attributes %v", at)
			}
			if got.GroupID != tc.wantGroup || (tc.wantGroup != "") != (got.DeduplicationID == r.delivery.ID) {
				t.Errorf("group %q dedup %q", got.GroupID, got.DeduplicationID)
			}
		})
	}
}

func TestForwardFailures(t *testing.T) {
	r := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q", "")
	refused := forwarderFunc(func(context.Context, string, gancho.Target, gancho.QueueMessage) (gancho.Forwarded, error) {
		return gancho.Forwarded{StatusCode: 403, Response: "AccessDenied: not allowed"}, errors.New("AccessDenied")
	})
	cases := []struct {
		name      string
		f         Forwarder
		wantCode  int
		wantError string
	}{
		{"no forwarder configured", nil, 0, errNoForwarder.Error()},
		{"the queue refuses", refused, 403, "AccessDenied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, reason := forward(context.Background(), tc.f, r, time.Now())
			if a.Outcome != gancho.OutcomeFailure || a.StatusCode != tc.wantCode || a.Error != tc.wantError || reason == "" {
				t.Errorf("attempt %+v reason %q", a, reason)
			}
		})
	}
}

// A message SNS cannot take fails at once, without a call, and is final: retrying it
// for days could never succeed. The same payload goes to SQS, which takes 1 MiB.
func TestForwardTooLargeForSNSIsFinal(t *testing.T) {
	r := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q", "")
	r.event.Payload = []byte(`"` + strings.Repeat("x", gancho.MaxPayloadBytes-2) + `"`)
	calls := 0
	f := forwarderFunc(func(context.Context, string, gancho.Target, gancho.QueueMessage) (gancho.Forwarded, error) {
		calls++
		return gancho.Forwarded{StatusCode: 200, Response: "msg"}, nil
	})
	if a, _ := forward(context.Background(), f, r, time.Now()); a.Outcome != gancho.OutcomeSuccess || calls != 1 {
		t.Fatalf("to SQS: attempt %+v after %d calls", a, calls)
	}
	r.sub.Destination = gancho.Target{Type: gancho.DestinationSNS, TopicARN: "arn:aws:sns:us-east-1:111111111111:gancho-dest-t"}
	a, _ := forward(context.Background(), f, r, time.Now())
	if a.Outcome != gancho.OutcomeFailure || calls != 1 || !strings.HasPrefix(a.Error, "message_too_large") {
		t.Fatalf("to SNS: attempt %+v after %d calls", a, calls)
	}
	h := &Handler{jitter: func(d time.Duration) time.Duration { return d }}
	if status, next, _ := h.outcome(r.sub, r.event, a, time.Now()); status != gancho.StatusFailed || next != nil {
		t.Errorf("outcome %s next %v, want failed at once", status, next)
	}
}

// A destination stored under another policy (before the deployment's account was
// known, or its DestinationPrefix changed) is checked again before each send: what
// the policy now refuses is never sent to AWS, and the delivery fails at once.
func TestForwardRefusesWhatThePolicyNowRefuses(t *testing.T) {
	policy := gancho.TargetPolicy{AWSAccount: "111111111111", DestinationPrefix: "acme-"}
	cases := []struct {
		name      string
		to        gancho.Target
		wantSent  bool
		wantError string
	}{
		{"own queue under the current prefix", gancho.Target{Type: "sqs", QueueURL: "https://sqs.us-east-1.amazonaws.com/111111111111/acme-q"}, true, ""},
		{"own queue under an old prefix", gancho.Target{Type: "sqs", QueueURL: "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q"}, false, "destination_refused"},
		{"own topic under an old prefix", gancho.Target{Type: "sns", TopicARN: "arn:aws:sns:us-east-1:111111111111:gancho-dest-t"}, false, "destination_refused"},
		{"a role of the deployment's account", gancho.Target{Type: "sqs", QueueURL: "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-deliveries",
			RoleARN: "arn:aws:iam::111111111111:role/admin"}, false, "destination_refused"},
		{"another account without a role", gancho.Target{Type: "sqs", QueueURL: "https://sqs.us-east-1.amazonaws.com/222222222222/q"}, false, "destination_refused"},
		{"another account through its role", gancho.Target{Type: "sqs", QueueURL: "https://sqs.us-east-1.amazonaws.com/222222222222/q",
			RoleARN: "arn:aws:iam::222222222222:role/r"}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q", "")
			r.sub.Destination, r.targets = tc.to, &policy
			sent := false
			f := forwarderFunc(func(context.Context, string, gancho.Target, gancho.QueueMessage) (gancho.Forwarded, error) {
				sent = true
				return gancho.Forwarded{StatusCode: 200, Response: "msg"}, nil
			})
			a, _ := forward(context.Background(), f, r, time.Now())
			if sent != tc.wantSent || (tc.wantError == "") != (a.Outcome == gancho.OutcomeSuccess) || !strings.HasPrefix(a.Error, tc.wantError) {
				t.Fatalf("sent %v, attempt %+v", sent, a)
			}
			h := &Handler{jitter: func(d time.Duration) time.Duration { return d }}
			if status, _, _ := h.outcome(r.sub, r.event, a, time.Now()); tc.wantError != "" && status != gancho.StatusFailed {
				t.Errorf("status %s, want failed at once", status)
			}
		})
	}
}

// A FIFO message's group id takes 1-128 letters, digits and ASCII punctuation; an
// event's subject may be longer or hold other characters. Such a subject still orders
// its events (one group per subject) with a group id SQS and SNS take.
func TestForwardFIFOGroupOfAnySubject(t *testing.T) {
	groupRe := regexp.MustCompile("^[A-Za-z0-9!-/:-@\\[-`{-~]{1,128}$")
	for _, subject := range []string{"order-7", "pedido 7", "pedido 8", "café", strings.Repeat("s", 512), strings.Repeat("s", 511) + "t"} {
		r := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q.fifo", subject)
		m, err := r.queueMessage(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !groupRe.MatchString(m.GroupID) {
			t.Errorf("subject %.20q: group id %q", subject, m.GroupID)
		}
		again, _ := r.queueMessage(time.Now())
		if again.GroupID != m.GroupID {
			t.Errorf("subject %.20q: group id %q then %q", subject, m.GroupID, again.GroupID)
		}
	}
	a, _ := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q.fifo", "pedido 7").queueMessage(time.Now())
	b, _ := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q.fifo", "pedido 8").queueMessage(time.Now())
	if a.GroupID == b.GroupID {
		t.Errorf("two subjects share group %q", a.GroupID)
	}
	if m, _ := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q.fifo", "order-7").queueMessage(time.Now()); m.GroupID != "order-7" {
		t.Errorf("a subject that is a valid group id is kept: %q", m.GroupID)
	}
}

// What AWS answers may name the deployment's own role (an AccessDenied names the
// caller): the attempt log, which tenants read, keeps the answer without it.
func TestForwardKeepsTheDeploymentsRoleOutOfTheLog(t *testing.T) {
	r := queueRequest(t, "https://sqs.us-east-1.amazonaws.com/111111111111/gancho-dest-q", "")
	policy := gancho.TargetPolicy{AWSAccount: "111111111111"}
	r.targets = &policy
	f := forwarderFunc(func(context.Context, string, gancho.Target, gancho.QueueMessage) (gancho.Forwarded, error) {
		return gancho.Forwarded{StatusCode: 403, Response: "AccessDenied: User: arn:aws:sts::111111111111:assumed-role/gancho-DeliverFunctionRole-AB12/gancho-deliver " +
			"is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:111111111111:gancho-dest-q"}, errors.New("AccessDenied")
	})
	a, _ := forward(context.Background(), f, r, time.Now())
	if strings.Contains(a.Response, "DeliverFunctionRole") || strings.Contains(a.Response, "assumed-role") ||
		!strings.Contains(a.Response, "is not authorized to perform: sqs:SendMessage") {
		t.Errorf("response kept as %q", a.Response)
	}
}
