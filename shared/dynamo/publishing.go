package dynamo

// Items of publishing (pk / sk):
//
//	publish key   T#<tenant>#PK#<sha256 of the scoped key>  / PK   {eventId, hash, claimedAt, expiresAt}
//
// The scoped key (publish.ScopedKey) holds the credential, the owner and the key the
// caller sent. Claims written before the credential was part of it (keyed by owner
// and key, unhashed) are simply not found again; they expire within 24 h.
//	event outbox  gsi3: OUTBOX#<shard> / <createdAt>#<tenant>#<event id>, on events
//	              stored before their deliveries were queued, until they are

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/gancho-dev/gancho/shared/gancho"
)

type PublishClaim = gancho.PublishClaim

// PublishKeyTTL is how long a publish idempotency key is remembered.
const PublishKeyTTL = gancho.IdempotencyWindow

// ClaimPublishKey records that key (of tenant) publishes event claim.EventID. If the
// key is already claimed and not expired, it returns the existing claim and false.
func (st *Store) ClaimPublishKey(ctx context.Context, tenant, idemKey string, claim PublishClaim) (PublishClaim, bool, error) {
	it, err := claimItem(tenant, idemKey, claim)
	if err != nil {
		return claim, false, err
	}
	k := publishKey(tenant, idemKey)
	_, err = st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR expiresAt <= :now"),
		ExpressionAttributeValues: map[string]av{":now": n(claim.ClaimedAt.Unix())}})
	if err == nil {
		return claim, true, nil
	}
	if !conditionFailed(err) {
		return claim, false, fmt.Errorf("claim publish key: %w", err)
	}
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return claim, false, fmt.Errorf("read publish key: %w", err)
	}
	if res.Item == nil {
		return claim, false, fmt.Errorf("publish key vanished: %w", gancho.ErrConflict)
	}
	var existing PublishClaim
	return existing, false, unmarshal(res.Item, &existing)
}

// claimItem is the stored form of a publish key's claim.
func claimItem(tenant, idemKey string, claim PublishClaim) (map[string]av, error) {
	it, err := marshal(claim)
	if err != nil {
		return nil, err
	}
	k := publishKey(tenant, idemKey)
	it["pk"], it["sk"] = k["pk"], k["sk"]
	it["expiresAt"] = n(claim.ClaimedAt.Add(PublishKeyTTL).Unix())
	return it, nil
}

// AbandonPublishKey marks claim's key as no longer being worked on (its publish
// failed), so that a repeat takes it over at once, under the same event id, instead
// of waiting for the takeover time. It does nothing if the key has another claim.
func (st *Store) AbandonPublishKey(ctx context.Context, tenant, idemKey string, claim PublishClaim) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       publishKey(tenant, idemKey),
		UpdateExpression:          aws.String("SET claimedAt = :zero"),
		ConditionExpression:       aws.String("eventId = :id"),
		ExpressionAttributeValues: map[string]av{":zero": s(time.Time{}.Format(time.RFC3339Nano)), ":id": s(claim.EventID)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("abandon publish key: %w", err)
	}
	return nil
}

// publishKey hashes the scoped key, which may be longer than a key attribute
// should be and holds the caller's credential.
func publishKey(tenant, idemKey string) map[string]av {
	sum := sha256.Sum256([]byte(idemKey))
	return key("T#"+tenant+"#PK#"+hex.EncodeToString(sum[:]), "PK")
}

type EventFilter = gancho.EventFilter

// ListEvents lists tenant's events, newest first. Event ids start with their creation
// time, so since/until are a range on the sort key, not a filter.
func (st *Store) ListEvents(ctx context.Context, tenant string, f EventFilter, p Page) ([]gancho.Event, string, error) {
	part := eventsPK(tenant)
	start, err := decodeCursor(p.Cursor, "pk", part)
	if err != nil {
		return nil, "", err
	}
	lo, hi := gancho.PrefixEvent, gancho.PrefixEvent+"~"
	if f.Since != nil {
		lo = gancho.IDFloor(gancho.PrefixEvent, *f.Since)
	}
	if f.Until != nil {
		hi = gancho.IDFloor(gancho.PrefixEvent, *f.Until)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :p AND sk BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]av{":p": s(part), ":lo": s(lo), ":hi": s(hi), ":now": n(time.Now().Unix())},
		ScanIndexForward:          aws.Bool(false),
		ExclusiveStartKey:         start,
	}
	filters := []string{"expiresAt > :now"}
	names := map[string]string{}
	if f.Type != "" {
		filters = append(filters, "#t = :t")
		names["#t"] = "type"
		in.ExpressionAttributeValues[":t"] = s(f.Type)
	}
	if f.OwnerID != "" {
		filters = append(filters, "ownerId = :o")
		in.ExpressionAttributeValues[":o"] = s(f.OwnerID)
	}
	if f.ReferenceID != "" {
		filters = append(filters, "#r.id = :r")
		names["#r"] = "reference"
		in.ExpressionAttributeValues[":r"] = s(f.ReferenceID)
	}
	in.FilterExpression = aws.String(strings.Join(filters, " AND "))
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	items, next, err := st.queryPage(ctx, in, p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list events: %w", err)
	}
	out := make([]gancho.Event, 0, len(items))
	for _, it := range items {
		ev, err := decodeEvent(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, ev)
	}
	return out, next, nil
}
