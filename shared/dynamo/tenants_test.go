package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
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

// keyFor returns a key of tenant, with a fresh id, and a fake hash.
func keyFor(tenant, owner string, at time.Time) (gancho.APIKey, string) {
	id := gancho.NewID(gancho.PrefixKey, at)
	return gancho.APIKey{ID: id, TenantID: tenant, Name: "k", Scopes: []string{gancho.ScopeKeysRead}, OwnerID: owner, CreatedAt: at.UTC()},
		"hash-" + id
}

func (e tenantEnv) newTenant(t *testing.T, change func(*gancho.Tenant)) (gancho.Tenant, gancho.APIKey) {
	t.Helper()
	now := time.Now().UTC()
	ten := gancho.Tenant{ID: testenv.TenantID(), Name: "T", AllowedEventTypesOnly: true, Secret: "whsec_" + strings.Repeat("A", 43) + "=",
		CreatedAt: now, UpdatedAt: now}
	if change != nil {
		change(&ten)
	}
	k, hash := keyFor(ten.ID, "", now)
	if err := e.st.CreateTenant(e.ctx, ten, k, hash); err != nil {
		t.Fatal(err)
	}
	return ten, k
}

func TestTenantRoundTripSealed(t *testing.T) {
	e := newTenantEnv(t)
	jwtSecret := "jwt-secret-" + strings.Repeat("q", 30)
	until := time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
	ten, first := e.newTenant(t, func(ten *gancho.Tenant) {
		ten.SignatureHeader = "X-JuriChat-Signature"
		ten.PublicBaseURL = "https://hooks.example"
		ten.PreviousSecret, ten.PreviousSecretValidUntil = "whsec_previous-secret-value", &until
		ten.JWT = &gancho.JWTSettings{Issuer: "https://idp.example/" + ten.ID, Audience: "gancho", Algorithm: "HS256", Secret: jwtSecret}
	})
	got, err := e.st.GetTenant(e.ctx, ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Secret != ten.Secret || got.PreviousSecret != ten.PreviousSecret || got.JWT == nil || *got.JWT != *ten.JWT ||
		got.SignatureHeader != ten.SignatureHeader || got.PublicBaseURL != ten.PublicBaseURL || !got.AllowedEventTypesOnly ||
		!got.PreviousSecretValidUntil.Equal(until) || !got.UpdatedAt.Equal(ten.UpdatedAt) {
		t.Fatalf("read back %+v (jwt %+v), stored %+v", got, got.JWT, ten)
	}
	raw := e.rawItem(t, "T#"+ten.ID, "T")
	if !strings.Contains(raw, "X-JuriChat-Signature") || strings.Count(raw, "sealed:v1:") != 3 {
		t.Fatalf("stored tenant %s: want settings in the clear and 3 sealed secrets", raw)
	}
	for _, secret := range []string{ten.Secret, ten.PreviousSecret, jwtSecret} {
		if strings.Contains(raw, secret) {
			t.Errorf("the stored tenant holds %q in the clear", secret)
		}
	}
	if k, err := e.st.GetAPIKey(e.ctx, ten.ID, first.ID); err != nil || k.ID != first.ID {
		t.Fatalf("first key: %+v %v", k, err)
	}
	if _, err := e.st.GetTenant(e.ctx, testenv.TenantID()); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}
	k2, h2 := keyFor(ten.ID, "", time.Now())
	if err := e.st.CreateTenant(e.ctx, gancho.Tenant{ID: ten.ID, Name: "again"}, k2, h2); !errors.Is(err, gancho.ErrConflict) {
		t.Fatalf("creating an existing tenant: %v", err)
	}
}

