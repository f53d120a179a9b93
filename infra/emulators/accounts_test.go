package emulators

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	stypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// The accounts of the tests below: Gancho delivers into the customer's account
// through a role the customer created; the stranger is any other account.
const (
	ganchoAccount   = "111111111111"
	customerAccount = "222222222222"
	strangerAccount = "333333333333"
	tenantID        = "tnt_01HZXACCOUNTS"
)

// startFauxqs starts only the fauxqs emulator and returns its endpoint.
func startFauxqs(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	tl, err := findTools(root)
	if err != nil {
		t.Fatal(err)
	}
	p, endpoint, err := sqsService(tl, 0).start(t.Context(), testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.stop(stopGrace) })
	return endpoint
}

// awsClients are the clients of one identity on the local endpoint.
type awsClients struct {
	sqs *sqs.Client
	sns *sns.Client
	sts *sts.Client
	iam *iam.Client
}

func clientsFor(cfg aws.Config, endpoint string) awsClients {
	return awsClients{
		sqs: NewSQSClient(cfg, endpoint),
		sns: NewSNSClient(cfg, endpoint),
		sts: NewSTSClient(cfg, endpoint),
		iam: NewIAMClient(cfg, endpoint),
	}
}

// wantAPIError fails unless err is an API error with the given code and HTTP status.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if apiErr.ErrorCode() != code {
		t.Errorf("error code = %q (%v), want %q", apiErr.ErrorCode(), err, code)
	}
	var respErr *awshttp.ResponseError
	if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != status {
		t.Errorf("HTTP status of %v is not %d", err, status)
	}
}

func createQueueAs(t *testing.T, c awsClients, name string) (queueURL, arn string) {
	t.Helper()
	ctx := t.Context()
	out, err := c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateQueue %s: %v", name, err)
	}
	attrs, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: out.QueueUrl, AttributeNames: []stypes.QueueAttributeName{stypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("GetQueueAttributes %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl), attrs.Attributes["QueueArn"]
}

// receiveOne waits (long polling) for one message on the queue and deletes it.
func receiveOne(t *testing.T, c *sqs.Client, queueURL string) stypes.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 1, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("ReceiveMessage %s: %v", queueURL, err)
		}
		if len(out.Messages) == 1 {
			m := out.Messages[0]
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
}

// wantEmpty fails if the queue holds a message.
func wantEmpty(t *testing.T, c *sqs.Client, queueURL string) {
	t.Helper()
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []stypes.QueueAttributeName{stypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Attributes["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("%s holds %s messages, want none", queueURL, n)
	}
}

func callerAccount(t *testing.T, c *sts.Client) (account, arn string) {
	t.Helper()
	out, err := c.GetCallerIdentity(t.Context(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	return aws.ToString(out.Account), aws.ToString(out.Arn)
}

// TestAccountsFromCredentials: the access key id chooses the caller's account.
func TestAccountsFromCredentials(t *testing.T) {
	endpoint := startFauxqs(t)
	for _, tc := range []struct {
		name, key, account string
	}{
		{"local key", LocalAccessKeyID, DefaultAccountID},
		{"other static key", "AKIDEXAMPLE", DefaultAccountID},
		{"account id", customerAccount, customerAccount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := clientsFor(StaticConfig(DefaultRegion, tc.key, "secret", ""), endpoint)
			account, arn := callerAccount(t, c.sts)
			if account != tc.account || arn != "arn:aws:iam::"+tc.account+":root" {
				t.Errorf("caller = %s %s, want account %s", account, arn, tc.account)
			}
			queueURL, queueARN := createQueueAs(t, c, "hooks")
			u, err := url.Parse(queueURL)
			if err != nil {
				t.Fatal(err)
			}
			if want := "http://" + u.Host + "/" + tc.account + "/hooks"; queueURL != want || !strings.HasPrefix(endpoint, "http://"+u.Host) {
				t.Errorf("queue URL = %q, want %q on %s", queueURL, want, endpoint)
			}
			if want := "arn:aws:sqs:us-east-1:" + tc.account + ":hooks"; queueARN != want {
				t.Errorf("queue ARN = %q, want %q", queueARN, want)
			}
			got, err := c.sqs.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String("hooks")})
			if err != nil || aws.ToString(got.QueueUrl) != queueURL {
				t.Errorf("GetQueueUrl = %v, %v; want %s", got, err, queueURL)
			}
			list, err := c.sqs.ListQueues(t.Context(), &sqs.ListQueuesInput{})
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range list.QueueUrls {
				if !strings.Contains(q, "/"+tc.account+"/") {
					t.Errorf("ListQueues of %s lists %s", tc.account, q)
				}
			}
			topic, err := c.sns.CreateTopic(t.Context(), &sns.CreateTopicInput{Name: aws.String("events")})
			if err != nil {
				t.Fatal(err)
			}
			if want := "arn:aws:sns:us-east-1:" + tc.account + ":events"; aws.ToString(topic.TopicArn) != want {
				t.Errorf("topic ARN = %q, want %q", aws.ToString(topic.TopicArn), want)
			}
			attrs, err := c.sns.GetTopicAttributes(t.Context(), &sns.GetTopicAttributesInput{TopicArn: topic.TopicArn})
			if err != nil || attrs.Attributes["Owner"] != tc.account {
				t.Errorf("topic attributes = %v, %v; want Owner %s", attrs, err, tc.account)
			}
			sub, err := c.sns.Subscribe(t.Context(), &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN)})
			if err != nil || !strings.HasPrefix(aws.ToString(sub.SubscriptionArn), aws.ToString(topic.TopicArn)+":") {
				t.Errorf("Subscribe = %v, %v; want a subscription of %s", sub, err, aws.ToString(topic.TopicArn))
			}
			topics, err := c.sns.ListTopics(t.Context(), &sns.ListTopicsInput{})
			if err != nil || len(topics.Topics) != 1 {
				t.Errorf("ListTopics = %v, %v; want the account's one topic", topics, err)
			}
		})
	}
}

