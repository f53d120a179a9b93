package devstack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/ingest"
)

// sendIngest sends one message body to the ingest queue, as a publisher on AWS would.
func sendIngest(t *testing.T, d *devstack.Dev, body string) {
	t.Helper()
	_, err := d.App.Clients.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &d.IngestQueueURL, MessageBody: &body,
		MessageAttributes: map[string]types.MessageAttributeValue{"source": {DataType: aws.String("String"), StringValue: aws.String("billing")}}})
	if err != nil {
		t.Fatal(err)
	}
}

// waitIngestDrained waits until the ingest worker has handled (and deleted) every
// message sent to the ingest queue.
func waitIngestDrained(t *testing.T, d *devstack.Dev) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := d.App.Clients.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &d.IngestQueueURL,
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ingest queue still holds messages: %v", out.Attributes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// deadLetters waits for n messages on the ingest dead-letter queue and returns them.
func deadLetters(t *testing.T, d *devstack.Dev, n int) []types.Message {
	t.Helper()
	var got []types.Message
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages in the ingest dead-letter queue, want %d", len(got), n)
		}
		out, err := d.App.Clients.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &d.IngestDLQURL,
			MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, out.Messages...)
	}
	return got
}

// TestIngestQueue: a message on the ingest queue is published and delivered as POST
// /v1/events would publish it; its idempotencyKey dedupes it when it is sent again; a
// message that fails validation lands in the ingest dead-letter queue with its problem.
func TestIngestQueue(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url + "/:id", "events": []string{"order.*"}, "ownerId": "office-42"}, nil)

	msg := `{"tenantId":"` + d.TenantID + `","event":{"type":"order.created","subject":"o-9","ownerId":"office-42",` +
		`"payload":{"orderId":9},"idempotencyKey":"order-9-created"}}`
	sendIngest(t, d, msg)
	got := rcv.wait(t, 1, 20*time.Second)[0]
	if got.header.Get("webhook-signature") == "" || !strings.Contains(string(got.body), `"orderId":9`) || !strings.Contains(string(got.body), `"ownerId":"office-42"`) {
		t.Fatalf("delivered %v %s; want the ingested event, signed, for owner office-42", got.header, got.body)
	}
	eventID := got.header.Get("X-Gancho-Event")

	// Sent again (a new SQS message): the key replays the first event.
	sendIngest(t, d, msg)
	waitIngestDrained(t, d)
	var events struct{ Data []gancho.Event }
	c.do("GET", "/v1/events?type=order.created", nil, &events)
	if len(events.Data) != 1 || events.Data[0].ID != eventID {
		t.Fatalf("events after the repeat: %+v; want only %s", events.Data, eventID)
	}

	// Refused messages: moved to the dead-letter queue with their problem, at once.
	refused := map[string]struct {
		status int
		field  string
	}{
		`{"tenantId":"` + d.TenantID + `","event":{"type":"order.created"}}`:             {422, "event/payload"},
		`{"tenantId":"` + d.TenantID + `","event":{"type":"no.such.type","payload":{}}}`: {422, "event/type"},
		`{"tenantId":"ten_nobody","event":{"type":"order.created","payload":{}}}`:        {422, "tenantId"},
		`{"event":{"type":"order.created","payload":{}}}`:                                {422, "tenantId"},
		`not json`: {400, ""},
		`{"tenantId":"` + d.TenantID + `","event":{"type":"order.created","payload":{},"x":1}}`: {422, "event/x"},
		`{"tenantId":"` + d.TenantID + `","event":{"type":"order.created","payload":{"orderId":1},` + // same key, other event
			`"ownerId":"office-42","subject":"o-9","idempotencyKey":"order-9-created"}}`: {409, "event/idempotencyKey"},
	}
	for body := range refused {
		sendIngest(t, d, body)
	}
	for _, m := range deadLetters(t, d, len(refused)) {
		want, ok := refused[aws.ToString(m.Body)]
		if !ok {
			t.Errorf("unexpected dead letter %s", aws.ToString(m.Body))
			continue
		}
		attr, ok := m.MessageAttributes[ingest.ProblemAttribute]
		if !ok || aws.ToString(attr.DataType) != "String" {
			t.Errorf("dead letter %s has no problem attribute: %v", aws.ToString(m.Body), m.MessageAttributes)
			continue
		}
		var p struct {
			Type, Title, Detail string
			Status              int
			Errors              []gancho.FieldError
		}
		if err := json.Unmarshal([]byte(aws.ToString(attr.StringValue)), &p); err != nil {
			t.Fatalf("problem attribute %s: %v", aws.ToString(attr.StringValue), err)
		}
		named := want.field == "" || slices.ContainsFunc(p.Errors, func(fe gancho.FieldError) bool { return fe.Field == want.field })
		if p.Status != want.status || !named || p.Type == "" || p.Detail == "" {
			t.Errorf("message %s: problem %+v; want status %d naming %q", aws.ToString(m.Body), p, want.status, want.field)
		}
		if src := m.MessageAttributes["source"]; aws.ToString(src.StringValue) != "billing" {
			t.Errorf("message %s lost its own attributes: %v", aws.ToString(m.Body), m.MessageAttributes)
		}
	}
	waitIngestDrained(t, d) // acknowledged, not retried
	if n := len(rcv.wait(t, 0, 0)); n != 1 {
		t.Errorf("the receiver got %d webhooks, want 1", n)
	}
}

// TestPublishBatchDelivers publishes a batch over HTTP and receives each event.
func TestPublishBatchDelivers(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	rcv, url := newReceiver(t, http.StatusOK)
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url + "/:id", "events": []string{"order.created", "invoice.paid"}}, nil)
	var out struct {
		Data []struct {
			ID         string
			Deliveries int
			Error      *struct{ Status int }
		}
	}
	code := c.do("POST", "/v1/events/batch", map[string]any{"events": []any{
		map[string]any{"type": "order.created", "subject": "o-1", "payload": map[string]any{"n": 1}},
		map[string]any{"type": "nope.nope", "payload": map[string]any{}},
		map[string]any{"type": "invoice.paid", "subject": "i-2", "payload": map[string]any{"n": 2}},
	}}, &out)
	if code != 202 || len(out.Data) != 3 || out.Data[1].Error == nil || out.Data[0].Deliveries != 1 || out.Data[2].Deliveries != 1 {
		t.Fatalf("batch: %d %+v", code, out)
	}
	got := rcv.wait(t, 2, 20*time.Second)
	var ids []string
	for _, g := range got {
		ids = append(ids, g.header.Get("X-Gancho-Event"))
	}
	slices.Sort(ids)
	want := []string{out.Data[0].ID, out.Data[2].ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("delivered events %v, want %v", ids, want)
	}
}
