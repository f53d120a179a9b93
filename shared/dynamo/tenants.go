package dynamo

// Tenant and API-key items, beyond the layout in store.go:
//
//	tenant          T#<tenant>                  / T   (secrets sealed)
//	issuer index    ISS#<jwt issuer>            / ISS (tenantId; one tenant per issuer)
//	api key         K#<sha256 of key>           / K ; T#<tenant>#K / <key id>
//	api key by id   T#<tenant>#K#<key id>       / K   (same attributes plus keyHash)
//
// The key-by-id item gives consistent reads and revocation by id; keys stored before
// it existed are still found through gsi1.

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func tenantKey(id string) map[string]av { return key("T#"+id, "T") }

func issuerKey(issuer string) map[string]av { return key("ISS#"+issuer, "ISS") }

func keyByIDKey(tenant, id string) map[string]av { return key("T#"+tenant+"#K#"+id, "K") }

func keyByHashKey(hash string) map[string]av { return key("K#"+hash, "K") }

// tenantItem is the stored form of t, its secrets sealed.
func (st *Store) tenantItem(t gancho.Tenant) (map[string]av, error) {
	var err error
	if t.Secret, err = st.sealer.Seal(t.Secret); err != nil {
		return nil, fmt.Errorf("seal tenant secret: %w", err)
	}
	if t.PreviousSecret, err = st.sealer.Seal(t.PreviousSecret); err != nil {
		return nil, fmt.Errorf("seal previous tenant secret: %w", err)
	}
	if t.JWT != nil {
		j := *t.JWT
		if j.Secret, err = st.sealer.Seal(j.Secret); err != nil {
			return nil, fmt.Errorf("seal jwt secret: %w", err)
		}
		t.JWT = &j
	}
	it, err := marshal(t)
	if err != nil {
		return nil, err
	}
	for k, v := range tenantKey(t.ID) {
		it[k] = v
	}
	return it, nil
}

// decodeTenant reads a stored tenant and opens its secrets.
func (st *Store) decodeTenant(it map[string]av) (gancho.Tenant, error) {
	var t gancho.Tenant
	if err := unmarshal(it, &t); err != nil {
		return t, err
	}
	var err error
	if t.Secret, err = st.sealer.Open(t.Secret); err != nil {
		return t, fmt.Errorf("tenant %s secret: %w", t.ID, err)
	}
	if t.PreviousSecret, err = st.sealer.Open(t.PreviousSecret); err != nil {
		return t, fmt.Errorf("tenant %s previous secret: %w", t.ID, err)
	}
	if t.JWT != nil {
		if t.JWT.Secret, err = st.sealer.Open(t.JWT.Secret); err != nil {
			return t, fmt.Errorf("tenant %s jwt secret: %w", t.ID, err)
		}
	}
	return t, nil
}

func issuerItem(issuer, tenant string) map[string]av {
	it := issuerKey(issuer)
	it["tenantId"] = s(tenant)
	return it
}

// claimIssuer puts the issuer index item unless another tenant holds it.
func (st *Store) claimIssuer(issuer, tenant string) types.TransactWriteItem {
	return types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: issuerItem(issuer, tenant),
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR tenantId = :t"),
		ExpressionAttributeValues: map[string]av{":t": s(tenant)}}}
}

