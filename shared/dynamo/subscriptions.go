package dynamo

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func subKey(tenant, id string) map[string]av { return key("T#"+tenant+"#S#"+id, "S") }

// matchKeys are the index entries through which publishing finds a subscription:
// one per event pattern, sorted by owner so one Query per (pattern, owner) finds them.
func matchKeys(sub gancho.Subscription) []map[string]av {
	sk := "0#" + sub.ID
	if sub.OwnerID != "" {
		sk = "1#" + sub.OwnerID + "#" + sub.ID
	}
	out := make([]map[string]av, 0, len(sub.Events))
	for _, p := range sub.Events {
		out = append(out, key("T#"+sub.TenantID+"#M#"+p, sk))
	}
	return out
}

func matchItem(sub gancho.Subscription, k map[string]av) map[string]av {
	it := map[string]av{"pk": k["pk"], "sk": k["sk"], "subId": s(sub.ID),
		"active": &types.AttributeValueMemberBOOL{Value: sub.IsActive}}
	if sub.Context != "" {
		it["context"] = s(sub.Context)
	}
	if sub.Mode == gancho.ModeNotify {
		it["mode"] = s(sub.Mode)
	}
	if sub.Ordered {
		it["ordered"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return it
}

// subItem is the stored form of sub, its secrets sealed.
func (st *Store) subItem(sub gancho.Subscription) (map[string]av, error) {
	sealed, err := sub.MapSecrets(st.sealer.Seal)
	if err != nil {
		return nil, err
	}
	it, err := marshal(sealed)
	if err != nil {
		return nil, err
	}
	for k, v := range subKey(sub.TenantID, sub.ID) {
		it[k] = v
	}
	it["gsi1pk"], it["gsi1sk"] = s("T#"+sub.TenantID+"#S"), s(sub.ID)
	return it, nil
}

// decodeSub reads a stored subscription and opens its secrets.
func (st *Store) decodeSub(it map[string]av) (gancho.Subscription, error) {
	var sub gancho.Subscription
	if err := unmarshal(it, &sub); err != nil {
		return sub, err
	}
	opened, err := sub.MapSecrets(st.sealer.Open)
	if err != nil {
		return sub, fmt.Errorf("subscription %s: %w", sub.ID, err)
	}
	return opened, nil
}

// CreateSubscription stores sub and its match entries in one transaction.
func (st *Store) CreateSubscription(ctx context.Context, sub gancho.Subscription) error {
	defer st.matches.forget(sub.TenantID)
	it, err := st.subItem(sub)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{{Put: &types.Put{TableName: &st.table, Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}}}
	for _, k := range matchKeys(sub) {
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: matchItem(sub, k)}})
	}
	if _, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("create subscription %s: %w", sub.ID, gancho.ErrConflict)
		}
		return fmt.Errorf("create subscription: %w", err)
	}
	return nil
}

// GetSubscription reads one subscription of tenant.
func (st *Store) GetSubscription(ctx context.Context, tenant, id string) (gancho.Subscription, error) {
	var sub gancho.Subscription
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: subKey(tenant, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return sub, fmt.Errorf("get subscription: %w", err)
	}
	if res.Item == nil {
		return sub, fmt.Errorf("subscription %s: %w", id, gancho.ErrNotFound)
	}
	return st.decodeSub(res.Item)
}

type SubscriptionFilter = gancho.SubscriptionFilter

// ListSubscriptions returns tenant's subscriptions, newest first.
func (st *Store) ListSubscriptions(ctx context.Context, tenant string, f SubscriptionFilter, p Page) ([]gancho.Subscription, string, error) {
	part := "T#" + tenant + "#S"
	start, err := decodeCursor(p.Cursor, "gsi1pk", part)
	if err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		IndexName:                 aws.String("gsi1"),
		KeyConditionExpression:    aws.String("gsi1pk = :p"),
		ExpressionAttributeValues: map[string]av{":p": s(part)},
		ScanIndexForward:          aws.Bool(false),
		ExclusiveStartKey:         start,
	}
	var filters []string
	if f.OwnerID != "" {
		filters = append(filters, "ownerId = :o")
		in.ExpressionAttributeValues[":o"] = s(f.OwnerID)
	}
	if f.Event != "" {
		filters = append(filters, "contains(events, :e)")
		in.ExpressionAttributeValues[":e"] = s(f.Event)
	}
	if f.IsActive != nil {
		filters = append(filters, "isActive = :a")
		in.ExpressionAttributeValues[":a"] = &types.AttributeValueMemberBOOL{Value: *f.IsActive}
	}
	if len(filters) > 0 {
		expr := filters[0]
		for _, f := range filters[1:] {
			expr += " AND " + f
		}
		in.FilterExpression = aws.String(expr)
	}
	var out []gancho.Subscription
	items, next, err := st.queryPage(ctx, in, p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list subscriptions: %w", err)
	}
	for _, it := range items {
		sub, err := st.decodeSub(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, sub)
	}
	return out, next, nil
}