// TestCrossAccountRefused: a caller reaches no queue or topic of another
// account, whether or not it exists; each account's queue of the same name
// keeps its own messages.
func TestCrossAccountRefused(t *testing.T) {
	endpoint := startFauxqs(t)
	ctx := t.Context()
	gancho := clientsFor(AccountConfig(ganchoAccount), endpoint)
	customer := clientsFor(AccountConfig(customerAccount), endpoint)
	customerQueue, _ := createQueueAs(t, customer, "deliveries")
	ganchoQueue, _ := createQueueAs(t, gancho, "deliveries")
	if customerQueue == ganchoQueue {
		t.Fatalf("two accounts share the queue URL %s", customerQueue)
	}
	missingQueue := strings.Replace(customerQueue, "/deliveries", "/no-such-queue", 1)

	for _, tc := range []struct {
		name string
		call func(queueURL string) error
	}{
		{"SendMessage", func(q string) error {
			_, err := gancho.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q), MessageBody: aws.String("x")})
			return err
		}},
		{"SendMessageBatch", func(q string) error {
			_, err := gancho.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q),
				Entries: []stypes.SendMessageBatchRequestEntry{{Id: aws.String("1"), MessageBody: aws.String("x")}}})
			return err
		}},
		{"ReceiveMessage", func(q string) error {
			_, err := gancho.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q)})
			return err
		}},
		{"GetQueueAttributes", func(q string) error {
			_, err := gancho.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q)})
			return err
		}},
		{"PurgeQueue", func(q string) error {
			_, err := gancho.sqs.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(q)})
			return err
		}},
		{"DeleteQueue", func(q string) error {
			_, err := gancho.sqs.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(q)})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAPIError(t, tc.call(customerQueue), "AccessDenied", http.StatusForbidden)
			wantAPIError(t, tc.call(missingQueue), "AccessDenied", http.StatusForbidden)
		})
	}
	t.Run("GetQueueUrl of another owner", func(t *testing.T) {
		_, err := gancho.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("deliveries"), QueueOwnerAWSAccountId: aws.String(customerAccount)})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
	})

	t.Run("same name, own messages", func(t *testing.T) {
		if _, err := gancho.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(ganchoQueue), MessageBody: aws.String("own")}); err != nil {
			t.Fatal(err)
		}
		if m := receiveOne(t, gancho.sqs, ganchoQueue); aws.ToString(m.Body) != "own" {
			t.Errorf("body = %q", aws.ToString(m.Body))
		}
		wantEmpty(t, customer.sqs, customerQueue)
	})

	topic, err := customer.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("events")})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Publish", func(t *testing.T) {
		_, err := gancho.sns.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String("x")})
		wantAPIError(t, err, "AuthorizationError", http.StatusForbidden)
		var authErr *snstypes.AuthorizationErrorException
		if !errors.As(err, &authErr) {
			t.Errorf("err = %T, want *types.AuthorizationErrorException", err)
		}
	})
	t.Run("subscription of another account's queue", func(t *testing.T) {
		// Pending, as on AWS until the queue's owner confirms it: the topic's own
		// account's queue gets the message, the other account's does not.
		_, ganchoARN := createQueueAs(t, gancho, "from-customer")
		ownQueue, ownARN := createQueueAs(t, customer, "own")
		for _, endpoint := range []string{ganchoARN, ownARN} {
			if _, err := customer.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(endpoint)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := customer.sns.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
		receiveOne(t, customer.sqs, ownQueue)
		wantEmpty(t, gancho.sqs, strings.Replace(ganchoQueue, "/deliveries", "/from-customer", 1))
	})
	t.Run("PublishBatch", func(t *testing.T) {
		_, err := gancho.sns.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: topic.TopicArn,
			PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{{Id: aws.String("1"), Message: aws.String("x")}}})
		wantAPIError(t, err, "AuthorizationError", http.StatusForbidden)
	})
}

