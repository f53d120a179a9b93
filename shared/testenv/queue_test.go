package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/queue"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// The dead-letter double behaves as SQS does where Redrive depends on it: a letter
// received is hidden for its visibility timeout and stays until deleted, a body that
// is no delivery message is not Valid, and a receive returns at most ten.
func TestQueueDeadLetters(t *testing.T) {
	ctx := context.Background()
	q := &testenv.Queue{}
	var msgs []queue.Message
	for i := range 11 {
		msgs = append(msgs, queue.Message{TenantID: "ten_a", DeliveryID: "dlv_x", EventID: "evt_x", SubscriptionID: "sub_x", Attempt: i + 1})
	}
	if err := q.SendDeadLetter(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	q.SendDeadLetterBody("{")
	tests := []struct {
		name       string
		visibility time.Duration
		want       int
		invalid    int
		deleteAll  bool // delete what was received
	}{
		{"at most ten, hidden for an hour", time.Hour, 10, 0, false},
		{"the rest, not hidden", 0, 2, 1, false},
		{"the visible ones again", 0, 2, 1, true},
	}
	for _, tc := range tests {
		got, err := q.ReceiveDeadLetters(ctx, tc.visibility)
		if err != nil {
			t.Fatal(err)
		}
		invalid := 0
		for _, l := range got {
			if !l.Valid {
				invalid++
			}
		}
		if len(got) != tc.want || invalid != tc.invalid {
			t.Fatalf("%s: received %d (%d not valid), want %d (%d)", tc.name, len(got), invalid, tc.want, tc.invalid)
		}
		if tc.deleteAll {
			if err := q.DeleteDeadLetters(ctx, []string{got[0].ReceiptHandle, got[1].ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if left := q.DeadLetters(); len(left) != 10 {
		t.Fatalf("%d dead letters left, want the 10 hidden ones", len(left))
	}
}
