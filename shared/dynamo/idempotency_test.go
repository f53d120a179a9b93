package dynamo_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/testenv"
)

type idemEnv struct {
	ctx   context.Context
	st    *dynamo.Store
	db    *dynamodb.Client
	table string
	now   time.Time
}

func newIdemEnv(t *testing.T) idemEnv {
	t.Helper()
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return idemEnv{ctx: ctx, st: c.Store, db: c.DynamoDB, table: cfg.TableName, now: time.Now().UTC().Truncate(time.Second)}
}

// record is a fresh running record of tenant for key, made at e.now.
func (e idemEnv) record(tenant, owner, key, hash, lock string) dynamo.IdempotencyRecord {
	return dynamo.IdempotencyRecord{
		Tenant: tenant, Credential: "key_test", Owner: owner, Key: key, Route: "create-subscription", RequestHash: hash, Lock: lock,
		CreatedAt: e.now, LeaseUntil: e.now.Add(time.Minute), ExpiresAt: e.now.Add(24 * time.Hour),
	}
}

func (e idemEnv) begin(t *testing.T, rec dynamo.IdempotencyRecord, now time.Time) (dynamo.IdempotencyRecord, bool) {
	t.Helper()
	got, started, err := e.st.BeginIdempotent(e.ctx, rec, now)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	return got, started
}

// A finished record's response body is sealed at rest and it expires by the table's
// TTL (the behaviour table, package storetest, has the record's lifecycle).
func TestIdempotencyRecordSealedAtRest(t *testing.T) {
	e := newIdemEnv(t)
	tenant := testenv.TenantID()
	rec := e.record(tenant, "", "key-1", "hash-a", "lock-1")

	if _, started := e.begin(t, rec, e.now); !started {
		t.Fatal("a new key was not claimed")
	}
	secret := "whsec_" + strings.Repeat("s", 40)
	rec.Status = 201
	rec.Header = map[string]string{"Content-Type": "application/json", "Location": "/v1/subscriptions/sub_1"}
	rec.Body = []byte(`{"id":"sub_1","secret":"` + secret + `"}`)
	if err := e.st.FinishIdempotent(e.ctx, rec); err != nil {
		t.Fatalf("finish: %v", err)
	}
	// At rest, the body is sealed and nothing in the item shows the secret.
	item := e.rawItem(t, tenant)
	body, _ := item["body"].(*types.AttributeValueMemberS)
	if body == nil || !strings.HasPrefix(body.Value, "sealed:v1:") {
		t.Fatalf("stored body is not sealed: %v", item["body"])
	}
	for name, v := range item {
		if s, ok := v.(*types.AttributeValueMemberS); ok && (strings.Contains(s.Value, secret) || strings.Contains(s.Value, "whsec_")) {
			t.Errorf("attribute %s holds the secret in clear", name)
		}
	}
	if exp, ok := item["expiresAt"].(*types.AttributeValueMemberN); !ok || exp.Value != strconv.FormatInt(e.now.Add(24*time.Hour).Unix(), 10) {
		t.Errorf("expiresAt = %v, want now + 24 h", item["expiresAt"])
	}
}

func (e idemEnv) rawItem(t *testing.T, tenant string) map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(e.db, &dynamodb.ScanInput{
		TableName:                 &e.table,
		FilterExpression:          aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "T#" + tenant + "#I#"}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, page.Items...)
	}
	if len(items) != 1 {
		t.Fatalf("tenant %s has %d idempotency records, want 1", tenant, len(items))
	}
	return items[0]
}
