package costmeter_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/infra/costmeter"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// dynamoThroughProxy returns a DynamoDB client whose calls go through a counting
// proxy in front of the emulator `make test` started, and a fresh table with one
// global secondary index (projection ALL, as in template.yaml).
func dynamoThroughProxy(t *testing.T) (*costmeter.Meter, *dynamodb.Client, string) {
	t.Helper()
	testenv.Config(t)
	endpoint := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	m := costmeter.New()
	p, err := m.Start(costmeter.DynamoDB, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	db := emulators.NewDynamoDBClient(emulators.LocalConfig(), p.URL)
	table := "costmeter-" + strings.ToLower(testenv.TenantID()[4:20])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := types.ScalarAttributeTypeS
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: s}, {AttributeName: aws.String("sk"), AttributeType: s},
			{AttributeName: aws.String("gsi1pk"), AttributeType: s}, {AttributeName: aws.String("gsi1sk"), AttributeType: s},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String("gsi1"),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String("gsi1pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("gsi1sk"), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })
	return m, db, table
}

func str(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

// TestDynamoUnits checks the units the proxy counts for each kind of call against
// DynamoDB's published arithmetic: writes in 1 KB steps, one more write per index the
// item is (or was) in, strongly consistent reads in 4 KB steps, eventually consistent
// ones half that.
func TestDynamoUnits(t *testing.T) {
	m, db, table := dynamoThroughProxy(t)
	ctx := context.Background()
	key := func(pk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": str(pk), "sk": str("x")}
	}
	item := func(pk string, size int, indexed bool) map[string]types.AttributeValue {
		it := key(pk)
		it["data"] = str(strings.Repeat("d", size))
		if indexed {
			it["gsi1pk"], it["gsi1sk"] = str("g"), str(pk)
		}
		return it
	}
	tests := []struct {
		name                               string
		call                               func() error
		op                                 string
		read, write, indexRead, indexWrite float64
		consistent                         int64
	}{
		{"put, not in the index", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item("a", 100, false)})
			return err
		}, "PutItem", 0, 1, 0, 0, 0},
		{"put, in the index", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item("b", 100, true)})
			return err
		}, "PutItem", 0, 2, 0, 1, 0},
		{"put 1.5 KB, in the index", func() error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item("c", 1500, true)})
			return err
		}, "PutItem", 0, 4, 0, 2, 0},
		{"update that moves the index key", func() error {
			_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: key("b"),
				UpdateExpression:          aws.String("SET gsi1sk = :v"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": str("moved")}})
			return err
		}, "UpdateItem", 0, 3, 0, 2, 0},
		{"strongly consistent get", func() error {
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key("c"), ConsistentRead: aws.Bool(true)})
			return err
		}, "GetItem", 1, 0, 0, 0, 1},
		{"eventually consistent query on the index", func() error {
			_, err := db.Query(ctx, &dynamodb.QueryInput{TableName: &table, IndexName: aws.String("gsi1"),
				KeyConditionExpression:    aws.String("gsi1pk = :g"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":g": str("g")}})
			return err
		}, "Query", 0.5, 0, 0.5, 0, 0},
		{"batch write of two, one indexed", func() error {
			_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: {
				{PutRequest: &types.PutRequest{Item: item("d", 10, true)}},
				{PutRequest: &types.PutRequest{Item: item("e", 10, false)}},
			}}})
			return err
		}, "BatchWriteItem", 0, 3, 0, 1, 0},
		{"transaction of one indexed put", func() error {
			_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: &table, Item: item("f", 10, true)}},
			}})
			return err
		}, "TransactWriteItems", 0, 4, 0, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := m.Snapshot()
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			got := m.Snapshot().Sub(before).DynamoDB[tc.op]
			want := costmeter.DynamoOp{Calls: 1, ReadUnits: tc.read, WriteUnits: tc.write,
				IndexReadUnits: tc.indexRead, IndexWriteUnits: tc.indexWrite, ConsistentReads: tc.consistent}
			if got != want {
				t.Errorf("%s counted %+v, want %+v", tc.op, got, want)
			}
		})
	}
}

// TestDynamoResponseAsAsked checks that the caller gets the consumed capacity it
// asked for and nothing more, whatever the proxy asked for.
func TestDynamoResponseAsAsked(t *testing.T) {
	m, db, table := dynamoThroughProxy(t)
	ctx := context.Background()
	tests := []struct {
		asked       types.ReturnConsumedCapacity
		wantTotal   bool
		wantIndexes bool
	}{
		{"", false, false},
		{types.ReturnConsumedCapacityNone, false, false},
		{types.ReturnConsumedCapacityTotal, true, false},
		{types.ReturnConsumedCapacityIndexes, true, true},
	}
	for _, tc := range tests {
		t.Run(string(tc.asked), func(t *testing.T) {
			// A new item each time: rewriting an identical one touches no index.
			pk := "item-" + string(tc.asked)
			it := map[string]types.AttributeValue{"pk": str(pk), "sk": str("x"), "gsi1pk": str("g"), "gsi1sk": str(pk)}
			before := m.Snapshot()
			res, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: it, ReturnConsumedCapacity: tc.asked})
			if err != nil {
				t.Fatal(err)
			}
			cc := res.ConsumedCapacity
			if (cc != nil) != tc.wantTotal {
				t.Fatalf("ConsumedCapacity = %+v, want present: %v", cc, tc.wantTotal)
			}
			if cc != nil && (cc.GlobalSecondaryIndexes != nil || cc.Table != nil) != tc.wantIndexes {
				t.Errorf("index breakdown %+v / %+v, want present: %v", cc.Table, cc.GlobalSecondaryIndexes, tc.wantIndexes)
			}
			if got := m.Snapshot().Sub(before).DynamoDB["PutItem"].WriteUnits; got != 2 {
				t.Errorf("counted %v write units, want 2 whatever the caller asked", got)
			}
		})
	}
}