// trustPolicy is the trust policy a customer gives the role Gancho assumes:
// Gancho's account, and only with the customer's tenant id as external id.
func trustPolicy(principal, externalID string) string {
	stmt := map[string]any{
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": principal},
		"Action":    "sts:AssumeRole",
	}
	if externalID != "" {
		stmt["Condition"] = map[string]any{"StringEquals": map[string]any{"sts:ExternalId": externalID}}
	}
	b, err := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{stmt}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestAssumeRoleCrossAccountDelivery: the customer creates a role trusting
// Gancho's account with the tenant id as external id; Gancho assumes it only
// with that id and, as the role, sends to the customer's queue and publishes to
// the customer's topic, whose subscription delivers with the message attributes.
func TestAssumeRoleCrossAccountDelivery(t *testing.T) {
	endpoint := startFauxqs(t)
	ctx := t.Context()
	gancho := clientsFor(AccountConfig(ganchoAccount), endpoint)
	customer := clientsFor(AccountConfig(customerAccount), endpoint)
	stranger := clientsFor(AccountConfig(strangerAccount), endpoint)

	role, err := customer.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String("gancho-delivery"),
		AssumeRolePolicyDocument: aws.String(trustPolicy("arn:aws:iam::"+ganchoAccount+":root", tenantID)),
	})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}
	roleARN := aws.ToString(role.Role.Arn)
	if want := "arn:aws:iam::" + customerAccount + ":role/gancho-delivery"; roleARN != want {
		t.Fatalf("role ARN = %q, want %q", roleARN, want)
	}
	_, err = customer.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("gancho-delivery"), AssumeRolePolicyDocument: aws.String(trustPolicy(ganchoAccount, "")),
	})
	wantAPIError(t, err, "EntityAlreadyExists", http.StatusConflict)
	_, err = customer.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("broken"), AssumeRolePolicyDocument: aws.String(`{"Statement": [`),
	})
	wantAPIError(t, err, "MalformedPolicyDocument", http.StatusBadRequest)
	// A role trusting the account by its bare id, without an external id.
	open, err := customer.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("open"), AssumeRolePolicyDocument: aws.String(trustPolicy(ganchoAccount, "")),
	})
	if err != nil {
		t.Fatalf("CreateRole: %v", err)
	}

	for _, tc := range []struct {
		name       string
		caller     awsClients
		roleARN    string
		externalID *string
		ok         bool
	}{
		{"right external id", gancho, roleARN, aws.String(tenantID), true},
		{"no external id", gancho, roleARN, nil, false},
		{"wrong external id", gancho, roleARN, aws.String("tnt_other"), false},
		{"wrong principal", stranger, roleARN, aws.String(tenantID), false},
		{"own account is not the principal", customer, roleARN, aws.String(tenantID), false},
		{"no such role", gancho, "arn:aws:iam::" + customerAccount + ":role/missing", aws.String(tenantID), false},
		{"role of another account", gancho, "arn:aws:iam::" + strangerAccount + ":role/gancho-delivery", aws.String(tenantID), false},
		{"account principal", gancho, aws.ToString(open.Role.Arn), nil, true},
		{"account principal, other caller", stranger, aws.ToString(open.Role.Arn), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.caller.sts.AssumeRole(ctx, &sts.AssumeRoleInput{
				RoleArn: aws.String(tc.roleARN), RoleSessionName: aws.String("gancho-test"), ExternalId: tc.externalID,
			})
			if !tc.ok {
				wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
				return
			}
			if err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			c := out.Credentials
			if k := aws.ToString(c.AccessKeyId); !strings.HasPrefix(k, "ASIA") && !strings.HasPrefix(k, "LSIA") {
				t.Errorf("access key id %q is not a temporary one", k)
			}
			if aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" {
				t.Errorf("credentials = %+v", c)
			}
			if c.Expiration == nil || time.Until(*c.Expiration) < 50*time.Minute || time.Until(*c.Expiration) > 61*time.Minute {
				t.Errorf("expiration = %v, want about an hour from now", c.Expiration)
			}
			name := tc.roleARN[strings.LastIndex(tc.roleARN, "/")+1:]
			if want := "arn:aws:sts::" + customerAccount + ":assumed-role/" + name + "/gancho-test"; aws.ToString(out.AssumedRoleUser.Arn) != want {
				t.Errorf("assumed role ARN = %q, want %q", aws.ToString(out.AssumedRoleUser.Arn), want)
			}
		})
	}

	// The customer's destinations: a queue for direct sends, a topic with a raw
	// and an enveloped subscription.
	direct, _ := createQueueAs(t, customer, "webhooks")
	rawQueue, rawARN := createQueueAs(t, customer, "webhooks-raw")
	envQueue, envARN := createQueueAs(t, customer, "webhooks-envelope")
	ganchoQueue, _ := createQueueAs(t, gancho, "webhooks")
	topic, err := customer.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("webhooks")})
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []struct {
		arn string
		raw string
	}{{rawARN, "true"}, {envARN, "false"}} {
		if _, err := customer.sns.Subscribe(ctx, &sns.SubscribeInput{
			TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(sub.arn),
			Attributes: map[string]string{"RawMessageDelivery": sub.raw},
		}); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
	}

	// Gancho acts as the role the way a deployed Gancho would: through the SDK's
	// AssumeRole credentials provider.
	provider := stscreds.NewAssumeRoleProvider(gancho.sts, roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.ExternalID = aws.String(tenantID)
		o.RoleSessionName = "delivery"
	})
	cfg := LocalConfig()
	cfg.Credentials = aws.NewCredentialsCache(provider)
	asRole := clientsFor(cfg, endpoint)

	account, arn := callerAccount(t, asRole.sts)
	if account != customerAccount || arn != "arn:aws:sts::"+customerAccount+":assumed-role/gancho-delivery/delivery" {
		t.Errorf("caller as the role = %s %s", account, arn)
	}
	if _, err := asRole.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(direct), MessageBody: aws.String("direct")}); err != nil {
		t.Fatalf("SendMessage as the role: %v", err)
	}
	if m := receiveOne(t, customer.sqs, direct); aws.ToString(m.Body) != "direct" {
		t.Errorf("body = %q", aws.ToString(m.Body))
	}
	// As the role, Gancho is in the customer's account: its own queue is another account's.
	_, err = asRole.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(ganchoQueue), MessageBody: aws.String("x")})
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden)

	if _, err := asRole.sns.Publish(ctx, &sns.PublishInput{
		TopicArn: topic.TopicArn, Message: aws.String(`{"type":"order.paid"}`),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"webhook-id": {DataType: aws.String("String"), StringValue: aws.String("msg_1")},
		},
	}); err != nil {
		t.Fatalf("Publish as the role: %v", err)
	}
	raw := receiveOne(t, customer.sqs, rawQueue)
	if aws.ToString(raw.Body) != `{"type":"order.paid"}` {
		t.Errorf("raw body = %q", aws.ToString(raw.Body))
	}
	if a := raw.MessageAttributes["webhook-id"]; aws.ToString(a.StringValue) != "msg_1" || aws.ToString(a.DataType) != "String" {
		t.Errorf("raw message attributes = %+v", raw.MessageAttributes)
	}
	env := receiveOne(t, customer.sqs, envQueue)
	var envelope struct {
		Type, TopicArn, Message string
		MessageAttributes       map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(aws.ToString(env.Body)), &envelope); err != nil {
		t.Fatalf("envelope %q: %v", aws.ToString(env.Body), err)
	}
	if envelope.Type != "Notification" || envelope.TopicArn != aws.ToString(topic.TopicArn) || envelope.Message != `{"type":"order.paid"}` ||
		envelope.MessageAttributes["webhook-id"].Value != "msg_1" {
		t.Errorf("envelope = %+v", envelope)
	}
	if _, err := asRole.sns.PublishBatch(ctx, &sns.PublishBatchInput{TopicArn: topic.TopicArn,
		PublishBatchRequestEntries: []snstypes.PublishBatchRequestEntry{{Id: aws.String("1"), Message: aws.String("batched")}}}); err != nil {
		t.Fatalf("PublishBatch as the role: %v", err)
	}
	if m := receiveOne(t, customer.sqs, rawQueue); aws.ToString(m.Body) != "batched" {
		t.Errorf("batched body = %q", aws.ToString(m.Body))
	}
	receiveOne(t, customer.sqs, envQueue)

	t.Run("role trusting a role", func(t *testing.T) {
		// A role that trusts the role above by its ARN: credentials of that role may
		// assume it; the root of the role's account may too (static keys stand for
		// every principal of their account), another account may not.
		chained, err := customer.iam.CreateRole(ctx, &iam.CreateRoleInput{
			RoleName: aws.String("chained"), AssumeRolePolicyDocument: aws.String(trustPolicy(roleARN, "")),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			caller awsClients
			ok     bool
		}{{"the trusted role", asRole, true}, {"root of its account", customer, true}, {"other account", gancho, false}} {
			_, err := tc.caller.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: chained.Role.Arn, RoleSessionName: aws.String("chain")})
			if tc.ok && err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			if !tc.ok {
				wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
			}
		}
	})

	t.Run("invalid parameters", func(t *testing.T) {
		// As on AWS, a malformed request is a ValidationError, not a refusal.
		_, err := gancho.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("s"), ExternalId: aws.String(tenantID)})
		wantAPIError(t, err, "ValidationError", http.StatusBadRequest)
		_, err = gancho.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(roleARN), RoleSessionName: aws.String("long"),
			ExternalId: aws.String(tenantID), DurationSeconds: aws.Int32(7200)})
		wantAPIError(t, err, "ValidationError", http.StatusBadRequest)
	})

	t.Run("deleted role", func(t *testing.T) {
		if _, err := customer.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: open.Role.RoleName}); err != nil {
			t.Fatal(err)
		}
		_, err := gancho.sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: open.Role.Arn, RoleSessionName: aws.String("again")})
		wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
		_, err = customer.iam.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: open.Role.RoleName})
		wantAPIError(t, err, "NoSuchEntity", http.StatusNotFound)
	})
}

