package devstack_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gancho-dev/gancho/infra/devstack"
)

// waitQuiet waits until the stack has nothing left to send: its deliveries and
// ordered queues hold no message, visible, in flight or delayed, on two polls in a
// row. A message is deleted only after its attempt (and its next message is queued
// before that), so a test can then say that nothing more arrives without sleeping on
// it. Parked retries and the outbox are the sweeper's: run it to include them.
func waitQuiet(t *testing.T, d *devstack.Dev, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	attrs := []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	pending := func() (int, error) {
		total := 0
		for _, url := range []string{d.Config.QueueURL, d.Config.OrderedURL} {
			res, err := d.App.Clients.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: attrs})
			if err != nil {
				return 0, err
			}
			for _, a := range attrs {
				n, err := strconv.Atoi(res.Attributes[string(a)])
				if err != nil {
					return 0, err
				}
				total += n
			}
		}
		return total, nil
	}
	quiet := 0
	for quiet < 2 {
		n, err := pending()
		switch {
		case err != nil:
			t.Fatalf("read the queues: %v", err)
		case n == 0:
			quiet++
		default:
			quiet = 0
		}
		if quiet < 2 {
			select {
			case <-ctx.Done():
				t.Fatalf("the queues still hold %d messages after %s", n, within)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}
