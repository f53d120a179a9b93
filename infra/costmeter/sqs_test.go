package costmeter_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/infra/costmeter"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// fakeUpstream answers every request with status and body, and keeps the last
// request body it got.
func fakeUpstream(t *testing.T, status int, body string, header map[string]string) (*httptest.Server, *string) {
	t.Helper()
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = string(b)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func post(t *testing.T, url, target, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestSQSBilling counts SQS calls as AWS bills them, for both of its protocols.
func TestSQSBilling(t *testing.T) {
	entries := func(n, size int) string {
		var es []string
		for i := range n {
			es = append(es, fmt.Sprintf(`{"Id":"%d","MessageBody":"%s"}`, i, strings.Repeat("m", size)))
		}
		return `{"QueueUrl":"q","Entries":[` + strings.Join(es, ",") + `]}`
	}
	form := func(action string, entries int) string {
		v := url.Values{"Action": {action}}
		for i := 1; i <= entries; i++ {
			v.Set(fmt.Sprintf("%sRequestEntry.%d.Id", action, i), strconv.Itoa(i))
		}
		return v.Encode()
	}
	tests := []struct {
		name, target, reqBody, respBody string
		status                          int
		op                              string
		want                            costmeter.SQSOp
	}{
		{"batch of ten small messages is one request", "AmazonSQS.SendMessageBatch", entries(10, 900), `{}`, 200,
			"SendMessageBatch", costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 10}},
		{"batch over 64 KiB is one request per chunk", "AmazonSQS.SendMessageBatch", entries(10, 10<<10), `{}`, 200,
			"SendMessageBatch", costmeter.SQSOp{Calls: 1, Billed: 2, Messages: 10}},
		{"one message", "AmazonSQS.SendMessage", `{"QueueUrl":"q","MessageBody":"m"}`, `{}`, 200,
			"SendMessage", costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 1}},
		{"receive of three", "AmazonSQS.ReceiveMessage", `{"QueueUrl":"q"}`, `{"Messages":[{},{},{}]}`, 200,
			"ReceiveMessage", costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 3}},
		{"empty receive", "AmazonSQS.ReceiveMessage", `{"QueueUrl":"q"}`, `{}`, 200,
			"ReceiveMessage", costmeter.SQSOp{Calls: 1, Billed: 1, Empty: 1}},
		{"delete batch", "AmazonSQS.DeleteMessageBatch", `{"QueueUrl":"q","Entries":[{},{}]}`, `{}`, 200,
			"DeleteMessageBatch", costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 2}},
		{"error", "AmazonSQS.SendMessage", `{}`, `{"__type":"QueueDoesNotExist"}`, 400,
			"SendMessage", costmeter.SQSOp{Calls: 1, Billed: 1, Errors: 1}},
		{"query protocol batch", "", form("SendMessageBatch", 4), `<SendMessageBatchResponse/>`, 200,
			"SendMessageBatch", costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 4}},
		{"query protocol receive", "", "Action=ReceiveMessage", `<R><Message></Message><Message></Message></R>`, 200,
			"ReceiveMessage", costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up, got := fakeUpstream(t, tc.status, tc.respBody, nil)
			m := costmeter.New()
			p, err := m.Start(costmeter.SQS, up.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ct := "application/x-amz-json-1.0"
			if tc.target == "" {
				ct = "application/x-www-form-urlencoded"
			}
			resp, body := post(t, p.URL, tc.target, ct, tc.reqBody)
			if resp.StatusCode != tc.status || body != tc.respBody || *got != tc.reqBody {
				t.Errorf("forwarded %q, answered %d %q; want the request and response unchanged", *got, resp.StatusCode, body)
			}
			u := m.Snapshot()
			if u.SQS[tc.op] != tc.want || len(u.SQS) != 1 {
				t.Errorf("counted %+v, want %s: %+v", u.SQS, tc.op, tc.want)
			}
			if n := m.InFlight(); n != 0 {
				t.Errorf("%d requests in flight after the response", n)
			}
		})
	}
}

