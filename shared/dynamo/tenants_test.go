package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/storetest"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// tenantEnv is one test's view of the emulated table for tenants and keys.
type tenantEnv struct {
	ctx   context.Context
	st    *dynamo.Store
	db    *dynamodb.Client
	table string
}

func newTenantEnv(t *testing.T) tenantEnv {
	t.Helper()
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return tenantEnv{ctx: ctx, st: c.Store, db: c.DynamoDB, table: cfg.TableName}
}

// rawItem returns every attribute of the item at pk/sk as text, for checks that
// secrets are not stored in the clear.
func (e tenantEnv) rawItem(t *testing.T, pk, sk string) string {
	t.Helper()
	res, err := e.db.GetItem(e.ctx, &dynamodb.GetItemInput{TableName: &e.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil {
		t.Fatal(err)
	}
	var plain map[string]any
	if err := attributevalue.UnmarshalMap(res.Item, &plain); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) == 0 {
		t.Fatalf("no item at %s / %s", pk, sk)
	}
	return string(b)
}

func (e tenantEnv) newTenant(t *testing.T, change func(*gancho.Tenant)) (gancho.Tenant, gancho.APIKey) {
	t.Helper()
	now := time.Now().UTC()
	ten := gancho.Tenant{ID: testenv.TenantID(), Name: "T", AllowedEventTypesOnly: true, Secret: "whsec_" + strings.Repeat("A", 43) + "=",
		CreatedAt: now, UpdatedAt: now}
	if change != nil {
		change(&ten)
	}
	k, hash := storetest.KeyFor(ten.ID, "", now)
	if err := e.st.CreateTenant(e.ctx, ten, k, hash); err != nil {
		t.Fatal(err)
	}
	return ten, k
}

// A tenant's three secrets are sealed at rest, its settings are not (the behaviour
// table, package storetest, reads them back).
func TestTenantSecretsSealedAtRest(t *testing.T) {
	e := newTenantEnv(t)
	jwtSecret := "jwt-secret-" + strings.Repeat("q", 30)
	until := time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
	ten, _ := e.newTenant(t, func(ten *gancho.Tenant) {
		ten.SignatureHeader = "X-JuriChat-Signature"
		ten.PublicBaseURL = "https://hooks.example"
		ten.PreviousSecret, ten.PreviousSecretValidUntil = "whsec_previous-secret-value", &until
		ten.JWT = &gancho.JWTSettings{Issuer: "https://idp.example/" + ten.ID, Audience: "gancho", Algorithm: "HS256", Secret: jwtSecret}
	})
	raw := e.rawItem(t, "T#"+ten.ID, "T")
	if !strings.Contains(raw, "X-JuriChat-Signature") || strings.Count(raw, "sealed:v1:") != 3 {
		t.Fatalf("stored tenant %s: want settings in the clear and 3 sealed secrets", raw)
	}
	for _, secret := range []string{ten.Secret, ten.PreviousSecret, jwtSecret} {
		if strings.Contains(raw, secret) {
			t.Errorf("the stored tenant holds %q in the clear", secret)
		}
	}
}

func TestPutAPIKeyReplacesValue(t *testing.T) {
	e := newTenantEnv(t)
	ten, _ := e.newTenant(t, nil)
	k, oldHash := storetest.KeyFor(ten.ID, "", time.Now())
	if err := e.st.PutAPIKey(e.ctx, k, oldHash); err != nil {
		t.Fatal(err)
	}
	if err := e.st.PutAPIKey(e.ctx, k, "new-"+oldHash); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.LookupAPIKey(e.ctx, oldHash); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("the replaced value still authenticates: %v", err)
	}
	if got, err := e.st.LookupAPIKey(e.ctx, "new-"+oldHash); err != nil || got.ID != k.ID {
		t.Fatalf("new value: %+v %v", got, err)
	}
	if err := e.st.RevokeAPIKey(e.ctx, ten.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.LookupAPIKey(e.ctx, "new-"+oldHash); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("after revoke: %v", err)
	}
}

// A key stored with only its by-hash item (as before keys had a by-id item) is
// still found by id and can be revoked.
func TestLegacyAPIKey(t *testing.T) {
	e := newTenantEnv(t)
	ten, _ := e.newTenant(t, nil)
	k, h := storetest.KeyFor(ten.ID, "", time.Now())
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "K#" + h}, "sk": &types.AttributeValueMemberS{Value: "K"},
		"gsi1pk": &types.AttributeValueMemberS{Value: "T#" + ten.ID + "#K"}, "gsi1sk": &types.AttributeValueMemberS{Value: k.ID},
		"id": &types.AttributeValueMemberS{Value: k.ID}, "tenantId": &types.AttributeValueMemberS{Value: ten.ID},
		"name": &types.AttributeValueMemberS{Value: "legacy"}, "scopes": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: gancho.ScopeKeysRead}}},
		"createdAt": &types.AttributeValueMemberS{Value: time.Now().UTC().Format(time.RFC3339Nano)},
	}
	if _, err := e.db.PutItem(e.ctx, &dynamodb.PutItemInput{TableName: &e.table, Item: item}); err != nil {
		t.Fatal(err)
	}
	if got, err := e.st.GetAPIKey(e.ctx, ten.ID, k.ID); err != nil || got.Name != "legacy" {
		t.Fatalf("get legacy key: %+v %v", got, err)
	}
	if _, err := e.st.GetAPIKey(e.ctx, testenv.TenantID(), k.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("legacy key from another tenant: %v", err)
	}
	if err := e.st.RevokeAPIKey(e.ctx, ten.ID, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.LookupAPIKey(e.ctx, h); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("legacy key after revoke: %v", err)
	}
}
