package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// CreateTenant stores a tenant together with its first API key, atomically.
func (st *Store) CreateTenant(ctx context.Context, t gancho.Tenant, first gancho.APIKey, keyHash string) error {
	ti, err := marshal(t)
	if err != nil {
		return err
	}
	ti["pk"], ti["sk"] = s("T#"+t.ID), s("T")
	ki, err := st.keyItem(first, keyHash)
	if err != nil {
		return err
	}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &st.table, Item: ti, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &st.table, Item: ki, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
	}})
	if conditionFailed(err) {
		return fmt.Errorf("create tenant %s: %w", t.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create tenant: %w", err)
	}
	return nil
}

// GetTenant reads a tenant.
func (st *Store) GetTenant(ctx context.Context, id string) (gancho.Tenant, error) {
	var t gancho.Tenant
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: key("T#"+id, "T")})
	if err != nil {
		return t, fmt.Errorf("get tenant: %w", err)
	}
	if res.Item == nil {
		return t, fmt.Errorf("tenant %s: %w", id, gancho.ErrNotFound)
	}
	return t, unmarshal(res.Item, &t)
}

func (st *Store) keyItem(k gancho.APIKey, hash string) (map[string]av, error) {
	it, err := marshal(k)
	if err != nil {
		return nil, err
	}
	it["pk"], it["sk"] = s("K#"+hash), s("K")
	it["gsi1pk"], it["gsi1sk"] = s("T#"+k.TenantID+"#K"), s(k.ID)
	return it, nil
}

// LookupAPIKey finds a key by the hash of its secret value.
func (st *Store) LookupAPIKey(ctx context.Context, hash string) (gancho.APIKey, error) {
	var k gancho.APIKey
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: key("K#"+hash, "K")})
	if err != nil {
		return k, fmt.Errorf("get api key: %w", err)
	}
	if res.Item == nil {
		return k, fmt.Errorf("api key: %w", gancho.ErrNotFound)
	}
	return k, unmarshal(res.Item, &k)
}

// PutAPIKey stores (or replaces) an API key of an existing tenant.
func (st *Store) PutAPIKey(ctx context.Context, k gancho.APIKey, hash string) error {
	it, err := st.keyItem(k, hash)
	if err != nil {
		return err
	}
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it}); err != nil {
		return fmt.Errorf("put api key: %w", err)
	}
	return nil
}