// TestDynamoRewrite checks what the emulator gets and what the caller gets back:
// the request asks for INDEXES, the response loses what the caller did not ask for
// and carries a checksum of the body it has.
func TestDynamoRewrite(t *testing.T) {
	upstream := `{"Attributes":{},"ConsumedCapacity":{"TableName":"t","CapacityUnits":3.0,"Table":{"CapacityUnits":1.0},` +
		`"GlobalSecondaryIndexes":{"gsi1":{"CapacityUnits":2.0}}}}`
	up, got := fakeUpstream(t, 200, upstream, map[string]string{"X-Amz-Crc32": "1"})
	m := costmeter.New()
	p, err := m.Start(costmeter.DynamoDB, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	resp, body := post(t, p.URL, "DynamoDB_20120810.UpdateItem", "application/x-amz-json-1.0", `{"TableName":"t"}`)
	if !strings.Contains(*got, `"ReturnConsumedCapacity":"INDEXES"`) {
		t.Errorf("emulator got %s, want it to ask for INDEXES", *got)
	}
	if body != `{"Attributes":{}}` {
		t.Errorf("caller got %s, want no ConsumedCapacity", body)
	}
	if want := strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10); resp.Header.Get("X-Amz-Crc32") != want {
		t.Errorf("X-Amz-Crc32 %s, want %s", resp.Header.Get("X-Amz-Crc32"), want)
	}
	want := costmeter.DynamoOp{Calls: 1, WriteUnits: 3, IndexWriteUnits: 2}
	if u := m.Snapshot().DynamoDB["UpdateItem"]; u != want {
		t.Errorf("counted %+v, want %+v", u, want)
	}
}

// TestConditionalFailureIsBilled counts a failed conditional write as one write unit,
// as DynamoDB bills it, though the emulator reports no capacity for it.
func TestConditionalFailureIsBilled(t *testing.T) {
	up, _ := fakeUpstream(t, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"}`, nil)
	m := costmeter.New()
	p, err := m.Start(costmeter.DynamoDB, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	post(t, p.URL, "DynamoDB_20120810.PutItem", "application/x-amz-json-1.0", `{"TableName":"t"}`)
	want := costmeter.DynamoOp{Calls: 1, Errors: 1, ConditionalFailures: 1, WriteUnits: 1}
	if u := m.Snapshot().DynamoDB["PutItem"]; u != want {
		t.Errorf("counted %+v, want %+v", u, want)
	}
}

// TestStartRefusesOffLoopback keeps the proxy from forwarding anywhere but loopback.
func TestStartRefusesOffLoopback(t *testing.T) {
	for _, target := range []string{"http://192.0.2.1:8000", "http://example.com:8000", "https://127.0.0.1:8000", "127.0.0.1:8000"} {
		if p, err := costmeter.New().Start(costmeter.SQS, target); err == nil {
			_ = p.Close()
			t.Errorf("Start(%q) accepted", target)
		}
	}
}

// TestSQSEmulator runs real SDK calls through the proxy to the SQS emulator.
func TestSQSEmulator(t *testing.T) {
	testenv.Config(t)
	m := costmeter.New()
	p, err := m.Start(costmeter.SQS, os.Getenv("AWS_ENDPOINT_URL_SQS"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := emulators.NewSQSClient(emulators.LocalConfig(), p.URL)
	name := "costmeter-" + strings.ToLower(testenv.TenantID()[4:20])
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: created.QueueUrl}) }()
	var entries []types.SendMessageBatchRequestEntry
	for i := range 10 {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String("hello")})
	}
	if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: created.QueueUrl, Entries: entries}); err != nil {
		t.Fatal(err)
	}
	received := 0
	for received < 10 && ctx.Err() == nil {
		res, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		received += len(res.Messages)
	}
	u := m.Snapshot()
	if want := (costmeter.SQSOp{Calls: 1, Billed: 1, Messages: 10}); u.SQS["SendMessageBatch"] != want {
		t.Errorf("SendMessageBatch counted %+v, want %+v", u.SQS["SendMessageBatch"], want)
	}
	if r := u.SQS["ReceiveMessage"]; r.Messages != 10 || r.Billed != r.Calls {
		t.Errorf("ReceiveMessage counted %+v, want 10 messages, one billed request a call", r)
	}
}
