package devstack_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestWorkerRecoversALostReceive: a receive whose response never arrives (the
// connection dropped after the emulator handed the messages over) leaves them in
// flight; the worker's own visibility brings them back within one and a half
// invocation timeouts, not the queue's six minutes.
func TestWorkerRecoversALostReceive(t *testing.T) {
	testenv.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sq, q, lost := lossyQueue(ctx, t)
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var handled []string
	w := &devstack.Worker{SQS: sq, QueueURL: aws.ToString(q.QueueUrl), Log: testenv.Logger(t), Timeout: 2 * time.Second,
		Handle: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range ev.Records {
				handled = append(handled, r.MessageId)
			}
			return events.SQSEventResponse{}, nil
		}}
	for {
		err := w.PollOnce(ctx, 1)
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the message never came back after its receive was lost (lost: %v, last poll: %v)", lost.Load(), err)
		}
	}
	if !lost.Load() {
		t.Fatal("no receive was lost: the test did not exercise the loss")
	}
}

// TestWorkerRecoversALostReceiveWithinSeconds: with the worker's default timeouts (a
// minute per invocation), a receive whose response is lost still gets its messages
// handled within seconds, not after the invocation's visibility of a minute and a half.
func TestWorkerRecoversALostReceiveWithinSeconds(t *testing.T) {
	testenv.Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sq, q, lost := lossyQueue(ctx, t)
	for i := range 10 {
		if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: q.QueueUrl, MessageBody: aws.String(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	handled := map[string]bool{}
	w := &devstack.Worker{SQS: sq, QueueURL: aws.ToString(q.QueueUrl), Log: testenv.Logger(t),
		Handle: func(_ context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range ev.Records {
				handled[r.Body] = true
			}
			return events.SQSEventResponse{}, nil
		}}
	for {
		err := w.PollOnce(ctx, 1)
		mu.Lock()
		n := len(handled)
		mu.Unlock()
		if n == 10 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of 10 messages handled: the rest stayed in flight after their receive was lost (lost: %v, last poll: %v)", n, lost.Load(), err)
		}
	}
	if !lost.Load() {
		t.Fatal("no receive was lost: the test did not exercise the loss")
	}
}

// lossyQueue makes a queue (visibility 360 s, as the template's) and an SQS client on
// which the first ReceiveMessage that returns messages loses its response, as a
// dropped connection does; lost says whether that happened.
func lossyQueue(ctx context.Context, t *testing.T) (*sqs.Client, *sqs.CreateQueueOutput, *atomic.Bool) {
	t.Helper()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lost atomic.Bool
	losing := func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("LoseFirstReceive",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleInitialize(ctx, in)
				if res, ok := out.Result.(*sqs.ReceiveMessageOutput); ok && err == nil && len(res.Messages) > 0 && lost.CompareAndSwap(false, true) {
					return middleware.InitializeOutput{}, md, errors.New("unexpected EOF (response lost)")
				}
				return out, md, err
			}), middleware.After)
	}
	sq := sqs.NewFromConfig(awsCfg, func(o *sqs.Options) { o.APIOptions = append(o.APIOptions, losing) })
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("lost-receive-" + gancho.NewID("q", time.Now())),
		Attributes: map[string]string{"VisibilityTimeout": "360"}})
	if err != nil {
		t.Fatal(err)
	}
	return sq, q, &lost
}
