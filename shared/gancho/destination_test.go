package gancho_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/gancho"
)

const (
	ownAccount   = "111111111111"
	otherAccount = "222222222222"
)

var deployment = gancho.TargetPolicy{AWSAccount: ownAccount}

func sqsInput(queueURL, role string) gancho.SubscriptionInput {
	return gancho.SubscriptionInput{Destination: &gancho.Target{Type: "sqs", QueueURL: queueURL, RoleARN: role}}
}

func snsInput(topic, role string) gancho.SubscriptionInput {
	return gancho.SubscriptionInput{Destination: &gancho.Target{Type: "sns", TopicARN: topic, RoleARN: role}}
}

func TestDestinationAccepts(t *testing.T) {
	cases := []struct {
		name     string
		in       gancho.SubscriptionInput
		policy   gancho.TargetPolicy
		wantName string
		want     gancho.AWSResource
	}{
		{"queue in own account with the prefix", sqsInput("https://sqs.eu-west-1.amazonaws.com/"+ownAccount+"/gancho-dest-orders", ""),
			deployment, "gancho-dest-orders", gancho.AWSResource{Region: "eu-west-1", Account: ownAccount, Name: "gancho-dest-orders"}},
		{"queue in another account through its role", sqsInput("https://sqs.us-east-1.amazonaws.com/"+otherAccount+"/orders.fifo", "arn:aws:iam::"+otherAccount+":role/gancho-sender"),
			deployment, "orders.fifo", gancho.AWSResource{Region: "us-east-1", Account: otherAccount, Name: "orders.fifo"}},
		{"legacy queue host", sqsInput("https://eu-central-1.queue.amazonaws.com/"+otherAccount+"/q", "arn:aws:iam::"+otherAccount+":role/r"),
			deployment, "q", gancho.AWSResource{Region: "eu-central-1", Account: otherAccount, Name: "q"}},
		{"topic in another account through its role", snsInput("arn:aws:sns:sa-east-1:"+otherAccount+":pedidos", "arn:aws:iam::"+otherAccount+":role/path/to/r"),
			deployment, "pedidos", gancho.AWSResource{Region: "sa-east-1", Account: otherAccount, Name: "pedidos"}},
		{"own topic, own prefix", snsInput("arn:aws:sns:us-east-1:"+ownAccount+":acme-topic", ""),
			gancho.TargetPolicy{AWSAccount: ownAccount, DestinationPrefix: "acme-"}, "acme-topic", gancho.AWSResource{Region: "us-east-1", Account: ownAccount, Name: "acme-topic"}},
		{"standard queue name of 80 characters", sqsInput("https://sqs.us-east-1.amazonaws.com/"+otherAccount+"/"+strings.Repeat("q", 80), "arn:aws:iam::"+otherAccount+":role/r"),
			deployment, strings.Repeat("q", 80), gancho.AWSResource{Region: "us-east-1", Account: otherAccount, Name: strings.Repeat("q", 80)}},
		{"standard topic name of 256 characters", snsInput("arn:aws:sns:us-east-1:"+otherAccount+":"+strings.Repeat("t", 256), "arn:aws:iam::"+otherAccount+":role/r"),
			deployment, strings.Repeat("t", 100), gancho.AWSResource{Region: "us-east-1", Account: otherAccount, Name: strings.Repeat("t", 256)}},
		{"emulator queue URL on a local run", sqsInput("http://127.0.0.1:9324/000000000000/gancho-dest-q", ""),
			gancho.TargetPolicy{AllowInsecure: true, AWSAccount: "000000000000"}, "gancho-dest-q", gancho.AWSResource{Account: "000000000000", Name: "gancho-dest-q"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub, err := gancho.NewSubscription(c.in, c.policy)
			if err != nil {
				t.Fatal(err)
			}
			if sub.Name != c.wantName || sub.URL != "" || !sub.Destination.IsAWS() {
				t.Errorf("name %q url %q destination %+v", sub.Name, sub.URL, sub.Destination)
			}
			if got := sub.Destination.Resource(); got != c.want {
				t.Errorf("resource %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestDestinationRejects(t *testing.T) {
	own := "https://sqs.us-east-1.amazonaws.com/" + ownAccount + "/gancho-dest-q"
	other := "https://sqs.us-east-1.amazonaws.com/" + otherAccount + "/q"
	otherRole := "arn:aws:iam::" + otherAccount + ":role/r"
	with := func(in gancho.SubscriptionInput, f func(*gancho.SubscriptionInput)) gancho.SubscriptionInput {
		f(&in)
		return in
	}
	cases := []struct {
		name   string
		in     gancho.SubscriptionInput
		policy gancho.TargetPolicy
		field  string
		says   string
	}{
		{"another account without a role", sqsInput(other, ""), deployment, "destination.roleArn", "another AWS account"},
		{"no deployment account known", sqsInput(own, ""), gancho.TargetPolicy{}, "destination.type", "GANCHO_AWS_ACCOUNT_ID"},
		{"no deployment account known, with a role", sqsInput(other, otherRole), gancho.TargetPolicy{}, "destination.type", "GANCHO_AWS_ACCOUNT_ID"},
		{"one of the deployment's own queues, under the prefix", sqsInput("https://sqs.us-east-1.amazonaws.com/"+ownAccount+"/gancho-dest-deliveries", ""),
			gancho.TargetPolicy{AWSAccount: ownAccount, OwnQueues: []string{"https://sqs.us-east-1.amazonaws.com/" + ownAccount + "/gancho-dest-deliveries"}},
			"destination.queueUrl", "this deployment's own queues"},
		{"own account without the prefix", sqsInput("https://sqs.us-east-1.amazonaws.com/"+ownAccount+"/gancho-deliveries", ""), deployment, "destination.queueUrl", `"gancho-dest-"`},
		{"own topic without the prefix", snsInput("arn:aws:sns:us-east-1:"+ownAccount+":alarms", ""), deployment, "destination.topicArn", "must start with"},
		{"a role of the deployment's account", sqsInput(own, "arn:aws:iam::"+ownAccount+":role/gancho-deliver"), deployment, "destination.roleArn", "your own AWS account"},
		{"role in a third account", sqsInput(other, "arn:aws:iam::333333333333:role/r"), deployment, "destination.roleArn", "destination's account"},
		{"role that is no role", sqsInput(other, "arn:aws:iam::"+otherAccount+":user/u"), deployment, "destination.roleArn", "role ARN"},
		{"queue URL on another host", sqsInput("https://evil.example/"+otherAccount+"/q", otherRole), deployment, "destination.queueUrl", "SQS queue URL"},
		{"queue URL over http", sqsInput("http://sqs.us-east-1.amazonaws.com/"+otherAccount+"/q", otherRole), deployment, "destination.queueUrl", "SQS queue URL"},
		{"queue URL with a query", sqsInput(other+"?x=1", otherRole), deployment, "destination.queueUrl", "SQS queue URL"},
		{"local queue URL when not local", sqsInput("http://127.0.0.1:9324/"+ownAccount+"/gancho-dest-q", ""), deployment, "destination.queueUrl", "SQS queue URL"},
		{"queue name too long", sqsInput("https://sqs.us-east-1.amazonaws.com/"+otherAccount+"/"+strings.Repeat("q", 81), otherRole), deployment, "destination.queueUrl", "queue name"},
		{"FIFO queue name over 80 characters", sqsInput("https://sqs.us-east-1.amazonaws.com/"+otherAccount+"/"+strings.Repeat("q", 76)+".fifo", otherRole), deployment, "destination.queueUrl", "queue name"},
		{"topic name over 256 characters", snsInput("arn:aws:sns:us-east-1:"+otherAccount+":"+strings.Repeat("t", 257), otherRole), deployment, "destination.topicArn", "topic name"},
		{"missing queue URL", sqsInput("", ""), deployment, "destination.queueUrl", "is required"},
		{"topic ARN of a queue", snsInput("arn:aws:sqs:us-east-1:"+otherAccount+":q", otherRole), deployment, "destination.topicArn", "SNS topic ARN"},
		{"topic field on a queue", with(sqsInput(other, otherRole), func(in *gancho.SubscriptionInput) {
			in.Destination.TopicARN = "arn:aws:sns:us-east-1:" + otherAccount + ":t"
		}), deployment, "destination.topicArn", "only to type sns"},
		{"unknown type", gancho.SubscriptionInput{Destination: &gancho.Target{Type: "kafka"}}, deployment, "destination.type", "http, sqs or sns"},
		{"http with a queue", gancho.SubscriptionInput{URL: ref("https://a.example/"), Destination: &gancho.Target{Type: "http", QueueURL: other}}, deployment, "destination", "no other fields"},
		{"queue with a url", with(sqsInput(other, otherRole), func(in *gancho.SubscriptionInput) { in.URL = ref("https://a.example/") }), deployment, "url", "must be omitted"},
		{"queue with headers", with(sqsInput(other, otherRole), func(in *gancho.SubscriptionInput) { in.Headers = map[string]string{"X-A": "b"} }), deployment, "headers", "only to http"},
		{"queue with auth", with(sqsInput(other, otherRole), func(in *gancho.SubscriptionInput) {
			in.Auth = &gancho.AuthInput{Type: "static", Value: ref("v")}
		}), deployment, "auth", "only to http"},
		{"queue with method", with(sqsInput(other, otherRole), func(in *gancho.SubscriptionInput) { in.Method = ref("PUT") }), deployment, "method", "only to http"},
		{"queue in notify mode", with(sqsInput(other, otherRole), func(in *gancho.SubscriptionInput) { in.Mode = ref("notify") }), deployment, "mode", "must be push"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := gancho.NewSubscription(c.in, c.policy)
			if !slices.Contains(fieldsOf(t, err), c.field) {
				t.Fatalf("fields %v, want %s: %v", fieldsOf(t, err), c.field, err)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not say %q", err, c.says)
			}
		})
	}
}

// A subscription stored before destinations existed reads as http, and a PATCH moves
// it to a queue when it drops the url.
func TestDestinationReadAndPatch(t *testing.T) {
	sub, err := gancho.NewSubscription(validInput(), deployment)
	if err != nil {
		t.Fatal(err)
	}
	sub.Destination = gancho.Target{} // stored before destinations
	if got := sub.Redacted().Destination.Type; got != "http" {
		t.Errorf("read type %q, want http", got)
	}
	in, err := sub.Patch([]byte(`{"url": null, "destination": {"type": "sqs", "queueUrl": "https://sqs.us-east-1.amazonaws.com/` + otherAccount + `/q", "roleArn": "arn:aws:iam::` + otherAccount + `:role/r"}}`))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := gancho.NewSubscription(in, deployment)
	if err != nil {
		t.Fatal(err)
	}
	if moved.Destination.Type != "sqs" || moved.URL != "" || moved.Name != sub.Name {
		t.Errorf("moved %+v url %q name %q", moved.Destination, moved.URL, moved.Name)
	}
	// What GET returns can be PUT again.
	doc, err := moved.Writable()
	if err != nil {
		t.Fatal(err)
	}
	read, _ := json.Marshal(doc)
	var again gancho.SubscriptionInput
	if err := gancho.DecodeJSON(read, &again); err != nil {
		t.Fatal(err)
	}
	if _, err := gancho.NewSubscription(again, deployment); err != nil {
		t.Errorf("PUT of what GET returned: %v", err)
	}
}

func TestSessionName(t *testing.T) {
	allowed := regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	long := strings.Repeat("t", 200)
	names := map[string]string{}
	for _, c := range []struct{ tenant, owner string }{
		{"ten_06h2bsakcp6mtfwbg7m5sb2n6w", ""}, {"ten_06h2bsakcp6mtfwbg7m5sb2n6w", "office-42"},
		{"ten_06h2bsakcp6mtfwbg7m5sb2n6w", "office-43"}, {long, "x/ y#z"}, {"dev", "carteira 7"},
	} {
		n := gancho.SessionName(c.tenant, c.owner)
		if !allowed.MatchString(n) || !strings.HasPrefix(n, "gancho-") {
			t.Errorf("SessionName(%q, %q) = %q: not a valid role session name", c.tenant, c.owner, n)
		}
		if prev, dup := names[n]; dup {
			t.Errorf("%q and %q share the session name %q", prev, c.owner, n)
		}
		names[n] = c.owner
	}
	sub, err := gancho.NewSubscription(sqsInput("https://sqs.us-east-1.amazonaws.com/"+otherAccount+"/q", "arn:aws:iam::"+otherAccount+":role/r"), deployment)
	if err != nil {
		t.Fatal(err)
	}
	sub.TenantID, sub.OwnerID = "ten_1", "office-42"
	if got := sub.Redacted().Destination.SessionName; got != gancho.SessionName("ten_1", "office-42") {
		t.Errorf("read sessionName %q", got)
	}
	if sub.Destination.SessionName != "" {
		t.Error("the session name is stored; it is derived on read")
	}
}