// CreateTenant stores a tenant (as gancho.NewTenant made it) together with its first
// API key, atomically. A tenant with JWT settings also claims its issuer
// (gancho.ErrIssuerTaken if another has it).
func (st *Store) CreateTenant(ctx context.Context, t gancho.Tenant, first gancho.APIKey, keyHash string) error {
	ti, err := st.tenantItem(t)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: ti, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}
	keyItems, err := st.newKeyItems(first, keyHash)
	if err != nil {
		return err
	}
	items = append(items, keyItems...)
	issuerAt := -1
	if t.JWT != nil && t.JWT.Issuer != "" {
		issuerAt = len(items)
		items = append(items, st.claimIssuer(t.JWT.Issuer, t.ID))
	}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if failedAt(err, issuerAt) {
		return fmt.Errorf("create tenant %s: %w", t.ID, gancho.ErrIssuerTaken)
	}
	if conditionFailed(err) {
		return fmt.Errorf("create tenant %s: %w", t.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	return nil
}

// failedAt reports whether err is a cancelled transaction whose item at index i
// failed its condition.
func failedAt(err error, i int) bool {
	var tc *types.TransactionCanceledException
	if i < 0 || !errors.As(err, &tc) || i >= len(tc.CancellationReasons) {
		return false
	}
	return aws.ToString(tc.CancellationReasons[i].Code) == "ConditionalCheckFailed"
}

// GetTenant reads a tenant, its secrets opened.
func (st *Store) GetTenant(ctx context.Context, id string) (gancho.Tenant, error) {
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: tenantKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return gancho.Tenant{}, fmt.Errorf("get tenant: %w", err)
	}
	if res.Item == nil {
		return gancho.Tenant{}, fmt.Errorf("tenant %s: %w", id, gancho.ErrNotFound)
	}
	return st.decodeTenant(res.Item)
}

// UpdateTenant replaces before with after if the stored tenant is still before (same
// updatedAt; gancho.ErrConflict otherwise), and moves the JWT issuer index with it in
// the same transaction (gancho.ErrIssuerTaken if another tenant holds the new issuer).
func (st *Store) UpdateTenant(ctx context.Context, before, after gancho.Tenant) error {
	if before.ID != after.ID {
		return fmt.Errorf("update tenant: id changed from %s to %s", before.ID, after.ID)
	}
	it, err := st.tenantItem(after)
	if err != nil {
		return err
	}
	prev, err := attributevalue.Marshal(before.UpdatedAt)
	if err != nil {
		return fmt.Errorf("update tenant: %w", err)
	}
	cond := "attribute_exists(pk) AND updatedAt = :u"
	if before.UpdatedAt.IsZero() {
		cond = "attribute_exists(pk) AND (attribute_not_exists(updatedAt) OR updatedAt = :u)"
	}
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &st.table, Item: it,
		ConditionExpression: aws.String(cond), ExpressionAttributeValues: map[string]av{":u": prev}}}}
	oldIss, newIss := issuerOf(before), issuerOf(after)
	issuerAt := -1
	if oldIss != newIss {
		if oldIss != "" {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: issuerKey(oldIss),
				ConditionExpression:       aws.String("attribute_not_exists(pk) OR tenantId = :t"),
				ExpressionAttributeValues: map[string]av{":t": s(before.ID)}}})
		}
		if newIss != "" {
			issuerAt = len(items)
			items = append(items, st.claimIssuer(newIss, after.ID))
		}
	}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	switch {
	case err == nil:
		return nil
	case failedAt(err, 0):
		return fmt.Errorf("update tenant %s: %w", before.ID, gancho.ErrConflict)
	case failedAt(err, issuerAt):
		return fmt.Errorf("update tenant %s: %w", before.ID, gancho.ErrIssuerTaken)
	case conditionFailed(err):
		return fmt.Errorf("update tenant %s: %w", before.ID, gancho.ErrConflict)
	}
	return fmt.Errorf("update tenant: %w", err)
}

func issuerOf(t gancho.Tenant) string {
	if t.JWT == nil {
		return ""
	}
	return t.JWT.Issuer
}

// TenantByIssuer finds the tenant that configured issuer for its JWTs.
func (st *Store) TenantByIssuer(ctx context.Context, issuer string) (gancho.Tenant, error) {
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: issuerKey(issuer), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return gancho.Tenant{}, fmt.Errorf("get issuer: %w", err)
	}
	var idx struct {
		TenantID string `json:"tenantId"`
	}
	if res.Item != nil {
		if err := unmarshal(res.Item, &idx); err != nil {
			return gancho.Tenant{}, err
		}
	}
	if idx.TenantID == "" {
		return gancho.Tenant{}, fmt.Errorf("issuer: %w", gancho.ErrNotFound)
	}
	t, err := st.GetTenant(ctx, idx.TenantID)
	if err != nil {
		return t, err
	}
	if issuerOf(t) != issuer {
		return gancho.Tenant{}, fmt.Errorf("issuer: %w", gancho.ErrNotFound)
	}
	return t, nil
}

