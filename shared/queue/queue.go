// Package queue puts delivery messages on SQS. A delivery message carries ids, and the
// event itself when it is small (EmbedLimit): the consumer then needs no read of it,
// and publishing can queue the deliveries before it stores the event, once.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Message kinds.
const (
	KindDelivery = ""       // one attempt of one delivery
	KindFanOut   = "fanout" // the fan-out of a large event, continued in the background
)

// Message asks for attempt number Attempt of one delivery, or (Kind fanout) for the
// fan-out of one event.
type Message struct {
	Kind           string `json:"k,omitempty"`
	TenantID       string `json:"t"`
	DeliveryID     string `json:"d"`
	EventID        string `json:"e"`
	SubscriptionID string `json:"s"`
	Attempt        int    `json:"a"`
	// Manual marks a one-off attempt asked for by a user (retry, recover, redrive):
	// it runs even if the delivery had ended, and does not start a retry schedule.
	Manual bool `json:"m,omitempty"`
	// Event is the event itself, when it fits (Embed); its TenantID is the message's.
	Event *gancho.Event `json:"ev,omitempty"`
	// Receives is SQS's ApproximateReceiveCount of this copy (not sent).
	Receives int `json:"-"`
}

// EmbedLimit is the largest encoded event a delivery message carries: ten such
// messages stay well within one SendMessageBatch (256 KiB), and an SQS request is
// billed per 64 KiB.
const EmbedLimit = 16 * 1024

// Embeddable reports whether ev is small enough to travel in its delivery messages,
// from an upper bound of its encoded size (the payload is JSON already; a string can
// grow up to six times when escaped; the field names and times take less than 512
// bytes).
func Embeddable(ev gancho.Event) bool {
	strs := len(ev.ID) + len(ev.Type) + len(ev.OwnerID) + len(ev.Context) + len(ev.Subject) +
		len(ev.TargetSubscriptionID) + len(ev.CallbackURL)
	if ev.Reference != nil {
		strs += len(ev.Reference.Type) + len(ev.Reference.ID)
	}
	return len(ev.Payload)+6*strs+512 <= EmbedLimit
}

// Decode parses a message body.
func Decode(body string) (Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return m, fmt.Errorf("decode message: %w", err)
	}
	switch m.Kind {
	case KindFanOut:
		if m.TenantID == "" || m.EventID == "" {
			return m, errors.New("decode message: fan-out without tenant or event")
		}
	case KindDelivery:
		if m.TenantID == "" || m.DeliveryID == "" || m.EventID == "" || m.SubscriptionID == "" || m.Attempt < 1 {
			return m, errors.New("decode message: missing ids or attempt")
		}
		if m.Event != nil {
			if m.Event.ID != m.EventID {
				return m, errors.New("decode message: the event carried is not the message's")
			}
			m.Event.TenantID = m.TenantID
		}
	default:
		return m, fmt.Errorf("decode message: unknown kind %q", m.Kind)
	}
	return m, nil
}

// MaxDelay is the longest delay SQS can put on a message.
const MaxDelay = 15 * time.Minute

// Queue sends to the deliveries queue, its dead-letter queue and the FIFO queue of
// ordered deliveries.
type Queue struct {
	client     *sqs.Client
	url        string
	dlqURL     string
	orderedURL string
}

// New returns a Queue for the deliveries queue url, its DLQ and the ordered (FIFO)
// queue.
func New(client *sqs.Client, url, dlqURL, orderedURL string) *Queue {
	return &Queue{client: client, url: url, dlqURL: dlqURL, orderedURL: orderedURL}
}

// SendOrdered puts msgs on the FIFO queue, each in its message group (one group per
// subscription and reference: a failing message holds back only the later ones of
// its group). The deduplication id is the delivery and attempt, so a repeat of the
// same send is dropped by SQS but nothing else is.
func (q *Queue) SendOrdered(ctx context.Context, msgs []Message, groups []string) error {
	if q.orderedURL == "" {
		return errors.New("send ordered: no ordered queue configured")
	}
	for start := 0; start < len(msgs); start += 10 {
		end := min(start+10, len(msgs))
		entries := make([]types.SendMessageBatchRequestEntry, 0, end-start)
		for i := start; i < end; i++ {
			body, err := json.Marshal(msgs[i])
			if err != nil {
				return fmt.Errorf("encode message: %w", err)
			}
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id:                     aws.String(strconv.Itoa(i - start)),
				MessageBody:            aws.String(string(body)),
				MessageGroupId:         aws.String(groups[i]),
				MessageDeduplicationId: aws.String(fmt.Sprintf("%s#%d", msgs[i].DeliveryID, msgs[i].Attempt)),
			})
		}
		res, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &q.orderedURL, Entries: entries})
		if err != nil {
			return fmt.Errorf("send ordered batch: %w", err)
		}
		if len(res.Failed) > 0 {
			// Retrying a part of a FIFO batch could reorder it: fail the whole send,
			// which the caller repeats (deduplication drops what did get through).
			return fmt.Errorf("send ordered batch: %d messages rejected: %s", len(res.Failed), aws.ToString(res.Failed[0].Message))
		}
	}
	return nil
}

