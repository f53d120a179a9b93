package emulators

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	stypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

const testStack = "gancho-local"

// repoRoot returns the repository root, skipping the test when the
// emulators are not installed (failing instead under CI, which installs them).
func repoRoot(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts emulators; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckInstalled(root); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return root
}

func TestStackProvisionAndStop(t *testing.T) {
	root := repoRoot(t)
	ctx := t.Context()
	began := time.Now()
	st, err := Start(ctx, Options{RepoRoot: root, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulators ready after %v: %s %s", time.Since(began).Round(time.Millisecond), st.DynamoEndpoint, st.SQSEndpoint)
	t.Cleanup(func() { _ = st.Stop() })

	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	ddb := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(st.DynamoEndpoint),
		DisableValidateResponseChecksum: true,
	})
	sq := sqs.New(sqs.Options{Region: "us-east-1", Credentials: creds, BaseEndpoint: aws.String(st.SQSEndpoint)})

	template := filepath.Join(root, "template.yaml")
	res, err := Provision(ctx, ddb, sq, template, testStack)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Provision(ctx, ddb, sq, template, testStack)
	if err != nil {
		t.Fatalf("second Provision: %v", err)
	}
	if !reflect.DeepEqual(res, again) {
		t.Errorf("second Provision returned %+v, first %+v", again, res)
	}
	// A queue that exists with other attributes (a template changed between runs
	// against long-lived emulators) is brought up to date, template-only attributes
	// such as SqsManagedSseEnabled included.
	changed := map[string]string{"VisibilityTimeout": "61", "SqsManagedSseEnabled": "true"}
	if _, err := createQueue(ctx, sq, "gancho-test-changed", map[string]string{"VisibilityTimeout": "60", "SqsManagedSseEnabled": "true"}); err != nil {
		t.Fatal(err)
	}
	if _, err := createQueue(ctx, sq, "gancho-test-changed", changed); err != nil {
		t.Fatalf("updating an existing queue: %v", err)
	}

	checkTable(t, ddb, res.Tables["GanchoTable"])
	checkQueues(t, sq, res)
	checkMessage(t, sq, res.Queues["DeliveriesQueue"].URL)
	t.Run("generic template", func(t *testing.T) { checkGeneric(t, ddb, sq) })

	if err := st.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkClosed(t, st.DynamoEndpoint, st.SQSEndpoint)
}

func checkTable(t *testing.T, ddb *dynamodb.Client, name string) {
	t.Helper()
	if name != testStack+"-GanchoTable" {
		t.Errorf("table name = %q", name)
	}
	out, err := ddb.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	tbl := out.Table
	if got := keyNames(tbl.KeySchema); !reflect.DeepEqual(got, []string{"pk HASH", "sk RANGE"}) {
		t.Errorf("key schema = %v", got)
	}
	if tbl.BillingModeSummary == nil || tbl.BillingModeSummary.BillingMode != dtypes.BillingModePayPerRequest {
		t.Errorf("billing mode = %+v", tbl.BillingModeSummary)
	}
	// Every index of the template, gsi1 checked in detail.
	if len(tbl.GlobalSecondaryIndexes) != 2 {
		t.Fatalf("GSIs = %+v", tbl.GlobalSecondaryIndexes)
	}
	var gsi dtypes.GlobalSecondaryIndexDescription
	for _, g := range tbl.GlobalSecondaryIndexes {
		if aws.ToString(g.IndexName) == "gsi1" {
			gsi = g
		}
	}
	if aws.ToString(gsi.IndexName) != "gsi1" || gsi.Projection.ProjectionType != dtypes.ProjectionTypeAll {
		t.Errorf("GSI = %s %+v", aws.ToString(gsi.IndexName), gsi.Projection)
	}
	if got := keyNames(gsi.KeySchema); !reflect.DeepEqual(got, []string{"gsi1pk HASH", "gsi1sk RANGE"}) {
		t.Errorf("GSI key schema = %v", got)
	}
	ttl, err := ddb.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if d := ttl.TimeToLiveDescription; aws.ToString(d.AttributeName) != "expiresAt" || d.TimeToLiveStatus != dtypes.TimeToLiveStatusEnabled {
		t.Errorf("TTL = %s %s", aws.ToString(d.AttributeName), d.TimeToLiveStatus)
	}
}

func keyNames(keys []dtypes.KeySchemaElement) []string {
	var out []string
	for _, k := range keys {
		out = append(out, aws.ToString(k.AttributeName)+" "+string(k.KeyType))
	}
	return out
}

