package devstack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
	"github.com/gancho-dev/gancho/shared/verify"
)

// uniqueName is a queue or topic name no other test uses.
func uniqueName(prefix string) string {
	return prefix + strings.ToLower(testenv.TenantID()[4:16])
}

func createQueue(t *testing.T, sq *sqs.Client, name string) string {
	t.Helper()
	out, err := sq.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// queueBase is the stack's queue URLs without a name: http://HOST:PORT/ACCOUNT/.
func queueBase(t *testing.T, sq *sqs.Client) string {
	name := uniqueName("probe-")
	return strings.TrimSuffix(createQueue(t, sq, name), name)
}

// snsClient talks to the SNS the stack's SQS endpoint serves (fauxqs and LocalStack
// serve both on one endpoint).
func snsClient(sq *sqs.Client) *sns.Client {
	o := sq.Options()
	return sns.New(sns.Options{Region: o.Region, Credentials: o.Credentials, BaseEndpoint: o.BaseEndpoint})
}

// receiveOne waits for one message on queueURL, with its attributes, and deletes it.
func receiveOne(t *testing.T, sq *sqs.Client, queueURL string, within time.Duration) sqstypes.Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL),
			MaxNumberOfMessages: 1, WaitTimeSeconds: 2, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if len(out.Messages) == 1 {
			m := out.Messages[0]
			if _, err := sq.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	t.Fatalf("no message on %s within %s", queueURL, within)
	return sqstypes.Message{}
}

// topicIntoQueue creates a topic and a queue subscribed to it with raw delivery, which
// keeps a message's body and attributes as published; it returns the topic's ARN and
// the queue's URL.
func topicIntoQueue(t *testing.T, sn *sns.Client, sq *sqs.Client, topicName, queueName string) (string, string) {
	t.Helper()
	ctx := context.Background()
	topic, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(topicName)})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := createQueue(t, sq, queueName)
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(topic.TopicArn), queueURL
}

// queueEmpty reports whether queueURL has no message to receive now.
func queueEmpty(t *testing.T, sq *sqs.Client, queueURL string) bool {
	t.Helper()
	out, err := sq.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Messages) == 0
}

func attr(m sqstypes.Message, name string) string {
	return aws.ToString(m.MessageAttributes[name].StringValue)
}

// checkSignedMessage verifies a queue message like a receiver would, with the
// subscription's secret and package verify, and returns its envelope.
func checkSignedMessage(t *testing.T, c client, subID string, m sqstypes.Message) gancho.Envelope {
	t.Helper()
	var secret struct{ Secret string }
	if code := c.do("GET", "/v1/subscriptions/"+subID+"/secret", nil, &secret); code != 200 {
		t.Fatalf("secret: %d", code)
	}
	v, err := verify.New(secret.Secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(aws.ToString(m.Body))
	if err := v.VerifySignature(attr(m, "webhook-id"), attr(m, "webhook-timestamp"), attr(m, "webhook-signature"), body); err != nil {
		t.Fatalf("signature of the message: %v (attributes %v)", err, m.MessageAttributes)
	}
	if err := v.VerifySignature(attr(m, "webhook-id"), attr(m, "webhook-timestamp"), attr(m, "webhook-signature"), append(body, ' ')); err == nil {
		t.Fatal("a changed body verified")
	}
	var env gancho.Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return env
}

func publishOne(t *testing.T, c client, eventType string) string {
	t.Helper()
	var pub struct{ ID string }
	if code := c.do("POST", "/v1/events", map[string]any{"type": eventType, "subject": "order-7", "payload": map[string]any{"total": 42}}, &pub); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	return pub.ID
}

// An SQS destination in the deployment's own account: the message is the envelope,
// signed like a webhook, the webhook-* values as attributes; the attempt and the
// status block are recorded as for HTTP.
func TestSQSDestination(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	sq := d.App.Clients.SQS
	queueURL := createQueue(t, sq, uniqueName(gancho.DefaultDestinationPrefix+"orders-"))

	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"order.created"},
		"destination": map[string]any{"type": "sqs", "queueUrl": queueURL}}, &sub); code != 201 {
		t.Fatalf("create: %d %+v", code, sub)
	}
	if sub.Destination.Type != "sqs" || sub.URL != "" || !strings.HasPrefix(sub.Name, gancho.DefaultDestinationPrefix) {
		t.Fatalf("created %+v url %q name %q", sub.Destination, sub.URL, sub.Name)
	}
	evID := publishOne(t, c, "order.created")
	m := receiveOne(t, sq, queueURL, 20*time.Second)
	env := checkSignedMessage(t, c, sub.ID, m)
	if env.ID != evID || env.Type != "order.created" || attr(m, "gancho-event-type") != "order.created" || attr(m, "gancho-attempt") != "1" {
		t.Errorf("envelope %+v, attributes %v", env, m.MessageAttributes)
	}
	dl := waitDelivery(t, c, gancho.DeliveryID(evID, sub.ID), 10*time.Second)
	if dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 1 || dl.Attempts[0].StatusCode != 200 || dl.Attempts[0].Response != aws.ToString(m.MessageId) {
		t.Fatalf("delivery %s attempts %+v, message %s", dl.Status, dl.Attempts, aws.ToString(m.MessageId))
	}
	got := waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return s.LastStatusCode == 200 })
	if got.ConsecutiveFailures != 0 {
		t.Errorf("status block %+v", got.Status)
	}
}

