package dynamo

// The event-type catalog's items (pk / sk), beside the layout in store.go:
//
//	event type         T#<tenant>#ET          / <name>
//	event-type schema  T#<tenant>#ET#<name>   / SCHEMA
//
// The types of a tenant share one partition whose sort key is the name, so the
// catalog lists in name order with one Query. Schemas (up to 64 KiB each) live in
// items of their own, so listing the catalog to check subscriptions and publishes
// never reads them; a type's item and its schema item are written in one
// transaction. "rev" counts the PUTs of a type and tells cached schemas they are stale.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func eventTypePartition(tenant string) string { return "T#" + tenant + "#ET" }

func eventTypeKey(tenant, name string) map[string]av {
	return key(eventTypePartition(tenant), name)
}

func eventTypeSchemaKey(tenant, name string) map[string]av {
	return key(eventTypePartition(tenant)+"#"+name, "SCHEMA")
}

// eventTypeItem is the stored form of a type, without its schema.
type eventTypeItem struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Archived    bool   `json:"archived"`
	HasSchema   bool   `json:"hasSchema"`
	// RetrySchedule is kept with the type (not with its schema) so that the catalog
	// a publish checks carries it.
	RetrySchedule []int     `json:"retrySchedule,omitempty"`
	Rev           int64     `json:"rev"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
}

func (it eventTypeItem) eventType(tenant string) gancho.EventType {
	return gancho.EventType{TenantID: tenant, Name: it.Name, Description: it.Description, Archived: it.Archived,
		HasSchema: it.HasSchema, RetrySchedule: it.RetrySchedule, Rev: it.Rev, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt}
}

func (st *Store) getEventTypeItem(ctx context.Context, tenant, name string) (eventTypeItem, bool, error) {
	var it eventTypeItem
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: eventTypeKey(tenant, name), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return it, false, fmt.Errorf("get event type: %w", err)
	}
	if res.Item == nil {
		return it, false, nil
	}
	return it, true, unmarshal(res.Item, &it)
}

// PutEventType creates or replaces et (its Schema, if any, already validated) and
// un-archives it. It returns the stored type, with its original CreatedAt, and
// whether it was created. Concurrent PUTs of one type are serialised by its
// revision; one that keeps losing gets ErrConflict.
func (st *Store) PutEventType(ctx context.Context, et gancho.EventType) (gancho.EventType, bool, error) {
	for attempt := 0; attempt < 3; attempt++ {
		old, exists, err := st.getEventTypeItem(ctx, et.TenantID, et.Name)
		if err != nil {
			return et, false, err
		}
		it := eventTypeItem{Name: et.Name, Description: et.Description, HasSchema: len(et.Schema) > 0,
			RetrySchedule: et.RetrySchedule, Rev: old.Rev + 1, CreatedAt: et.UpdatedAt.UTC(), UpdatedAt: et.UpdatedAt.UTC()}
		if exists {
			it.CreatedAt = old.CreatedAt
		}
		item, err := marshal(it)
		if err != nil {
			return et, false, err
		}
		for k, v := range eventTypeKey(et.TenantID, et.Name) {
			item[k] = v
		}
		put := &types.Put{TableName: &st.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}
		if exists {
			put.ConditionExpression = aws.String("rev = :rev")
			put.ExpressionAttributeValues = map[string]av{":rev": n(old.Rev)}
		}
		items := []types.TransactWriteItem{{Put: put}}
		if it.HasSchema {
			sk := eventTypeSchemaKey(et.TenantID, et.Name)
			sk["schema"] = s(string(et.Schema))
			items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: sk}})
		} else if old.HasSchema {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: eventTypeSchemaKey(et.TenantID, et.Name)}})
		}
		_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		if conditionFailed(err) {
			continue
		}
		if err != nil {
			return et, false, fmt.Errorf("put event type: %w", err)
		}
		out := it.eventType(et.TenantID)
		out.Schema = et.Schema
		return out, !exists, nil
	}
	return et, false, fmt.Errorf("put event type %s: %w", et.Name, gancho.ErrConflict)
}

// GetEventType reads one type of tenant with its schema.
func (st *Store) GetEventType(ctx context.Context, tenant, name string) (gancho.EventType, error) {
	it, ok, err := st.getEventTypeItem(ctx, tenant, name)
	if err != nil {
		return gancho.EventType{}, err
	}
	if !ok {
		return gancho.EventType{}, fmt.Errorf("event type %s: %w", name, gancho.ErrNotFound)
	}
	ets := []gancho.EventType{it.eventType(tenant)}
	if err := st.loadSchemas(ctx, tenant, ets); err != nil {
		return gancho.EventType{}, err
	}
	return ets[0], nil
}

// loadSchemas fills in the schemas of the types that have one.
func (st *Store) loadSchemas(ctx context.Context, tenant string, ets []gancho.EventType) error {
	var keys []map[string]av
	for _, et := range ets {
		if et.HasSchema {
			keys = append(keys, eventTypeSchemaKey(tenant, et.Name))
		}
	}
	if len(keys) == 0 {
		return nil
	}
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return fmt.Errorf("get event-type schemas: %w", err)
	}
	schemas := map[string]json.RawMessage{}
	for _, it := range items {
		pk, _ := it["pk"].(*types.AttributeValueMemberS)
		sv, _ := it["schema"].(*types.AttributeValueMemberS)
		if pk != nil && sv != nil {
			schemas[pk.Value] = json.RawMessage(sv.Value)
		}
	}
	for i := range ets {
		if !ets[i].HasSchema {
			continue
		}
		pk := eventTypeSchemaKey(tenant, ets[i].Name)["pk"].(*types.AttributeValueMemberS).Value
		sch, ok := schemas[pk]
		if !ok {
			return fmt.Errorf("event type %s: schema item missing", ets[i].Name)
		}
		ets[i].Schema = sch
	}
	return nil
}

// ListEventTypes returns up to limit types of tenant whose names sort after after
// ("" for the first page), in name order, with their schemas, and whether more follow.
func (st *Store) ListEventTypes(ctx context.Context, tenant, after string, limit int) ([]gancho.EventType, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]av{":p": s(eventTypePartition(tenant))},
		ConsistentRead:            aws.Bool(true),
	}
	if after != "" {
		in.KeyConditionExpression = aws.String("pk = :p AND sk > :a")
		in.ExpressionAttributeValues[":a"] = s(after)
	}
	var out []gancho.EventType
	for {
		in.Limit = aws.Int32(int32(limit + 1 - len(out)))
		res, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("list event types: %w", err)
		}
		for _, item := range res.Items {
			var it eventTypeItem
			if err := unmarshal(item, &it); err != nil {
				return nil, false, err
			}
			out = append(out, it.eventType(tenant))
		}
		if len(out) > limit || len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	if err := st.loadSchemas(ctx, tenant, out); err != nil {
		return nil, false, err
	}
	return out, more, nil
}

// EventTypeCatalog returns every type of tenant, in name order, without schemas
// (HasSchema and Rev say whether one exists and which).
func (st *Store) EventTypeCatalog(ctx context.Context, tenant string) ([]gancho.EventType, error) {
	pager := dynamodb.NewQueryPaginator(st.db, &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]av{":p": s(eventTypePartition(tenant))},
		ConsistentRead:            aws.Bool(true),
	})
	var out []gancho.EventType
	for pager.HasMorePages() {
		res, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read event-type catalog: %w", err)
		}
		for _, item := range res.Items {
			var it eventTypeItem
			if err := unmarshal(item, &it); err != nil {
				return nil, err
			}
			out = append(out, it.eventType(tenant))
		}
	}
	return out, nil
}

// ArchiveEventType archives a type of tenant: it stays in the catalog, but new
// subscriptions and publishes may no longer use it. Archiving an archived type
// changes nothing; an unknown one is ErrNotFound.
func (st *Store) ArchiveEventType(ctx context.Context, tenant, name string, at time.Time) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &st.table,
		Key:                 eventTypeKey(tenant, name),
		UpdateExpression:    aws.String("SET archived = :t, updatedAt = :at"),
		ConditionExpression: aws.String("attribute_exists(pk) AND archived = :f"),
		ExpressionAttributeValues: map[string]av{":t": &types.AttributeValueMemberBOOL{Value: true},
			":f": &types.AttributeValueMemberBOOL{Value: false}, ":at": s(at.UTC().Format(time.RFC3339Nano))},
	})
	if conditionFailed(err) {
		_, exists, gerr := st.getEventTypeItem(ctx, tenant, name)
		if gerr != nil {
			return gerr
		}
		if !exists {
			return fmt.Errorf("event type %s: %w", name, gancho.ErrNotFound)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("archive event type: %w", err)
	}
	return nil
}