// Hold keeps a received ordered message invisible for d, which is how an ordered
// delivery waits for its retry: its message group waits with it.
func (q *Queue) Hold(ctx context.Context, receiptHandle string, d time.Duration) error {
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: &q.orderedURL, ReceiptHandle: &receiptHandle,
		VisibilityTimeout: int32(min(max(d, time.Second), MaxHold) / time.Second),
	})
	if err != nil {
		return fmt.Errorf("hold ordered message: %w", err)
	}
	return nil
}

// MaxHold is the longest hold asked for: SQS allows 12 hours from the receive, less
// the time already spent, so keep a margin.
const MaxHold = 11 * time.Hour

// Send enqueues msgs, ten per SendMessageBatch, each visible after delay (at most 15
// minutes). Entries SQS rejects are retried a few times before Send fails.
func (q *Queue) Send(ctx context.Context, msgs []Message, delay time.Duration) error {
	return q.send(ctx, q.url, msgs, delay)
}

// SendDeadLetter puts msgs on the dead-letter queue.
func (q *Queue) SendDeadLetter(ctx context.Context, msgs []Message) error {
	return q.send(ctx, q.dlqURL, msgs, 0)
}

func (q *Queue) send(ctx context.Context, url string, msgs []Message, delay time.Duration) error {
	if delay > MaxDelay {
		return fmt.Errorf("send: delay %s exceeds %s", delay, MaxDelay)
	}
	for start := 0; start < len(msgs); start += 10 {
		batch := msgs[start:min(start+10, len(msgs))]
		entries := make([]types.SendMessageBatchRequestEntry, 0, len(batch))
		for i, m := range batch {
			body, err := json.Marshal(m)
			if err != nil {
				return fmt.Errorf("encode message: %w", err)
			}
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id:           aws.String(strconv.Itoa(i)),
				MessageBody:  aws.String(string(body)),
				DelaySeconds: int32((delay + time.Second - 1) / time.Second), // SQS counts whole seconds; round up
			})
		}
		for attempt := 0; len(entries) > 0; attempt++ {
			if attempt == 5 {
				return fmt.Errorf("send: %d messages rejected after retries", len(entries))
			}
			if attempt > 0 {
				if err := gancho.Sleep(ctx, time.Duration(attempt)*50*time.Millisecond); err != nil {
					return err
				}
			}
			res, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: &url, Entries: entries})
			if err != nil {
				return fmt.Errorf("send message batch: %w", err)
			}
			failed := map[string]bool{}
			for _, f := range res.Failed {
				if f.SenderFault {
					return fmt.Errorf("send message batch: %s: %s", aws.ToString(f.Code), aws.ToString(f.Message))
				}
				failed[aws.ToString(f.Id)] = true
			}
			retry := entries[:0]
			for _, e := range entries {
				if failed[aws.ToString(e.Id)] {
					retry = append(retry, e)
				}
			}
			entries = retry
		}
	}
	return nil
}

// DeadLetter is a message read from the dead-letter queue.
type DeadLetter struct {
	Message       Message
	Valid         bool   // false: the body is not a delivery message
	ReceiptHandle string // to delete it once moved
}

// ReceiveDeadLetters reads up to ten messages from the dead-letter queue, hiding them
// for visibility while the caller moves them.
func (q *Queue) ReceiveDeadLetters(ctx context.Context, visibility time.Duration) ([]DeadLetter, error) {
	res, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: &q.dlqURL, MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		VisibilityTimeout: int32(visibility / time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("receive dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(res.Messages))
	for _, m := range res.Messages {
		msg, err := Decode(aws.ToString(m.Body))
		out = append(out, DeadLetter{Message: msg, Valid: err == nil, ReceiptHandle: aws.ToString(m.ReceiptHandle)})
	}
	return out, nil
}

// DeleteDeadLetters removes moved messages from the dead-letter queue.
func (q *Queue) DeleteDeadLetters(ctx context.Context, handles []string) error {
	for start := 0; start < len(handles); start += 10 {
		batch := handles[start:min(start+10, len(handles))]
		entries := make([]types.DeleteMessageBatchRequestEntry, 0, len(batch))
		for i, h := range batch {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h)})
		}
		res, err := q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.dlqURL, Entries: entries})
		if err != nil {
			return fmt.Errorf("delete dead letters: %w", err)
		}
		if len(res.Failed) > 0 {
			return fmt.Errorf("delete dead letters: %d not deleted", len(res.Failed))
		}
	}
	return nil
}
