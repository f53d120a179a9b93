// Package devstack runs Gancho on one machine: the emulated AWS services, every API
// route on one HTTP server, and workers that feed the deliveries and ingest queues to
// their handlers the way Lambda's SQS event source mapping does.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// BatchHandler is a Lambda SQS handler with ReportBatchItemFailures.
type BatchHandler func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error)

// Worker polls one queue and invokes a BatchHandler with each batch.
type Worker struct {
	SQS      *sqs.Client
	QueueURL string
	QueueARN string
	Handle   BatchHandler
	Log      *slog.Logger
	// Pollers is the number of concurrent receive loops (Lambda's concurrency); 0: 4.
	Pollers int
	// Timeout is each invocation's deadline, as a Lambda function timeout; 0: 60 s.
	Timeout time.Duration
	// Visibility is how long received messages stay hidden: a failed one comes back
	// after it; 0: 1.5 × Timeout.
	Visibility time.Duration
	// ReceiveVisibility is how long a batch stays hidden between its receive and the
	// worker's extending it to Visibility, which it does before invoking the handler: a
	// receive whose response is lost (a connection reset or an unexpected EOF from the
	// emulator) comes back after this instead of after Visibility. 0: 5 s. Negative:
	// receive with Visibility at once, as Lambda's event source mapping does (one SQS
	// call fewer per batch; infra/cmd/cost counts what AWS would be asked).
	ReceiveVisibility time.Duration
}

// defaultReceiveVisibility is ReceiveVisibility's default.
const defaultReceiveVisibility = 5 * time.Second

// Run polls until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	pollers := w.Pollers
	if pollers == 0 {
		pollers = 4
	}
	var wg sync.WaitGroup
	for range pollers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := w.PollOnce(ctx, 2); err != nil && ctx.Err() == nil {
					w.Log.Warn("poll queue", "queue", w.QueueURL, "err", err)
					time.Sleep(time.Second)
				}
			}
		}()
	}
	wg.Wait()
}

// PollOnce receives up to ten messages (waiting up to waitSeconds), invokes the
// handler and deletes the messages it did not report as failed. Failed ones come back
// after Visibility (Lambda: the queue's visibility timeout).
func (w *Worker) PollOnce(ctx context.Context, waitSeconds int32) error {
	// A receive whose response is lost leaves its messages in flight with nobody
	// handling them: they come back when the visibility given here runs out, so it is
	// short, and extended to the invocation's once the messages are in hand. On AWS
	// the event source mapping receives, and the queue's visibility timeout (360 s)
	// bounds the same loss.
	visibility, extend := w.visibility(), false
	if rv := w.receiveVisibility(); rv > 0 && rv < visibility {
		visibility, extend = rv, true
	}
	res, err := w.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &w.QueueURL,
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             waitSeconds,
		VisibilityTimeout:           seconds(visibility),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return err
	}
	if len(res.Messages) == 0 {
		return nil
	}
	if extend {
		// A message not extended is not handled: it comes back after the short
		// visibility rather than reappearing while this invocation sends it.
		kept, err := w.extend(ctx, res.Messages)
		if err != nil {
			return fmt.Errorf("extend the visibility of %d received messages: %w", len(res.Messages), err)
		}
		if len(kept) < len(res.Messages) {
			w.Log.Warn("extend visibility", "queue", w.QueueURL, "failed", len(res.Messages)-len(kept))
		}
		if res.Messages = kept; len(kept) == 0 {
			return nil
		}
	}
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(res.Messages))}
	for _, m := range res.Messages {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:         aws.ToString(m.MessageId),
			ReceiptHandle:     aws.ToString(m.ReceiptHandle),
			Body:              aws.ToString(m.Body),
			Md5OfBody:         aws.ToString(m.MD5OfBody),
			Attributes:        m.Attributes,
			MessageAttributes: messageAttributes(m.MessageAttributes),
			EventSource:       "aws:sqs",
			EventSourceARN:    w.QueueARN,
			AWSRegion:         "us-east-1",
		})
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.timeout())
	resp, err := w.Handle(ictx, ev)
	cancel()
	if err != nil {
		// A function error fails the whole batch; every message comes back.
		return errors.Join(errors.New("handler failed the batch"), err)
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var entries []types.DeleteMessageBatchRequestEntry
	for i, r := range ev.Records {
		if !failed[r.MessageId] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
		}
	}
	if len(entries) == 0 {
		return nil
	}
	out, err := w.SQS.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: &w.QueueURL, Entries: entries})
	if err != nil {
		return err
	}
	if len(out.Failed) > 0 {
		w.Log.Warn("delete messages", "failed", len(out.Failed))
	}
	return nil
}

// extend hides received messages for the invocation's whole visibility and returns
// those it hid. One the queue no longer knows by this receipt was received by someone
// else meanwhile.
func (w *Worker) extend(ctx context.Context, msgs []types.Message) ([]types.Message, error) {
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)),
			ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds(w.visibility())}
	}
	out, err := w.SQS.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx),
		&sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &w.QueueURL, Entries: entries})
	if err != nil {
		return nil, err
	}
	failed := map[string]bool{}
	for _, f := range out.Failed {
		failed[aws.ToString(f.Id)] = true
	}
	kept := msgs[:0:0]
	for i, m := range msgs {
		if !failed[strconv.Itoa(i)] {
			kept = append(kept, m)
		}
	}
	return kept, nil
}

func seconds(d time.Duration) int32 { return int32(max(1, d.Round(time.Second)/time.Second)) }

func (w *Worker) receiveVisibility() time.Duration {
	if w.ReceiveVisibility == 0 {
		return defaultReceiveVisibility
	}
	return w.ReceiveVisibility
}

// timeout is each invocation's deadline.
func (w *Worker) timeout() time.Duration {
	if w.Timeout == 0 {
		return 60 * time.Second
	}
	return w.Timeout
}

func (w *Worker) visibility() time.Duration {
	if w.Visibility == 0 {
		return w.timeout() * 3 / 2
	}
	return w.Visibility
}

// messageAttributes converts received message attributes to the form Lambda's SQS
// event carries them in.
func messageAttributes(in map[string]types.MessageAttributeValue) map[string]events.SQSMessageAttribute {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]events.SQSMessageAttribute, len(in))
	for name, a := range in {
		out[name] = events.SQSMessageAttribute{DataType: aws.ToString(a.DataType), StringValue: a.StringValue, BinaryValue: a.BinaryValue}
	}
	return out
}