// An SNS destination: the topic fans the message out to its subscribers, here a
// queue with raw delivery, which keeps the body and the attributes as sent.
func TestSNSDestination(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	sq := d.App.Clients.SQS
	topic, sinkURL := topicIntoQueue(t, snsClient(sq), sq, uniqueName(gancho.DefaultDestinationPrefix+"topic-"), uniqueName("sink-"))

	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"invoice.paid"}, "format": "raw",
		"destination": map[string]any{"type": "sns", "topicArn": topic}}, &sub); code != 201 {
		t.Fatalf("create: %d %+v", code, sub)
	}
	var pub struct{ ID string }
	if code := c.do("POST", "/v1/events", map[string]any{"type": "invoice.paid", "payload": map[string]any{"invoice": "F-9"}}, &pub); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	m := receiveOne(t, sq, sinkURL, 20*time.Second)
	checkSignedMessage(t, c, sub.ID, m)
	if body := aws.ToString(m.Body); body != `{"invoice":"F-9"}` {
		t.Errorf("raw body %s", body)
	}
	if dl := waitDelivery(t, c, gancho.DeliveryID(pub.ID, sub.ID), 10*time.Second); dl.Status != gancho.StatusDelivered {
		t.Fatalf("delivery %s %+v", dl.Status, dl.Attempts)
	}
}

// A queue that is not there: each attempt fails with the error SQS answered, retries
// follow the schedule, the status block counts the failures, and recover sends the
// failed delivery again once the queue exists.
func TestQueueDestinationFailsRetriesAndRecovers(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	sq := d.App.Clients.SQS
	name := uniqueName(gancho.DefaultDestinationPrefix + "later-")
	queueURL := queueBase(t, sq) + name

	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"order.created"}, "retrySchedule": []int{1},
		"destination": map[string]any{"type": "sqs", "queueUrl": queueURL}}, &sub); code != 201 {
		t.Fatalf("create: %d %+v", code, sub)
	}
	since := time.Now().UTC().Add(-time.Minute)
	evID := publishOne(t, c, "order.created")
	dl := waitDelivery(t, c, gancho.DeliveryID(evID, sub.ID), 30*time.Second)
	if dl.Status != gancho.StatusFailed || len(dl.Attempts) != 2 {
		t.Fatalf("delivery %s after %d attempts, want failed after 2", dl.Status, len(dl.Attempts))
	}
	for _, a := range dl.Attempts {
		if a.Outcome != gancho.OutcomeFailure || a.StatusCode != 400 || a.Error == "" || !strings.Contains(a.Response, a.Error) {
			t.Errorf("attempt %+v", a)
		}
	}
	got := waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return s.ConsecutiveFailures >= 2 })
	if got.LastStatusCode != 400 || got.FailingSince == nil {
		t.Errorf("status block %+v", got.Status)
	}

	createQueue(t, sq, name)
	var rec struct{ Requeued int }
	if code := c.do("POST", "/v1/subscriptions/"+sub.ID+"/recover", map[string]any{"since": since.Format(time.RFC3339)}, &rec); code != 202 || rec.Requeued != 1 {
		t.Fatalf("recover: %d %+v", code, rec)
	}
	m := receiveOne(t, sq, queueURL, 20*time.Second)
	if env := checkSignedMessage(t, c, sub.ID, m); env.ID != evID {
		t.Errorf("recovered message is event %s, want %s", env.ID, evID)
	}
	waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return s.ConsecutiveFailures == 0 && s.LastStatusCode == 200 })
}