func (st *Store) keyItem(k gancho.APIKey, hash string) (map[string]av, error) {
	it, err := marshal(k)
	if err != nil {
		return nil, err
	}
	it["pk"], it["sk"] = s("K#"+hash), s("K")
	it["gsi1pk"], it["gsi1sk"] = s("T#"+k.TenantID+"#K"), s(k.ID)
	keyExpiry(it, k)
	return it, nil
}

// keyExpiry stores an expiring key's expiresAt as the table's TTL attribute (Unix
// seconds), so DynamoDB removes a portal link's key some time after it stops
// authenticating; reads decode the number back into the time.
func keyExpiry(it map[string]av, k gancho.APIKey) {
	if k.ExpiresAt != nil {
		it["expiresAt"] = n(k.ExpiresAt.Unix())
	}
}

func keyByIDItem(k gancho.APIKey, hash string) (map[string]av, error) {
	it, err := marshal(k)
	if err != nil {
		return nil, err
	}
	for name, v := range keyByIDKey(k.TenantID, k.ID) {
		it[name] = v
	}
	it["keyHash"] = s(hash)
	keyExpiry(it, k)
	return it, nil
}

// newKeyItems are the puts of a new key: by hash and by id, neither existing yet.
func (st *Store) newKeyItems(k gancho.APIKey, hash string) ([]types.TransactWriteItem, error) {
	byHash, err := st.keyItem(k, hash)
	if err != nil {
		return nil, err
	}
	byID, err := keyByIDItem(k, hash)
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: byHash, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &st.table, Item: byID, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}, nil
}

// LookupAPIKey finds a key by the hash of its secret value.
func (st *Store) LookupAPIKey(ctx context.Context, hash string) (gancho.APIKey, error) {
	var k gancho.APIKey
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: keyByHashKey(hash)})
	if err != nil {
		return k, fmt.Errorf("get api key: %w", err)
	}
	if res.Item == nil {
		return k, fmt.Errorf("api key: %w", gancho.ErrNotFound)
	}
	return k, unmarshal(res.Item, &k)
}

// CreateAPIKey stores a new API key of an existing tenant (gancho.ErrConflict if its
// id or hash is taken).
func (st *Store) CreateAPIKey(ctx context.Context, k gancho.APIKey, hash string) error {
	items, err := st.newKeyItems(k, hash)
	if err != nil {
		return err
	}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if conditionFailed(err) {
		return fmt.Errorf("create api key %s: %w", k.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create api key: %w", err)
	}
	return nil
}

// PutAPIKey stores (or replaces) an API key of an existing tenant. Replacing a key
// id with a new value removes the old value, so it stops authenticating.
func (st *Store) PutAPIKey(ctx context.Context, k gancho.APIKey, hash string) error {
	byHash, err := st.keyItem(k, hash)
	if err != nil {
		return err
	}
	byID, err := keyByIDItem(k, hash)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: byHash}},
		{Put: &types.Put{TableName: &st.table, Item: byID}},
	}
	if old, err := st.keyHashByID(ctx, k.TenantID, k.ID); err == nil && old != hash {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: keyByHashKey(old),
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR tenantId = :t"),
			ExpressionAttributeValues: map[string]av{":t": s(k.TenantID)}}})
	} else if err != nil && !errors.Is(err, gancho.ErrNotFound) {
		return err
	}
	if _, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		return fmt.Errorf("put api key: %w", err)
	}
	return nil
}