// queryPage runs a query until it has limit items (filters may drop some) or the
// partition ends, and returns the cursor after the last returned item.
func (st *Store) queryPage(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]map[string]av, string, error) {
	var items []map[string]av
	for {
		in.Limit = aws.Int32(int32(limit - len(items)))
		res, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, "", err
		}
		items = append(items, res.Items...)
		if len(res.LastEvaluatedKey) == 0 {
			return items, "", nil
		}
		if len(items) >= limit {
			last := items[len(items)-1]
			lek := map[string]av{}
			for k := range res.LastEvaluatedKey {
				lek[k] = last[k]
			}
			next, err := encodeCursor(lek)
			return items, next, err
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// UpdateSubscription replaces old with sub and rewrites the match entries that
// changed, in one transaction that fails with ErrConflict if old was changed since it
// was read (optimistic concurrency on updatedAt).
func (st *Store) UpdateSubscription(ctx context.Context, old, sub gancho.Subscription) error {
	defer st.matches.forget(sub.TenantID)
	update, err := st.subUpdate(old, sub)
	if err != nil {
		return err
	}
	items := []types.TransactWriteItem{{Update: update}}
	keep := map[string]bool{}
	for _, k := range matchKeys(sub) {
		keep[keyString(k)] = true
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: matchItem(sub, k)}})
	}
	for _, k := range matchKeys(old) {
		if !keep[keyString(k)] {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: k}})
		}
	}
	if _, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("subscription %s changed meanwhile: %w", sub.ID, gancho.ErrConflict)
		}
		return fmt.Errorf("update subscription: %w", err)
	}
	return nil
}

// subUpdate writes only the attributes that differ between old and sub, so what
// other writers keep on the item meanwhile (the status block after deliveries, the
// pending-notice flag) survives a settings change. It fails if old was changed since
// it was read (its updatedAt).
func (st *Store) subUpdate(old, sub gancho.Subscription) (*types.Update, error) {
	before, err := st.subItem(old)
	if err != nil {
		return nil, err
	}
	after, err := st.subItem(sub)
	if err != nil {
		return nil, err
	}
	oldAt, err := marshal(struct {
		T time.Time `json:"t"`
	}{old.UpdatedAt})
	if err != nil {
		return nil, err
	}
	names := map[string]string{"#u": "updatedAt"}
	values := map[string]av{":old": oldAt["t"]}
	var set, remove []string
	attrs := make([]string, 0, len(after))
	for k := range after {
		attrs = append(attrs, k)
	}
	sort.Strings(attrs)
	for i, k := range attrs {
		if k == "pk" || k == "sk" || reflect.DeepEqual(before[k], after[k]) {
			continue
		}
		n, v := fmt.Sprintf("#a%d", i), fmt.Sprintf(":v%d", i)
		names[n], values[v] = k, after[k]
		set = append(set, n+" = "+v)
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			n := fmt.Sprintf("#r%d", len(remove))
			names[n] = k
			remove = append(remove, n)
		}
	}
	expr := ""
	if len(set) > 0 {
		expr = "SET " + strings.Join(set, ", ")
	}
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	if expr == "" {
		expr = "SET #u = :old" // nothing changed: a conditional no-op
	}
	return &types.Update{TableName: &st.table, Key: subKey(sub.TenantID, sub.ID), UpdateExpression: aws.String(expr),
		ConditionExpression: aws.String("#u = :old"), ExpressionAttributeNames: names, ExpressionAttributeValues: values}, nil
}

func keyString(k map[string]av) string {
	return k["pk"].(*types.AttributeValueMemberS).Value + "\x00" + k["sk"].(*types.AttributeValueMemberS).Value
}

// DisableSubscription deactivates sub with a reason (410 from the receiver, or
// failing too long), unless it changed since it was read: then it is read again once.
func (st *Store) DisableSubscription(ctx context.Context, sub gancho.Subscription, reason string, at time.Time) error {
	for try := 0; try < 2; try++ {
		if !sub.IsActive {
			return nil
		}
		off := sub
		off.IsActive, off.DisabledReason, off.UpdatedAt = false, reason, at.UTC()
		err := st.UpdateSubscription(ctx, sub, off)
		if !errors.Is(err, gancho.ErrConflict) {
			return err
		}
		if sub, err = st.GetSubscription(ctx, sub.TenantID, sub.ID); err != nil {
			return err
		}
	}
	return fmt.Errorf("disable subscription %s: %w", sub.ID, gancho.ErrConflict)
}