// The AWS form of the SSRF rule, through the API: another account's queue needs a
// role; in the deployment's own account only the destination prefix's names.
func TestQueueDestinationRules(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	local := queueBase(t, d.App.Clients.SQS)
	cases := []struct {
		dest  map[string]any
		field string
	}{
		{map[string]any{"type": "sqs", "queueUrl": strings.Replace(local, "000000000000", "222222222222", 1) + "q"}, "destination.roleArn"},
		{map[string]any{"type": "sqs", "queueUrl": local + "gancho-deliveries"}, "destination.queueUrl"},
		{map[string]any{"type": "sns", "topicArn": "arn:aws:sns:us-east-1:000000000000:alarms"}, "destination.topicArn"},
		{map[string]any{"type": "sqs", "queueUrl": local + "gancho-dest-q", "roleArn": "arn:aws:iam::000000000000:role/any"}, "destination.roleArn"},
		{map[string]any{"type": "ftp"}, "destination.type"},
	}
	for i, tc := range cases {
		var problem struct {
			Errors []gancho.FieldError `json:"errors"`
		}
		code := c.do("POST", "/v1/subscriptions", map[string]any{"destination": tc.dest}, &problem)
		if code != 422 || len(problem.Errors) == 0 || problem.Errors[0].Field != tc.field {
			t.Errorf("case %d %v: %d %+v, want 422 naming %s", i, tc.dest, code, problem, tc.field)
		}
	}
	var list struct{ Data []gancho.Subscription }
	if c.do("GET", "/v1/subscriptions", nil, &list); len(list.Data) != 0 {
		t.Errorf("%d subscriptions stored by refused requests", len(list.Data))
	}
}

// customerRole creates, in the customer's account, a role trusting the stack's
// account with externalID, as the README tells a customer to.
// With sessionName, the role trusts only that role session name (one owner's).
func customerRole(t *testing.T, iamc *iam.Client, name, externalID string, sessionName ...string) string {
	t.Helper()
	cond := `"sts:ExternalId":"` + externalID + `"`
	if len(sessionName) > 0 {
		cond += `,"sts:RoleSessionName":"` + sessionName[0] + `"`
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + config.LocalAccountID +
		`:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{` + cond + `}}}]}`
	out, err := iamc.CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
	if err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	return aws.ToString(out.Role.Arn)
}

// Cross-account delivery: a customer's queue and topic in their own account, reached
// through the role they created, assumed with the tenant id as external id. A role
// that trusts another external id (another tenant's, say) is refused by STS, and the
// attempt says so.
func TestCrossAccountDestinations(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	endpoint := aws.ToString(d.App.Clients.SQS.Options().BaseEndpoint)
	const customer = "222222222222"
	cfg := emulators.AccountConfig(customer)
	sqB, snB, iamB := emulators.NewSQSClient(cfg, endpoint), emulators.NewSNSClient(cfg, endpoint), emulators.NewIAMClient(cfg, endpoint)
	ctx := context.Background()

	queueURL := createQueue(t, sqB, uniqueName("orders-in-"))
	if !strings.Contains(queueURL, "/"+customer+"/") {
		t.Fatalf("queue %s is not in the customer's account", queueURL)
	}
	role := customerRole(t, iamB, uniqueName("gancho-sender-"), d.TenantID)
	otherRole := customerRole(t, iamB, uniqueName("other-tenant-"), "t_someone_else")

	// The deployment's own credentials cannot reach the customer's queue.
	if _, err := d.App.Clients.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("x")}); err == nil {
		t.Fatal("the deployment's own credentials sent to another account's queue")
	}

	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"order.created"},
		"destination": map[string]any{"type": "sqs", "queueUrl": queueURL, "roleArn": role}}, &sub); code != 201 {
		t.Fatalf("create: %d %+v", code, sub)
	}
	evID := publishOne(t, c, "order.created")
	m := receiveOne(t, sqB, queueURL, 20*time.Second)
	if env := checkSignedMessage(t, c, sub.ID, m); env.ID != evID {
		t.Errorf("message of event %s, want %s", env.ID, evID)
	}
	if dl := waitDelivery(t, c, gancho.DeliveryID(evID, sub.ID), 10*time.Second); dl.Status != gancho.StatusDelivered {
		t.Fatalf("delivery %s %+v", dl.Status, dl.Attempts)
	}
	c.do("DELETE", "/v1/subscriptions/"+sub.ID, nil, nil)

	// SNS in the customer's account, its topic feeding one of their queues.
	topic, sinkURL := topicIntoQueue(t, snB, sqB, uniqueName("invoices-"), uniqueName("invoices-sink-"))
	var snsSub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"invoice.paid"},
		"destination": map[string]any{"type": "sns", "topicArn": topic, "roleArn": role}}, &snsSub); code != 201 {
		t.Fatalf("create sns: %d %+v", code, snsSub)
	}
	var pub struct{ ID string }
	c.do("POST", "/v1/events", map[string]any{"type": "invoice.paid", "payload": map[string]any{"n": 1}}, &pub)
	checkSignedMessage(t, c, snsSub.ID, receiveOne(t, sqB, sinkURL, 20*time.Second))
	c.do("DELETE", "/v1/subscriptions/"+snsSub.ID, nil, nil)

	// A role that trusts another external id: STS refuses, nothing reaches the queue.
	var bad gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"order.created"}, "retrySchedule": []int{1},
		"destination": map[string]any{"type": "sqs", "queueUrl": queueURL, "roleArn": otherRole}}, &bad); code != 201 {
		t.Fatalf("create: %d %+v", code, bad)
	}
	evID = publishOne(t, c, "order.created")
	dl := waitDelivery(t, c, gancho.DeliveryID(evID, bad.ID), 30*time.Second)
	if dl.Status != gancho.StatusFailed || len(dl.Attempts) != 2 {
		t.Fatalf("delivery %s after %d attempts, want failed after 2", dl.Status, len(dl.Attempts))
	}
	for _, a := range dl.Attempts {
		if a.StatusCode != 403 || !strings.Contains(a.Error, "assume role") || !strings.Contains(a.Error, "AccessDenied") {
			t.Errorf("attempt %+v, want a 403 refusal of the role", a)
		}
	}
	if !queueEmpty(t, sqB, queueURL) {
		t.Error("a message reached the queue through a role that does not trust this tenant")
	}
}

