package dynamo_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// The rate-limit windows as DynamoDB stores them: one item per window, expiring soon
// after it. (How many tokens a window hands out, concurrent takers included, is in
// the behaviour table, shared/storetest, run on both stores.)
func TestRateWindowItems(t *testing.T) {
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tenant := testenv.TenantID()
	sub := gancho.NewID(gancho.PrefixSubscription, time.Now())
	const windows = 3
	base := time.Unix(time.Now().Unix(), 0)
	for w := range windows {
		for i := range 2 {
			n, err := c.Store.TakeRateToken(ctx, tenant, sub, base.Add(time.Duration(w)*time.Second+time.Duration(i)*time.Millisecond))
			if err != nil || n != int64(i+1) {
				t.Fatalf("window %d, take %d: count %d, %v", w, i+1, n, err)
			}
		}
	}

	// One item per window, expiring soon after it.
	res, err := c.DynamoDB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &cfg.TableName,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "T#" + tenant + "#RL#" + sub}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Items) != windows {
		t.Fatalf("%d window items, want %d", len(res.Items), windows)
	}
	for _, it := range res.Items {
		sec, _ := strconv.ParseInt(it["sk"].(*types.AttributeValueMemberS).Value, 10, 64)
		exp, _ := strconv.ParseInt(it["expiresAt"].(*types.AttributeValueMemberN).Value, 10, 64)
		if exp <= sec || exp > sec+600 {
			t.Errorf("window %d expires at %d", sec, exp)
		}
	}
}