// DeleteSubscription removes sub and its match entries; queued deliveries find it gone
// and end cancelled.
func (st *Store) DeleteSubscription(ctx context.Context, sub gancho.Subscription) error {
	defer st.matches.forget(sub.TenantID)
	items := []types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: subKey(sub.TenantID, sub.ID),
		ConditionExpression: aws.String("attribute_exists(pk)")}}}
	for _, k := range matchKeys(sub) {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: k}})
	}
	if _, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("subscription %s: %w", sub.ID, gancho.ErrNotFound)
		}
		return fmt.Errorf("delete subscription: %w", err)
	}
	return nil
}

type Match = gancho.Match

// MatchSubscriptions finds the active subscriptions that receive ev by querying the
// match entries of each pattern that accepts its type, for its owner and for no owner.
// Each query's entries are reused for MatchCacheTTL (see matchcache.go).
func (st *Store) MatchSubscriptions(ctx context.Context, ev gancho.Event) ([]Match, error) {
	prefixes := []string{"0#"}
	switch ev.OwnerID {
	case "":
	case gancho.BroadcastOwner:
		prefixes = []string{""}
	default:
		prefixes = append(prefixes, "1#"+ev.OwnerID+"#")
	}
	seen := map[string]bool{}
	var out []Match
	for _, pattern := range gancho.MatchPatterns(ev.Type) {
		for _, prefix := range prefixes {
			entries, err := st.matchEntries(ctx, ev.TenantID, pattern, prefix)
			if err != nil {
				return nil, err
			}
			for _, m := range entries {
				if seen[m.SubID] || (m.Context != "" && m.Context != ev.Context) {
					continue
				}
				seen[m.SubID] = true
				owner := ""
				if rest, ok := strings.CutPrefix(m.SK, "1#"); ok {
					owner, _, _ = strings.Cut(rest, "#")
				}
				out = append(out, Match{SubscriptionID: m.SubID, OwnerID: owner, Mode: m.Mode, Ordered: m.Ordered})
			}
		}
	}
	return out, nil
}

// matchEntries reads the active match entries of a pattern whose sort key starts with
// prefix, or reuses those read less than MatchCacheTTL ago. The event's context is
// left to the caller, so one read serves events of every context.
func (st *Store) matchEntries(ctx context.Context, tenant, pattern, prefix string) ([]matchEntry, error) {
	return st.matches.get(ctx, matchCacheKey(tenant, pattern, prefix), func(ctx context.Context) ([]matchEntry, error) {
		return st.readMatchEntries(ctx, tenant, pattern, prefix)
	})
}

func (st *Store) readMatchEntries(ctx context.Context, tenant, pattern, prefix string) ([]matchEntry, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :p AND begins_with(sk, :o)"),
		FilterExpression:          aws.String("active = :t"),
		ExpressionAttributeValues: map[string]av{":p": s("T#" + tenant + "#M#" + pattern), ":o": s(prefix), ":t": &types.AttributeValueMemberBOOL{Value: true}},
		// Eventually consistent: the entries may be reused for MatchCacheTTL anyway, so a
		// read that misses a write of the last moment (usually under a second) only
		// adds that moment to the staleness the cache already allows (MatchCacheBound).
		// Nothing conditional is decided on them: a delivery to a subscription deleted
		// or disabled meanwhile ends cancelled when the consumer reads it.
		ConsistentRead: aws.Bool(false),
	}
	if prefix == "" {
		in.KeyConditionExpression = aws.String("pk = :p")
		delete(in.ExpressionAttributeValues, ":o")
	}
	var out []matchEntry
	pager := dynamodb.NewQueryPaginator(st.db, in)
	for pager.HasMorePages() {
		res, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("match subscriptions: %w", err)
		}
		for _, it := range res.Items {
			var m struct {
				SK      string `json:"sk"`
				SubID   string `json:"subId"`
				Mode    string `json:"mode"`
				Context string `json:"context"`
				Ordered bool   `json:"ordered"`
			}
			if err := unmarshal(it, &m); err != nil {
				return nil, err
			}
			out = append(out, matchEntry{SK: m.SK, SubID: m.SubID, Mode: m.Mode, Context: m.Context, Ordered: m.Ordered})
		}
	}
	return out, nil
}