func TestUpdateTenantOptimistic(t *testing.T) {
	e := newTenantEnv(t)
	ten, _ := e.newTenant(t, nil)
	after := ten
	after.Name, after.UpdatedAt = "renamed", ten.UpdatedAt.Add(time.Millisecond)
	if err := e.st.UpdateTenant(e.ctx, ten, after); err != nil {
		t.Fatal(err)
	}
	stale := ten
	stale.Name, stale.UpdatedAt = "lost", ten.UpdatedAt.Add(2*time.Millisecond)
	if err := e.st.UpdateTenant(e.ctx, ten, stale); !errors.Is(err, gancho.ErrConflict) {
		t.Fatalf("update from a stale read: %v, want conflict", err)
	}
	if got, _ := e.st.GetTenant(e.ctx, ten.ID); got.Name != "renamed" {
		t.Fatalf("name = %q after a lost race", got.Name)
	}
	ghost := gancho.Tenant{ID: testenv.TenantID(), Name: "x"}
	if err := e.st.UpdateTenant(e.ctx, ghost, ghost); !errors.Is(err, gancho.ErrConflict) {
		t.Fatalf("update of a missing tenant: %v", err)
	}
	// Tenants stored before updatedAt existed can be updated too.
	legacy := gancho.Tenant{ID: testenv.TenantID(), Name: "legacy"}
	k, h := keyFor(legacy.ID, "", time.Now())
	if err := e.st.CreateTenant(e.ctx, legacy, k, h); err != nil {
		t.Fatal(err)
	}
	next := legacy
	next.Name, next.UpdatedAt = "updated", time.Now().UTC()
	if err := e.st.UpdateTenant(e.ctx, legacy, next); err != nil {
		t.Fatalf("update of a tenant without updatedAt: %v", err)
	}
}

func TestIssuerIndex(t *testing.T) {
	e := newTenantEnv(t)
	a, _ := e.newTenant(t, nil)
	b, _ := e.newTenant(t, nil)
	iss := "https://idp.example/" + a.ID
	hs := func(issuer string) *gancho.JWTSettings {
		return &gancho.JWTSettings{Issuer: issuer, Audience: "gancho", Algorithm: "HS256", Secret: strings.Repeat("s", 32)}
	}
	update := func(before gancho.Tenant, change func(*gancho.Tenant)) (gancho.Tenant, error) {
		after := before
		change(&after)
		after.UpdatedAt = before.UpdatedAt.Add(time.Millisecond)
		return after, e.st.UpdateTenant(e.ctx, before, after)
	}

	if _, err := e.st.TenantByIssuer(e.ctx, iss); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("unclaimed issuer: %v", err)
	}
	a, err := update(a, func(t *gancho.Tenant) { t.JWT = hs(iss) })
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.st.TenantByIssuer(e.ctx, iss); err != nil || got.ID != a.ID || got.JWT.Secret != a.JWT.Secret {
		t.Fatalf("by issuer: %+v %v", got, err)
	}
	if strings.Contains(e.rawItem(t, "T#"+a.ID, "T"), a.JWT.Secret) {
		t.Error("the jwt secret is stored in the clear")
	}
	// Re-saving A with the same issuer keeps its claim.
	if a, err = update(a, func(t *gancho.Tenant) { t.Name = "A2" }); err != nil {
		t.Fatal(err)
	}
	// B cannot take A's issuer, and B is left unchanged.
	if _, err := update(b, func(t *gancho.Tenant) { t.Name = "B2"; t.JWT = hs(iss) }); !errors.Is(err, gancho.ErrIssuerTaken) {
		t.Fatalf("B claiming A's issuer: %v", err)
	}
	if got, _ := e.st.GetTenant(e.ctx, b.ID); got.Name != b.Name || got.JWT != nil {
		t.Fatalf("B after a refused claim: %+v", got)
	}
	// A moves to a new issuer: the old one is free for B.
	iss2 := iss + "/v2"
	if a, err = update(a, func(t *gancho.Tenant) { t.JWT = hs(iss2) }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.TenantByIssuer(e.ctx, iss); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("released issuer: %v", err)
	}
	if b, err = update(b, func(t *gancho.Tenant) { t.JWT = hs(iss) }); err != nil {
		t.Fatalf("B claiming a released issuer: %v", err)
	}
	if got, err := e.st.TenantByIssuer(e.ctx, iss); err != nil || got.ID != b.ID {
		t.Fatalf("by issuer after the move: %+v %v", got, err)
	}
	// Clearing the settings releases the issuer.
	if _, err = update(a, func(t *gancho.Tenant) { t.JWT = nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.TenantByIssuer(e.ctx, iss2); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("cleared issuer: %v", err)
	}
	// A tenant created with JWT settings claims its issuer too.
	c, _ := e.newTenant(t, func(t *gancho.Tenant) { t.JWT = hs(iss2) })
	if got, err := e.st.TenantByIssuer(e.ctx, iss2); err != nil || got.ID != c.ID {
		t.Fatalf("issuer of a created tenant: %+v %v", got, err)
	}
	k, h := keyFor("x", "", time.Now())
	dup := gancho.Tenant{ID: testenv.TenantID(), Name: "dup", JWT: hs(iss2)}
	k.TenantID = dup.ID
	if err := e.st.CreateTenant(e.ctx, dup, k, h); !errors.Is(err, gancho.ErrIssuerTaken) {
		t.Fatalf("creating a tenant with a taken issuer: %v", err)
	}
	if _, err := e.st.GetTenant(e.ctx, dup.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("the refused tenant was stored: %v", err)
	}
}

