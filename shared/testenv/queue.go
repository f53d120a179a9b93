package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/queue"
)

// Queue is an in-memory double of the deliveries queue, its FIFO twin and its
// dead-letter queue (publish.Queue and publish.DeadLetters): it keeps what was sent
// for tests to inspect, and hides received dead letters for their visibility
// timeout. The rest of SQS's behaviour (batching, retention, redrive policy) is
// tested on the emulators.
type Queue struct {
	mu      sync.Mutex
	sent    []queue.Message
	delays  []time.Duration
	ordered []queue.Message
	groups  []string
	dead    []deadLetter
	handles int
}

// deadLetter is a message on the dead-letter queue, hidden from receives until
// hiddenUntil (SQS's visibility timeout).
type deadLetter struct {
	l           queue.DeadLetter
	hiddenUntil time.Time
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
	for _, m := range msgs {
		body, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode message: %w", err)
		}
		q.SendDeadLetterBody(string(body))
	}
	return nil
}

// SendDeadLetterBody puts a message with body on the dead-letter queue; a body that
// is not a delivery message is received as not Valid, as from SQS.
func (q *Queue) SendDeadLetterBody(body string) {
	m, err := queue.Decode(body)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.handles++
	q.dead = append(q.dead, deadLetter{l: queue.DeadLetter{Message: m, Valid: err == nil, ReceiptHandle: "h-" + strconv.Itoa(q.handles)}})
}

// ReceiveDeadLetters returns up to ten dead letters and hides them for visibility,
// as SQS does: they stay on the queue until deleted.
func (q *Queue) ReceiveDeadLetters(_ context.Context, visibility time.Duration) ([]queue.DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var out []queue.DeadLetter
	for i := range q.dead {
		if len(out) == 10 {
			break
		}
		if d := &q.dead[i]; !now.Before(d.hiddenUntil) {
			d.hiddenUntil = now.Add(visibility)
			out = append(out, d.l)
		}
	}
	return out, nil
}

// DeleteDeadLetters removes the dead letters with the given receipt handles.
func (q *Queue) DeleteDeadLetters(_ context.Context, handles []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dead = slices.DeleteFunc(q.dead, func(d deadLetter) bool { return slices.Contains(handles, d.l.ReceiptHandle) })
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

// DeadLetters returns what is on the dead-letter queue, hidden or not.
func (q *Queue) DeadLetters() []queue.DeadLetter {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]queue.DeadLetter, len(q.dead))
	for i, d := range q.dead {
		out[i] = d.l
	}
	return out
}