func checkQueues(t *testing.T, sq *sqs.Client, res *Resources) {
	t.Helper()
	q, dlq := res.Queues["DeliveriesQueue"], res.Queues["DeliveriesDLQ"]
	if q.Name != testStack+"-deliveries" || dlq.Name != testStack+"-deliveries-dlq" {
		t.Errorf("queue names = %q, %q", q.Name, dlq.Name)
	}
	if dlq.ARN != "arn:aws:sqs:us-east-1:000000000000:"+dlq.Name {
		t.Errorf("dlq ARN = %q", dlq.ARN)
	}
	out, err := sq.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.URL),
		AttributeNames: []stypes.QueueAttributeName{stypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(out.Attributes["RedrivePolicy"]), &policy); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", out.Attributes["RedrivePolicy"], err)
	}
	if policy.DeadLetterTargetArn != dlq.ARN || string(policy.MaxReceiveCount) != "5" {
		t.Errorf("RedrivePolicy = %s", out.Attributes["RedrivePolicy"])
	}
	if out.Attributes["VisibilityTimeout"] != "360" || out.Attributes["MessageRetentionPeriod"] != "1209600" {
		t.Errorf("attributes = %v", out.Attributes)
	}
	if u, err := url.Parse(q.URL); err != nil || u.Hostname() != "127.0.0.1" {
		t.Errorf("queue URL %q does not point at the emulator", q.URL)
	}
}

func checkMessage(t *testing.T, sq *sqs.Client, queueURL string) {
	t.Helper()
	ctx := t.Context()
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 1, WaitTimeSeconds: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != "hello" {
		t.Fatalf("received %+v", out.Messages)
	}
	if _, err := sq.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: out.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
}

const genericTemplate = `
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      DeduplicationScope: messageGroup
      FifoThroughputLimit: perMessageGroupId
      DelaySeconds: 1
      ReceiveMessageWaitTimeSeconds: 2
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDLQ.Arn, maxReceiveCount: 3}
  JobsDLQ:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  Items:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-items"
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}, {AttributeName: n, AttributeType: N}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      GlobalSecondaryIndexes:
        - IndexName: byN
          KeySchema: [{AttributeName: n, KeyType: HASH}]
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [a]}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
      StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
`

// checkGeneric provisions FIFO queues and a provisioned-throughput table.
func checkGeneric(t *testing.T, ddb *dynamodb.Client, sq *sqs.Client) {
	tmpl, err := ParseTemplate([]byte(genericTemplate))
	if err != nil {
		t.Fatal(err)
	}
	var res *Resources
	for range 2 {
		if res, err = ProvisionTemplate(t.Context(), ddb, sq, tmpl, Pseudo{StackName: "generic"}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, dlq := res.Queues["Jobs"], res.Queues["JobsDLQ"]
	if jobs.Name != "generic-jobs.fifo" || dlq.Name != "generic-jobsdlq.fifo" {
		t.Errorf("names = %q %q", jobs.Name, dlq.Name)
	}
	out, err := sq.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(jobs.URL),
		AttributeNames: []stypes.QueueAttributeName{stypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup",
		"FifoThroughputLimit": "perMessageGroupId", "DelaySeconds": "1", "ReceiveMessageWaitTimeSeconds": "2",
		"RedrivePolicy": `{"deadLetterTargetArn":"` + dlq.ARN + `","maxReceiveCount":3}`,
	} {
		if out.Attributes[k] != v {
			t.Errorf("%s = %q, want %q", k, out.Attributes[k], v)
		}
	}
	if res.Tables["Items"] != "generic-items" {
		t.Errorf("table name = %q", res.Tables["Items"])
	}
	desc, err := ddb.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("generic-items")})
	if err != nil {
		t.Fatal(err)
	}
	gsi := desc.Table.GlobalSecondaryIndexes[0]
	if gsi.Projection.ProjectionType != dtypes.ProjectionTypeInclude || !reflect.DeepEqual(gsi.Projection.NonKeyAttributes, []string{"a"}) {
		t.Errorf("GSI projection = %+v", gsi.Projection)
	}
	if s := desc.Table.StreamSpecification; s == nil || s.StreamViewType != dtypes.StreamViewTypeNewAndOldImages {
		t.Errorf("stream = %+v", s)
	}
}

func checkClosed(t *testing.T, endpoints ...string) {
	t.Helper()
	for _, e := range endpoints {
		u, err := url.Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", e)
		}
	}
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	root := repoRoot(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dynamoPort := taken.Addr().(*net.TCPAddr).Port
	sqsPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	st, err := Start(t.Context(), Options{RepoRoot: root, Log: testLog(t), DynamoPort: dynamoPort, SQSPort: sqsPort})
	if err == nil {
		_ = st.Stop()
		t.Fatal("Start succeeded on a taken port")
	}
	if !errors.Is(err, errEarlyExit) {
		t.Errorf("error does not report an early exit: %v", err)
	}
	t.Logf("Start error: %v", err)
	checkClosed(t, "http://127.0.0.1:"+strconv.Itoa(sqsPort))
}

func TestStartNotInstalled(t *testing.T) {
	_, err := Start(t.Context(), Options{RepoRoot: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
}

// testLog returns a writer that logs each line through t.
func testLog(t *testing.T) io.Writer {
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	t.Cleanup(func() {
		w.Close()
		<-done
	})
	return w
}
