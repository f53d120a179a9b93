package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Rate windows: one item per subscription per second in which it was sent to,
//
//	rate window   T#<tenant>#RL#<sub>         / <unix second>   (n, expiresAt)
//
// Why fixed one-second windows counted with ADD, rather than a token bucket
// (tokens, updatedAt) item:
//
//   - A take is one UpdateItem with no read before it: ADD is atomic, so every
//     taker in a window sees a distinct count and exactly limit of them get one,
//     however many Lambda instances race. A token bucket needs the current tokens
//     before it can write the refill, so it is read-then-conditional-write, and
//     under contention most writers lose the condition and go round again: more
//     calls exactly when the subscription is busiest.
//   - The ADD is unconditional: callers over the limit get their place in the
//     window's queue (count - limit) instead of a ConditionalCheckFailed error, and
//     the consumer uses it to spread them over the following seconds rather than
//     bring them all back at once.
//   - The cost: a window is a calendar second, so up to 2 x limit can pass within
//     one second that straddles a boundary (limit at the end of one window, limit
//     at the start of the next). Over any n whole seconds of the clock it is exact:
//     at most n x limit.
//
// Windows sort under one partition key per subscription, so recent usage can be read
// with one Query. Only the current second's item is written, and refused takers write
// too; the consumer remembers a window it saw full and refuses the rest of that second
// locally, so an item takes about limit + (consumer instances x batch parallelism)
// writes in its second. DynamoDB allows about 1,000 writes per second to one item, so
// near MaxRateLimitPerSecond (1,000) takes may be throttled: the consumer then delays
// the delivery as if it were over the limit, which errs on the receiver's side. Items
// carry a short expiresAt for DynamoDB's TTL to remove them; nothing reads old
// windows, so a late TTL deletion (or DynamoDB Local's none) changes nothing.

// rateWindowTTL is how long a window's item is kept after its second.
const rateWindowTTL = 2 * time.Minute

func rateWindowKey(tenant, subID string, second int64) map[string]av {
	return key("T#"+tenant+"#RL#"+subID, strconv.FormatInt(second, 10))
}

// TakeRateToken counts one send to a subscription in the one-second window holding at
// and returns the window's count including this one. The caller may send when the
// count is at most the subscription's rateLimitPerSecond; a count above it says how
// many takers of this window were refused before and including this one
// (count - limit).
func (st *Store) TakeRateToken(ctx context.Context, tenant, subID string, at time.Time) (int64, error) {
	sec := at.Unix()
	res, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &st.table,
		Key:              rateWindowKey(tenant, subID, sec),
		UpdateExpression: aws.String("ADD #n :one SET expiresAt = :exp"),
		ExpressionAttributeNames: map[string]string{
			"#n": "n",
		},
		ExpressionAttributeValues: map[string]av{
			":one": n(1), ":exp": n(at.Add(rateWindowTTL).Unix()),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, fmt.Errorf("take rate token: %w", err)
	}
	v, ok := res.Attributes["n"].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("take rate token: no count returned")
	}
	count, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("take rate token: count %q: %w", v.Value, err)
	}
	return count, nil
}