// A role held to one owner of the tenant: its trust policy requires the role session
// name the API shows on that owner's subscription. Another owner of the same tenant
// naming the role is refused by STS.
func TestCrossAccountRoleHeldToOneOwner(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	endpoint := aws.ToString(d.App.Clients.SQS.Options().BaseEndpoint)
	cfg := emulators.AccountConfig("333333333333")
	sqC, iamC := emulators.NewSQSClient(cfg, endpoint), emulators.NewIAMClient(cfg, endpoint)
	queueURL := createQueue(t, sqC, uniqueName("office-42-"))
	role := customerRole(t, iamC, uniqueName("office-42-sender-"), d.TenantID, gancho.SessionName(d.TenantID, "office-42"))

	subscribe := func(owner string) gancho.Subscription {
		var sub gancho.Subscription
		if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"order.created"}, "ownerId": owner, "retrySchedule": []int{1},
			"destination": map[string]any{"type": "sqs", "queueUrl": queueURL, "roleArn": role}}, &sub); code != 201 {
			t.Fatalf("create for %s: %d %+v", owner, code, sub)
		}
		return sub
	}
	mine, theirs := subscribe("office-42"), subscribe("office-43")
	if mine.Destination.SessionName != gancho.SessionName(d.TenantID, "office-42") || theirs.Destination.SessionName == mine.Destination.SessionName {
		t.Fatalf("session names %q and %q", mine.Destination.SessionName, theirs.Destination.SessionName)
	}
	publish := func(owner string) string {
		var pub struct{ ID string }
		if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "ownerId": owner, "payload": map[string]any{}}, &pub); code != 202 {
			t.Fatalf("publish: %d", code)
		}
		return pub.ID
	}
	ok := publish("office-42")
	if env := checkSignedMessage(t, c, mine.ID, receiveOne(t, sqC, queueURL, 20*time.Second)); env.ID != ok {
		t.Errorf("message of event %s, want %s", env.ID, ok)
	}
	refused := waitDelivery(t, c, gancho.DeliveryID(publish("office-43"), theirs.ID), 30*time.Second)
	if refused.Status != gancho.StatusFailed || len(refused.Attempts) == 0 || !strings.Contains(refused.Attempts[0].Error, "AccessDenied") {
		t.Fatalf("the other owner's delivery: %s %+v", refused.Status, refused.Attempts)
	}
	if !queueEmpty(t, sqC, queueURL) {
		t.Error("the other owner's event reached the queue")
	}
}

// A FIFO queue: the message carries the event's subject as its group and the delivery
// id as its deduplication id, so a resend the queue already took is not stored twice.
func TestFIFOQueueDestination(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	sq := d.App.Clients.SQS
	out, err := sq.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(uniqueName(gancho.DefaultDestinationPrefix+"ordered-") + ".fifo"),
		Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	queueURL := aws.ToString(out.QueueUrl)
	var sub gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"events": []string{"order.created"},
		"destination": map[string]any{"type": "sqs", "queueUrl": queueURL}}, &sub); code != 201 {
		t.Fatalf("create: %d %+v", code, sub)
	}
	evID := publishOne(t, c, "order.created")
	res, err := sq.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), WaitTimeSeconds: 20,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameMessageGroupId,
			sqstypes.MessageSystemAttributeNameMessageDeduplicationId}})
	if err != nil || len(res.Messages) != 1 {
		t.Fatalf("receive: %v, %d messages", err, len(res.Messages))
	}
	m := res.Messages[0]
	if g, dd := m.Attributes["MessageGroupId"], m.Attributes["MessageDeduplicationId"]; g != "order-7" || dd != gancho.DeliveryID(evID, sub.ID) {
		t.Errorf("group %q deduplication %q", g, dd)
	}
}