// getKeyItem reads the stored key of tenant with id and its hash: the by-id item,
// or, for keys stored before it existed, the by-hash item through gsi1.
func (st *Store) getKeyItem(ctx context.Context, tenant, id string) (gancho.APIKey, string, error) {
	var k gancho.APIKey
	var stored struct {
		KeyHash string `json:"keyHash"`
		PK      string `json:"pk"`
	}
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: keyByIDKey(tenant, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return k, "", fmt.Errorf("get api key: %w", err)
	}
	item := res.Item
	if item == nil {
		q, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &st.table,
			IndexName:                 aws.String("gsi1"),
			KeyConditionExpression:    aws.String("gsi1pk = :p AND gsi1sk = :id"),
			ExpressionAttributeValues: map[string]av{":p": s("T#" + tenant + "#K"), ":id": s(id)},
		})
		if err != nil {
			return k, "", fmt.Errorf("get api key: %w", err)
		}
		if len(q.Items) == 0 {
			return k, "", fmt.Errorf("api key %s: %w", id, gancho.ErrNotFound)
		}
		item = q.Items[0]
	}
	if err := unmarshal(item, &k); err != nil {
		return k, "", err
	}
	if err := unmarshal(item, &stored); err != nil {
		return k, "", err
	}
	hash := stored.KeyHash
	if hash == "" {
		hash = strings.TrimPrefix(stored.PK, "K#")
	}
	if k.TenantID != tenant || k.Revoked {
		return gancho.APIKey{}, "", fmt.Errorf("api key %s: %w", id, gancho.ErrNotFound)
	}
	return k, hash, nil
}

func (st *Store) keyHashByID(ctx context.Context, tenant, id string) (string, error) {
	_, hash, err := st.getKeyItem(ctx, tenant, id)
	return hash, err
}

// GetAPIKey reads one API key of tenant.
func (st *Store) GetAPIKey(ctx context.Context, tenant, id string) (gancho.APIKey, error) {
	k, _, err := st.getKeyItem(ctx, tenant, id)
	return k, err
}

// ListAPIKeys returns tenant's keys (only those of owner, when owner is set), newest first.
func (st *Store) ListAPIKeys(ctx context.Context, tenant, owner string, p Page) ([]gancho.APIKey, string, error) {
	part := "T#" + tenant + "#K"
	start, err := decodeCursor(p.Cursor, "gsi1pk", part)
	if err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		FilterExpression:          aws.String("attribute_not_exists(revoked) OR revoked = :f"),
		ExpressionAttributeValues: map[string]av{":p": s(part), ":f": &types.AttributeValueMemberBOOL{Value: false}},
		ScanIndexForward:          aws.Bool(false),
		ExclusiveStartKey:         start,
	}
	if owner != "" {
		in.FilterExpression = aws.String("(" + *in.FilterExpression + ") AND ownerId = :o")
		in.ExpressionAttributeValues[":o"] = s(owner)
	}
	items, next, err := st.queryPage(ctx, in, p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list api keys: %w", err)
	}
	out := make([]gancho.APIKey, 0, len(items))
	for _, it := range items {
		var k gancho.APIKey
		if err := unmarshal(it, &k); err != nil {
			return nil, "", err
		}
		out = append(out, k)
	}
	return out, next, nil
}

// RevokeAPIKey deletes tenant's key id, by id and by hash, so it stops
// authenticating (gancho.ErrNotFound if tenant has no such key).
func (st *Store) RevokeAPIKey(ctx context.Context, tenant, id string) error {
	_, hash, err := st.getKeyItem(ctx, tenant, id)
	if err != nil {
		return err
	}
	ownedBy := map[string]av{":t": s(tenant)}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &st.table, Key: keyByHashKey(hash),
			ConditionExpression: aws.String("tenantId = :t"), ExpressionAttributeValues: ownedBy}},
		{Delete: &types.Delete{TableName: &st.table, Key: keyByIDKey(tenant, id),
			ConditionExpression: aws.String("attribute_not_exists(pk) OR tenantId = :t"), ExpressionAttributeValues: ownedBy}},
	}})
	if conditionFailed(err) {
		return fmt.Errorf("api key %s: %w", id, gancho.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	return nil
}
