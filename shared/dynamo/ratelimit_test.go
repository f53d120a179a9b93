package dynamo_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// N concurrent takers over three windows, limit L: every window hands out exactly L
// tokens, and the refused takers get distinct places after them.
func TestTakeRateTokenExactlyLimitPerWindow(t *testing.T) {
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tenant := testenv.TenantID()
	sub := gancho.NewID(gancho.PrefixSubscription, time.Now())
	const (
		limit   = 7
		windows = 3
		perWin  = 30
	)
	base := time.Unix(time.Now().Unix(), 0)

	counts := make([][]int64, windows)
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range windows {
		for i := range perWin {
			at := base.Add(time.Duration(w)*time.Second + time.Duration(i)*time.Millisecond*30)
			wg.Go(func() {
				<-start
				n, err := c.Store.TakeRateToken(ctx, tenant, sub, at)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				counts[w] = append(counts[w], n)
				mu.Unlock()
			})
		}
	}
	close(start)
	wg.Wait()
	for w, got := range counts {
		slices.Sort(got)
		granted := 0
		for i, n := range got {
			if n != int64(i+1) {
				t.Fatalf("window %d: counts %v, want 1..%d each once", w, got, perWin)
			}
			if n <= limit {
				granted++
			}
		}
		if granted != limit {
			t.Errorf("window %d granted %d, want %d", w, granted, limit)
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