func TestAPIKeys(t *testing.T) {
	e := newTenantEnv(t)
	ten, first := e.newTenant(t, nil)
	other, otherKey := e.newTenant(t, nil)
	at := time.Now()
	var want []string
	for i, owner := range []string{"", "alice", "alice", "bob"} {
		k, h := keyFor(ten.ID, owner, at.Add(time.Duration(i+1)*time.Millisecond))
		if err := e.st.CreateAPIKey(e.ctx, k, h); err != nil {
			t.Fatal(err)
		}
		want = append([]string{k.ID}, want...)
		if got, err := e.st.LookupAPIKey(e.ctx, h); err != nil || got.ID != k.ID || got.OwnerID != owner {
			t.Fatalf("lookup: %+v %v", got, err)
		}
	}
	want = append(want, first.ID)
	// Paging, newest first.
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		keys, next, err := e.st.ListAPIKeys(e.ctx, ten.ID, "", dynamo.Page{Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			got = append(got, k.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	alice, _, err := e.st.ListAPIKeys(e.ctx, ten.ID, "alice", dynamo.Page{Limit: 10})
	if err != nil || len(alice) != 2 || alice[0].OwnerID != "alice" || alice[1].OwnerID != "alice" {
		t.Fatalf("alice's keys: %+v %v", alice, err)
	}
	// Another tenant's cursor and ids are refused.
	_, next, _ := e.st.ListAPIKeys(e.ctx, ten.ID, "", dynamo.Page{Limit: 1})
	if _, _, err := e.st.ListAPIKeys(e.ctx, other.ID, "", dynamo.Page{Limit: 1, Cursor: next}); gancho.KindOf(err) != gancho.KindBadRequest {
		t.Fatalf("foreign cursor: %v", err)
	}
	if _, err := e.st.GetAPIKey(e.ctx, other.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("foreign get: %v", err)
	}
	if err := e.st.RevokeAPIKey(e.ctx, other.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("foreign revoke: %v", err)
	}
	// Revocation removes the key for lookup, get and list.
	if err := e.st.RevokeAPIKey(e.ctx, ten.ID, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.LookupAPIKey(e.ctx, "hash-"+first.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("lookup after revoke: %v", err)
	}
	if _, err := e.st.GetAPIKey(e.ctx, ten.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("get after revoke: %v", err)
	}
	if err := e.st.RevokeAPIKey(e.ctx, ten.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	keys, _, _ := e.st.ListAPIKeys(e.ctx, ten.ID, "", dynamo.Page{Limit: 10})
	for _, k := range keys {
		if k.ID == first.ID {
			t.Fatal("a revoked key is listed")
		}
	}
	if _, err := e.st.LookupAPIKey(e.ctx, "hash-"+otherKey.ID); err != nil {
		t.Fatalf("the other tenant's key after a foreign revoke: %v", err)
	}
	dupKey, dupHash := keyFor(ten.ID, "", time.Now())
	if err := e.st.CreateAPIKey(e.ctx, dupKey, dupHash); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(e.ctx, dupKey, dupHash); !errors.Is(err, gancho.ErrConflict) {
		t.Fatalf("creating a key twice: %v", err)
	}
}

func TestPutAPIKeyReplacesValue(t *testing.T) {
	e := newTenantEnv(t)
	ten, _ := e.newTenant(t, nil)
	k, oldHash := keyFor(ten.ID, "", time.Now())
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
	k, h := keyFor(ten.ID, "", time.Now())
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
