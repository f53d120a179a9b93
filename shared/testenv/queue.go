package testenv

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/queue"
)

// Queue is an in-memory double of the deliveries queue, its FIFO twin and its
// dead-letter queue (publish.Queue and publish.DeadLetters): it keeps what was sent
// for tests to inspect. SQS's own behaviour (batching, visibility, redrive policy)
// is tested on the emulators.
type Queue struct {
	mu      sync.Mutex
	sent    []queue.Message
	delays  []time.Duration
	ordered []queue.Message
	groups  []string
	dead    []queue.DeadLetter
	handles int
}

// Send records msgs as sent with delay.
func (q *Queue) Send(_ context.Context, msgs []queue.Message, delay time.Duration) error {
	if delay > queue.MaxDelay {
		return fmt.Errorf("send: delay %s exceeds %s", delay, queue.MaxDelay)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.sent = append(q.sent, m)
		q.delays = append(q.delays, delay)
	}
	return nil
}

// SendOrdered records msgs as sent to the FIFO queue, msgs[i] in message group
// groups[i].
func (q *Queue) SendOrdered(_ context.Context, msgs []queue.Message, groups []string) error {
	if len(groups) != len(msgs) {
		return fmt.Errorf("send ordered: %d messages, %d groups", len(msgs), len(groups))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ordered = append(q.ordered, msgs...)
	q.groups = append(q.groups, groups...)
	return nil
}

// SendDeadLetter puts msgs on the dead-letter queue.
func (q *Queue) SendDeadLetter(_ context.Context, msgs []queue.Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		q.handles++
		q.dead = append(q.dead, queue.DeadLetter{Message: m, Valid: true, ReceiptHandle: "h-" + strconv.Itoa(q.handles)})
	}
	return nil
}

// ReceiveDeadLetters returns up to ten dead letters. They stay on the queue until
// deleted; unlike SQS, a letter is not hidden between receives, so a caller that
// neither deletes nor stops receiving sees it again.
func (q *Queue) ReceiveDeadLetters(context.Context, time.Duration) ([]queue.DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.dead[:min(len(q.dead), 10)]), nil
}

// DeleteDeadLetters removes the dead letters with the given receipt handles.
func (q *Queue) DeleteDeadLetters(_ context.Context, handles []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = slices.DeleteFunc(q.dead, func(d queue.DeadLetter) bool { return slices.Contains(handles, d.ReceiptHandle) })
	return nil
}

// Sent returns the messages sent to the deliveries queue so far, in order.
func (q *Queue) Sent() []queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.sent)
}

// Ordered returns the messages sent to the FIFO queue so far and their groups.
func (q *Queue) Ordered() ([]queue.Message, []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.ordered), slices.Clone(q.groups)
}

// DeadLetters returns the messages on the dead-letter queue.
func (q *Queue) DeadLetters() []queue.Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]queue.Message, len(q.dead))
	for i, d := range q.dead {
		out[i] = d.Message
	}
	return out
}