// TestTrustPolicyEvaluation: what a trust policy allows, statement by statement,
// and what CreateRole refuses as malformed.
func TestTrustPolicyEvaluation(t *testing.T) {
	endpoint := startFauxqs(t)
	ctx := t.Context()
	customer := clientsFor(AccountConfig(customerAccount), endpoint)
	callers := map[string]awsClients{
		"gancho":   clientsFor(AccountConfig(ganchoAccount), endpoint),
		"stranger": clientsFor(AccountConfig(strangerAccount), endpoint),
	}
	allowGancho := `{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + ganchoAccount + `:root"}, "Action": "sts:AssumeRole"}`
	type attempt struct {
		caller, externalID string
		ok                 bool
	}
	for i, tc := range []struct {
		name       string
		statements string
		path       string
		attempts   []attempt
	}{
		{"deny wins over allow", allowGancho + `,{"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
			"Condition": {"StringEquals": {"sts:ExternalId": "blocked"}}}`, "",
			[]attempt{{"gancho", "fine", true}, {"gancho", "blocked", false}}},
		{"StringLike", `{"Effect": "Allow", "Principal": {"AWS": "` + ganchoAccount + `"}, "Action": "sts:AssumeRole",
			"Condition": {"StringLike": {"sts:ExternalId": "tnt_*"}}}`, "",
			[]attempt{{"gancho", "tnt_1", true}, {"gancho", "other", false}, {"gancho", "", false}}},
		{"negated operator passes a missing key", `{"Effect": "Allow", "Principal": {"AWS": "` + ganchoAccount + `"}, "Action": "sts:AssumeRole",
			"Condition": {"StringNotEquals": {"sts:ExternalId": "forbidden"}}}`, "",
			[]attempt{{"gancho", "", true}, {"gancho", "forbidden", false}}},
		{"any principal, external id required", `{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
			"Condition": {"StringEquals": {"sts:ExternalId": "` + tenantID + `"}}}`, "",
			[]attempt{{"stranger", tenantID, true}, {"stranger", "", false}}},
		{"principal list", `{"Effect": "Allow", "Principal": {"AWS": ["` + strangerAccount + `", "arn:aws:iam::` + ganchoAccount + `:root"]}, "Action": ["sts:AssumeRole"]}`, "",
			[]attempt{{"gancho", "", true}, {"stranger", "", true}}},
		{"other action only", `{"Effect": "Allow", "Principal": {"AWS": "` + ganchoAccount + `"}, "Action": "sts:TagSession"}`, "",
			[]attempt{{"gancho", "", false}}},
		{"action wildcard", `{"Effect": "Allow", "Principal": {"AWS": "` + ganchoAccount + `"}, "Action": "sts:*"}`, "",
			[]attempt{{"gancho", "", true}, {"stranger", "", false}}},
		{"service principal", `{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}`, "",
			[]attempt{{"gancho", "", false}}},
		{"role with a path", allowGancho, "/gancho/", []attempt{{"gancho", "", true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &iam.CreateRoleInput{
				RoleName:                 aws.String("trust-" + strconv.Itoa(i)),
				AssumeRolePolicyDocument: aws.String(`{"Version": "2012-10-17", "Statement": [` + tc.statements + `]}`),
			}
			if tc.path != "" {
				in.Path = aws.String(tc.path)
			}
			role, err := customer.iam.CreateRole(ctx, in)
			if err != nil {
				t.Fatalf("CreateRole: %v", err)
			}
			if want := "arn:aws:iam::" + customerAccount + ":role" + cmp.Or(tc.path, "/") + *in.RoleName; aws.ToString(role.Role.Arn) != want {
				t.Errorf("role ARN = %q, want %q", aws.ToString(role.Role.Arn), want)
			}
			for _, a := range tc.attempts {
				in := &sts.AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: aws.String("trust")}
				if a.externalID != "" {
					in.ExternalId = aws.String(a.externalID)
				}
				_, err := callers[a.caller].sts.AssumeRole(ctx, in)
				if a.ok && err != nil {
					t.Errorf("%s with external id %q: %v", a.caller, a.externalID, err)
				}
				if !a.ok {
					wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
				}
			}
			if tc.path != "" {
				pathless := "arn:aws:iam::" + customerAccount + ":role/" + *in.RoleName
				_, err := callers["gancho"].sts.AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String(pathless), RoleSessionName: aws.String("trust")})
				wantAPIError(t, err, "AccessDenied", http.StatusForbidden)
			}
		})
	}

	for _, tc := range []struct{ name, doc string }{
		{"not JSON", `{"Statement": [`},
		{"no statement", `{"Version": "2012-10-17"}`},
		{"resource in a trust policy", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole", "Resource": "*"}]}`},
		{"invalid principal", `{"Statement": [{"Effect": "Allow", "Principal": {"AWS": "bob"}, "Action": "sts:AssumeRole"}]}`},
		{"unsupported operator", `{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
			"Condition": {"ForAnyValue:StringEquals": {"sts:ExternalId": ["a"]}}}]}`},
		{"bad effect", `{"Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "sts:AssumeRole"}]}`},
	} {
		t.Run("malformed/"+tc.name, func(t *testing.T) {
			_, err := customer.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("malformed"), AssumeRolePolicyDocument: aws.String(tc.doc)})
			wantAPIError(t, err, "MalformedPolicyDocument", http.StatusBadRequest)
		})
	}
}
