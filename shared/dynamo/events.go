package dynamo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func eventKey(tenant, id string) map[string]av { return key(eventsPK(tenant), id) }

// eventsPK is the partition of a tenant's events: listing them is a Query of the
// table, so an event is one item with no index copy.
func eventsPK(tenant string) string { return "T#" + tenant + "#E" }

// deliveryKey is the record of delivery id to destination dest: in the destination's
// partition, so a subscription's deliveries are a Query of the table.
func deliveryKey(tenant, dest, id string) map[string]av {
	return key(subDeliveriesPK(tenant, dest), id)
}

// CreateEvent stores ev (once: a second call with the same id is a conflict). An event
// not yet queued (QueuedAt nil) sits in the outbox index until MarkEventQueued, where
// the sweeper finds it if the process dies before queueing everything. An event
// whose deliveries were queued before it was stored (QueuedAt and Destinations set)
// is written once, out of the outbox.
func (st *Store) CreateEvent(ctx context.Context, ev gancho.Event) error {
	it, err := st.eventItem(ev)
	if err != nil {
		return err
	}
	if _, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")}); err != nil {
		if conditionFailed(err) {
			return fmt.Errorf("event %s: %w", ev.ID, gancho.ErrConflict)
		}
		return fmt.Errorf("put event: %w", err)
	}
	return nil
}

// eventItem is the stored form of ev: in the outbox index until it is queued
// (ev.QueuedAt set), due at its creation or, scheduled far ahead, when its fan-out
// is (gancho.Event.OutboxDue).
func (st *Store) eventItem(ev gancho.Event) (map[string]av, error) {
	it, err := marshal(ev)
	if err != nil {
		return nil, err
	}
	for k, v := range eventKey(ev.TenantID, ev.ID) {
		it[k] = v
	}
	// The id is the sort key already (decodeEvent reads it there): written twice it
	// put an event with ten destinations and a 512-byte payload just over 1 KiB, two
	// write units instead of one.
	delete(it, "id")
	if ev.QueuedAt == nil {
		it["gsi3pk"], it["gsi3sk"] = s(outboxShard(ev.ID)), s(dueKey(ev.OutboxDue(), ev.TenantID+"#"+ev.ID))
	} else {
		it["deliveryCount"] = n(int64(ev.DeliveryCount)) // also when 0
		for k, v := range destinationAttrs(ev.Destinations) {
			it[k] = v
		}
		if pk, sk, ok := scheduledResultsIndex(ev, *ev.QueuedAt, ev.Destinations); ok {
			it["gsi3pk"], it["gsi3sk"] = s(pk), s(sk)
		}
	}
	it["expiresAt"] = n(st.expiry(ev.CreatedAt))
	return it, nil
}

// destinationAttrs are an event's destinations as stored: dests, the subscription
// ids (a list, so a filter can ask whether it holds one), and downers, the owner of
// each that has one.
func destinationAttrs(dests []gancho.Destination) map[string]av {
	ids := make([]av, 0, len(dests))
	owners := map[string]av{}
	for _, d := range dests {
		ids = append(ids, s(d.SubscriptionID))
		if d.OwnerID != "" {
			owners[d.SubscriptionID] = s(d.OwnerID)
		}
	}
	out := map[string]av{"dests": &types.AttributeValueMemberL{Value: ids}}
	if len(owners) > 0 {
		out["downers"] = &types.AttributeValueMemberM{Value: owners}
	}
	return out
}

// decodeEvent reads an event item, its destinations included.
func decodeEvent(it map[string]av) (gancho.Event, error) {
	var ev gancho.Event
	if err := unmarshal(it, &ev); err != nil {
		return ev, err
	}
	ev.TenantID = tenantOf(it)
	if sk, ok := it["sk"].(*types.AttributeValueMemberS); ok {
		ev.ID = sk.Value // items written before the id was left out carry it twice
	}
	ids, _ := it["dests"].(*types.AttributeValueMemberL)
	owners, _ := it["downers"].(*types.AttributeValueMemberM)
	if ids != nil {
		ev.Destinations = make([]gancho.Destination, 0, len(ids.Value))
		for _, v := range ids.Value {
			id, ok := v.(*types.AttributeValueMemberS)
			if !ok {
				continue
			}
			d := gancho.Destination{SubscriptionID: id.Value}
			if owners != nil {
				if o, ok := owners.Value[id.Value].(*types.AttributeValueMemberS); ok {
					d.OwnerID = o.Value
				}
			}
			ev.Destinations = append(ev.Destinations, d)
		}
	}
	return ev, nil
}

// deliveryItem is the record of d, written at its first outcome.
func (st *Store) deliveryItem(d gancho.Delivery) (map[string]av, error) {
	if d.Attempts == nil {
		d.Attempts = []gancho.Attempt{}
	}
	it, err := marshal(d)
	if err != nil {
		return nil, err
	}
	for k, v := range deliveryKey(d.TenantID, d.SubscriptionID, d.ID) {
		it[k] = v
	}
	it["attemptCount"] = n(int64(len(d.Attempts)))
	it["expiresAt"] = n(st.expiry(d.CreatedAt))
	return it, nil
}

func decodeDelivery(it map[string]av) (gancho.Delivery, error) {
	var d gancho.Delivery
	if err := unmarshal(it, &d); err != nil {
		return d, err
	}
	d.TenantID, d.Recorded = tenantOf(it), true
	return d, nil
}

// MarkEventQueued records that every delivery of the event was handed to the queue,
// and where, and takes the event out of the outbox (a scheduled one, ev with its
// deliverAt, into its tenant's scheduled results instead).
func (st *Store) MarkEventQueued(ctx context.Context, ev gancho.Event, at time.Time, dests []gancho.Destination) error {
	values := map[string]av{":t": s(at.UTC().Format(time.RFC3339Nano)), ":n": n(int64(len(dests)))}
	set := "SET queuedAt = :t, deliveryCount = :n"
	for k, v := range destinationAttrs(dests) {
		set += ", " + k + " = :" + k
		values[":"+k] = v
	}
	update := set + " REMOVE gsi3pk, gsi3sk"
	if pk, sk, ok := scheduledResultsIndex(ev, at, dests); ok {
		update = set + ", gsi3pk = :g3pk, gsi3sk = :g3sk"
		values[":g3pk"], values[":g3sk"] = s(pk), s(sk)
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       eventKey(ev.TenantID, ev.ID),
		UpdateExpression:          aws.String(update),
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("mark event queued: %w", err)
	}
	return nil
}

func outboxShard(id string) string {
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("OUTBOX#%d", sum[0]%dueShards)
}

// PendingEvents returns events stored before olderThan whose deliveries were never
// all queued (the process died, or a background fan-out is late), at most limit per
// shard.
func (st *Store) PendingEvents(ctx context.Context, olderThan time.Time, limit int) ([]gancho.Event, error) {
	var out []gancho.Event
	for shard := 0; shard < dueShards; shard++ {
		res, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              &st.table,
			IndexName:              aws.String("gsi3"),
			KeyConditionExpression: aws.String("gsi3pk = :p AND gsi3sk <= :t"),
			ExpressionAttributeValues: map[string]av{
				":p": s(fmt.Sprintf("OUTBOX#%d", shard)), ":t": s(dueKey(olderThan, "~")),
			},
			Limit: aws.Int32(int32(limit)),
		})
		if err != nil {
			return nil, fmt.Errorf("pending events: %w", err)
		}
		for _, it := range res.Items {
			ev, err := decodeEvent(it)
			if err != nil {
				return nil, err
			}
			out = append(out, ev)
		}
	}
	return out, nil
}

// GetEvent reads one event of tenant.
func (st *Store) GetEvent(ctx context.Context, tenant, id string) (gancho.Event, error) {
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: eventKey(tenant, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return gancho.Event{}, fmt.Errorf("get event: %w", err)
	}
	if res.Item == nil || expired(res.Item, time.Now()) {
		return gancho.Event{}, fmt.Errorf("event %s: %w", id, gancho.ErrNotFound)
	}
	return decodeEvent(res.Item)
}

// GetDelivery reads one delivery of tenant with its attempts: its record, or, before
// its first attempt, the pending delivery its event lists.
func (st *Store) GetDelivery(ctx context.Context, tenant, id string) (gancho.Delivery, error) {
	notFound := fmt.Errorf("delivery %s: %w", id, gancho.ErrNotFound)
	eventID, dest, ok := gancho.ParseDeliveryID(id)
	if !ok {
		return gancho.Delivery{}, notFound
	}
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: deliveryKey(tenant, dest, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return gancho.Delivery{}, fmt.Errorf("get delivery: %w", err)
	}
	if res.Item != nil {
		if expired(res.Item, time.Now()) {
			return gancho.Delivery{}, notFound
		}
		return decodeDelivery(res.Item)
	}
	ev, err := st.GetEvent(ctx, tenant, eventID)
	if errors.Is(err, gancho.ErrNotFound) {
		return gancho.Delivery{}, notFound
	}
	if err != nil {
		return gancho.Delivery{}, err
	}
	for _, d := range ev.Destinations {
		if d.SubscriptionID == dest {
			return gancho.PendingDelivery(ev, d), nil
		}
	}
	return gancho.Delivery{}, notFound
}

// expired reports whether an item's expiresAt has passed; DynamoDB deletes expired
// items late (and DynamoDB Local never), so reads must check it themselves.
func expired(it map[string]av, now time.Time) bool {
	v, ok := it["expiresAt"].(*types.AttributeValueMemberN)
	if !ok {
		return false
	}
	sec, err := strconv.ParseInt(v.Value, 10, 64)
	return err == nil && sec <= now.Unix()
}

type DeliveryRef = gancho.DeliveryRef

type DeliveryBatch = gancho.DeliveryBatch

// LoadDeliveryBatch reads the delivery records, events and subscriptions of refs with
// one BatchGetItem (per 100 keys). Missing items are simply absent from the maps: a
// delivery before its first attempt has no record.
func (st *Store) LoadDeliveryBatch(ctx context.Context, refs []DeliveryRef) (DeliveryBatch, error) {
	b := DeliveryBatch{Deliveries: map[string]gancho.Delivery{}, Events: map[string]gancho.Event{}, Subscriptions: map[string]gancho.Subscription{}}
	seen := map[[2]string]bool{}
	var keys []map[string]av
	add := func(k map[string]av) {
		id := [2]string{k["pk"].(*types.AttributeValueMemberS).Value, k["sk"].(*types.AttributeValueMemberS).Value}
		if !seen[id] {
			seen[id] = true
			keys = append(keys, k)
		}
	}
	for _, r := range refs {
		add(deliveryKey(r.TenantID, r.SubscriptionID, r.DeliveryID))
		if !r.EventKnown {
			add(eventKey(r.TenantID, r.EventID))
		}
		if r.SubscriptionID != gancho.CallbackDestination {
			add(subKey(r.TenantID, r.SubscriptionID))
		}
	}
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return b, err
	}
	for _, it := range items {
		pk := it["pk"].(*types.AttributeValueMemberS).Value
		sk := it["sk"].(*types.AttributeValueMemberS).Value
		switch {
		case sk == "S":
			sub, err := st.decodeSub(it)
			if err != nil {
				return b, err
			}
			b.Subscriptions[sub.ID] = sub
		case strings.HasSuffix(pk, "#E"):
			ev, err := decodeEvent(it)
			if err != nil {
				return b, err
			}
			b.Events[ev.ID] = ev
		case strings.HasSuffix(pk, "#D"):
			d, err := decodeDelivery(it)
			if err != nil {
				return b, err
			}
			b.Deliveries[d.ID] = d
		}
	}
	return b, nil
}

// tenantOf reads the tenant from an item's "T#<tenant>#..." partition key.
func tenantOf(it map[string]av) string {
	pk, _ := it["pk"].(*types.AttributeValueMemberS)
	if pk == nil {
		return ""
	}
	rest, _ := strings.CutPrefix(pk.Value, "T#")
	tenant, _, _ := strings.Cut(rest, "#")
	return tenant
}

// RecordAttempt appends attempt to d and sets its status, only if d still has exactly
// attempt.Number-1 attempts: a duplicate message for an attempt already made gets
// ErrConflict and changes nothing. With park, the delivery waits in the due index
// until next, for the sweeper to queue it; without, it leaves that index.
func (st *Store) RecordAttempt(ctx context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time, park bool) error {
	if !d.Recorded {
		return st.recordFirst(ctx, d, a, status, next, park)
	}
	av1, err := marshal(struct {
		A []gancho.Attempt `json:"a"`
	}{[]gancho.Attempt{a}})
	if err != nil {
		return err
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	set := "SET attempts = list_append(if_not_exists(attempts, :empty), :a), attemptCount = :n, #s = :s, updatedAt = :now"
	remove := []string{}
	values := map[string]av{
		":a": av1["a"], ":empty": &types.AttributeValueMemberL{}, ":n": n(int64(a.Number)),
		":prev": n(int64(a.Number - 1)), ":s": s(status), ":now": s(now),
	}
	if next != nil {
		set += ", nextAttemptAt = :next"
		values[":next"] = s(next.UTC().Format(time.RFC3339Nano))
	} else {
		remove = append(remove, "nextAttemptAt")
	}
	if park && next != nil {
		set += ", gsi3pk = :duepk, gsi3sk = :duesk"
		values[":duepk"], values[":duesk"] = s(dueShard(d.ID)), s(dueKey(*next, d.ID))
	} else {
		remove = append(remove, "gsi3pk", "gsi3sk")
	}
	update := set
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       deliveryKey(d.TenantID, d.SubscriptionID, d.ID),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attemptCount = :prev"),
		ExpressionAttributeNames:  map[string]string{"#s": "status"},
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return fmt.Errorf("attempt %d of %s: %w", a.Number, d.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	return nil
}

// recordFirst writes the record of a delivery that has none yet, with its first
// outcome: one PutItem, on the condition that no other consumer wrote it first.
func (st *Store) recordFirst(ctx context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time, park bool) error {
	d.Attempts = append(d.Attempts[:len(d.Attempts):len(d.Attempts)], a)
	d.Status, d.NextAttemptAt, d.UpdatedAt = status, next, time.Now().UTC()
	it, err := st.deliveryItem(d)
	if err != nil {
		return err
	}
	if park && next != nil {
		it["gsi3pk"], it["gsi3sk"] = s(dueShard(d.ID)), s(dueKey(*next, d.ID))
	}
	return st.putNewDelivery(ctx, it, d.ID)
}

func (st *Store) putNewDelivery(ctx context.Context, it map[string]av, id string) error {
	_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it,
		ConditionExpression: aws.String("attribute_not_exists(pk)")})
	if conditionFailed(err) {
		return fmt.Errorf("delivery %s already recorded: %w", id, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

// dueShards spreads parked deliveries over several index partitions.
const dueShards = 8

func dueShard(id string) string {
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("DUE#%d", sum[0]%dueShards)
}

func dueKey(at time.Time, id string) string {
	return at.UTC().Format("2006-01-02T15:04:05.000000000Z") + "#" + id
}

// DueDeliveries returns parked deliveries whose next attempt is due at now, at most
// limit per shard.
func (st *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]gancho.Delivery, error) {
	var out []gancho.Delivery
	for shard := 0; shard < dueShards; shard++ {
		res, err := st.db.Query(ctx, &dynamodb.QueryInput{
			TableName:              &st.table,
			IndexName:              aws.String("gsi3"),
			KeyConditionExpression: aws.String("gsi3pk = :p AND gsi3sk <= :now"),
			ExpressionAttributeValues: map[string]av{
				":p": s(fmt.Sprintf("DUE#%d", shard)), ":now": s(dueKey(now, "~")),
			},
			Limit: aws.Int32(int32(limit)),
		})
		if err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		for _, it := range res.Items {
			d, err := decodeDelivery(it)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// Unpark takes a queued delivery out of the due index, unless it changed meanwhile
// (another attempt was recorded): then ErrConflict.
func (st *Store) Unpark(ctx context.Context, d gancho.Delivery) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       deliveryKey(d.TenantID, d.SubscriptionID, d.ID),
		UpdateExpression:          aws.String("REMOVE gsi3pk, gsi3sk"),
		ConditionExpression:       aws.String("attemptCount = :n AND attribute_exists(gsi3pk)"),
		ExpressionAttributeValues: map[string]av{":n": n(int64(len(d.Attempts)))},
	})
	if conditionFailed(err) {
		return fmt.Errorf("unpark %s: %w", d.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("unpark: %w", err)
	}
	return nil
}

type DeliveryFilter = gancho.DeliveryFilter

// ListDeliveries lists a subscription's (bySubscription) or an event's deliveries,
// newest first.
func (st *Store) ListDeliveries(ctx context.Context, tenant string, bySubscription bool, id string, f DeliveryFilter, p Page) ([]gancho.Delivery, string, error) {
	if !bySubscription {
		return st.listEventDeliveries(ctx, tenant, id, f, p)
	}
	return st.listSubscriptionDeliveries(ctx, tenant, id, f, p)
}

// listSubscriptionDeliveries merges two sources, both in delivery id order (which is
// event order): the subscription's delivery records, and its pending deliveries (no
// record yet), read from the tenant's events that list it. Each source reads at most
// a page below the cursor; the page holds what both have read down to, so a page may
// be short (with a next cursor) when the events scanned for pending deliveries hold
// few of this subscription's.
func (st *Store) listSubscriptionDeliveries(ctx context.Context, tenant, subID string, f DeliveryFilter, p Page) ([]gancho.Delivery, string, error) {
	part := subDeliveriesPK(tenant, subID)
	start, err := decodeCursor(p.Cursor, "pk", part)
	if err != nil {
		return nil, "", err
	}
	before := ""
	if sk, ok := start["sk"].(*types.AttributeValueMemberS); ok {
		before = sk.Value
	}
	limit := max(p.Limit, 1)
	records, more, err := st.listRecords(ctx, part, start, f, limit)
	if err != nil {
		return nil, "", err
	}
	boundary := ""
	if more && len(records) > 0 {
		boundary = records[len(records)-1].ID
	}
	byID := make(map[string]gancho.Delivery, len(records))
	for _, d := range records {
		byID[d.ID] = d
	}
	if f.Status == "" || f.Status == gancho.StatusPending {
		pending, scannedTo, err := st.pendingDeliveries(ctx, tenant, subID, before, f, limit)
		if err != nil {
			return nil, "", err
		}
		for _, d := range pending {
			if _, ok := byID[d.ID]; !ok {
				byID[d.ID] = d
			}
		}
		boundary = max(boundary, scannedTo)
	}
	out := make([]gancho.Delivery, 0, len(byID))
	for _, d := range byID {
		if d.ID >= boundary {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	next := boundary
	if len(out) > limit {
		out, next = out[:limit], out[limit-1].ID
	}
	if next == "" {
		return out, "", nil
	}
	cursor, err := encodeCursor(map[string]av{"pk": s(part), "sk": s(next)})
	return out, cursor, err
}

// pendingScanCalls bounds the queries one page of a subscription's deliveries makes
// for its pending ones.
const pendingScanCalls = 4

// pendingDeliveries returns up to limit of subID's deliveries that have no record yet,
// below delivery id before (all when empty), newest first: from the tenant's events
// whose dests hold it. scannedTo is, when the events were not all read, the delivery
// id of the last event read: everything above it was seen.
func (st *Store) pendingDeliveries(ctx context.Context, tenant, subID, before string, f DeliveryFilter, limit int) ([]gancho.Delivery, string, error) {
	lo, hi := gancho.PrefixEvent, gancho.PrefixEvent+"~"
	if before != "" {
		ev, _, ok := gancho.ParseDeliveryID(before)
		if !ok {
			return nil, "", nil
		}
		hi = ev
	}
	if f.Since != nil {
		lo = gancho.IDFloor(gancho.PrefixEvent, *f.Since)
	}
	if f.Until != nil {
		hi = min(hi, gancho.IDFloor(gancho.PrefixEvent, *f.Until))
	}
	if lo >= hi {
		return nil, "", nil
	}
	in := &dynamodb.QueryInput{
		TableName:              &st.table,
		KeyConditionExpression: aws.String("pk = :p AND sk BETWEEN :lo AND :hi"),
		FilterExpression:       aws.String("expiresAt > :now AND contains(dests, :sub)"),
		ExpressionAttributeValues: map[string]av{":p": s(eventsPK(tenant)), ":lo": s(lo), ":hi": s(hi),
			":now": n(time.Now().Unix()), ":sub": s(subID)},
		ScanIndexForward: aws.Bool(false),
	}
	var evs []gancho.Event
	scannedTo := ""
	for calls := 0; ; calls++ {
		in.Limit = aws.Int32(int32(max(limit-len(evs), 1) * 4))
		res, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list pending deliveries: %w", err)
		}
		for _, it := range res.Items {
			ev, err := decodeEvent(it)
			if err != nil {
				return nil, "", err
			}
			if ev.ID != hi { // BETWEEN includes hi: the cursor's own event is done
				evs = append(evs, ev)
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		if len(evs) >= limit || calls+1 == pendingScanCalls {
			sk, _ := res.LastEvaluatedKey["sk"].(*types.AttributeValueMemberS)
			if sk != nil {
				scannedTo = gancho.DeliveryID(sk.Value, subID)
			}
			if len(evs) > limit {
				evs = evs[:limit]
				scannedTo = gancho.DeliveryID(evs[limit-1].ID, subID)
			}
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	var out []gancho.Delivery
	keys := make([]map[string]av, 0, len(evs))
	for _, ev := range evs {
		for _, dest := range ev.Destinations {
			if dest.SubscriptionID != subID {
				continue
			}
			d := gancho.PendingDelivery(ev, dest)
			if f.OwnerID == "" || d.OwnerID == f.OwnerID {
				out = append(out, d)
				keys = append(keys, deliveryKey(tenant, subID, d.ID))
			}
		}
	}
	// Those with a record are the other source's.
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return nil, "", fmt.Errorf("list pending deliveries: %w", err)
	}
	recorded := map[string]bool{}
	for _, it := range items {
		if sk, ok := it["sk"].(*types.AttributeValueMemberS); ok {
			recorded[sk.Value] = true
		}
	}
	pending := out[:0]
	for _, d := range out {
		if !recorded[d.ID] {
			pending = append(pending, d)
		}
	}
	return pending, scannedTo, nil
}

// listRecords reads up to limit of a subscription's delivery records from start,
// newest first; more says whether others follow.
func (st *Store) listRecords(ctx context.Context, part string, start map[string]av, f DeliveryFilter, limit int) ([]gancho.Delivery, bool, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		KeyConditionExpression:    aws.String("pk = :p"),
		ExpressionAttributeValues: map[string]av{":p": s(part), ":now": n(time.Now().Unix())},
		ScanIndexForward:          aws.Bool(false),
		ExclusiveStartKey:         start,
	}
	filters := []string{"(attribute_not_exists(expiresAt) OR expiresAt > :now)"}
	names := map[string]string{}
	if f.Status != "" {
		filters = append(filters, "#s = :s")
		names["#s"] = "status"
		in.ExpressionAttributeValues[":s"] = s(f.Status)
	}
	if f.OwnerID != "" {
		filters = append(filters, "ownerId = :o")
		in.ExpressionAttributeValues[":o"] = s(f.OwnerID)
	}
	if f.Since != nil {
		filters = append(filters, "createdAt >= :since")
		in.ExpressionAttributeValues[":since"] = s(f.Since.UTC().Format(time.RFC3339Nano))
	}
	if f.Until != nil {
		filters = append(filters, "createdAt < :until")
		in.ExpressionAttributeValues[":until"] = s(f.Until.UTC().Format(time.RFC3339Nano))
	}
	in.FilterExpression = aws.String(strings.Join(filters, " AND "))
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	items, next, err := st.queryPage(ctx, in, limit)
	if err != nil {
		return nil, false, fmt.Errorf("list deliveries: %w", err)
	}
	out := make([]gancho.Delivery, 0, len(items))
	for _, it := range items {
		d, err := decodeDelivery(it)
		if err != nil {
			return nil, false, err
		}
		out = append(out, d)
	}
	return out, next != "", nil
}

// listEventDeliveries lists an event's deliveries from its destinations: each one's
// record, or the pending delivery when it has none yet, in delivery id order
// (descending, as the other lists), read a page's worth at a time.
func (st *Store) listEventDeliveries(ctx context.Context, tenant, eventID string, f DeliveryFilter, p Page) ([]gancho.Delivery, string, error) {
	part := "T#" + tenant + "#E#" + eventID + "#D"
	start, err := decodeCursor(p.Cursor, "pk", part)
	if err != nil {
		return nil, "", err
	}
	after := "~"
	if sk, ok := start["sk"].(*types.AttributeValueMemberS); ok {
		after = sk.Value
	}
	ev, err := st.GetEvent(ctx, tenant, eventID)
	if errors.Is(err, gancho.ErrNotFound) {
		return []gancho.Delivery{}, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	pending := make([]gancho.Delivery, 0, len(ev.Destinations))
	for _, d := range ev.Destinations {
		if pd := gancho.PendingDelivery(ev, d); pd.ID < after {
			pending = append(pending, pd)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].ID > pending[j].ID })
	limit := max(p.Limit, 1)
	out := make([]gancho.Delivery, 0, min(limit, len(pending)))
	keep := func(d gancho.Delivery) bool {
		return (f.Status == "" || d.Status == f.Status) && (f.OwnerID == "" || d.OwnerID == f.OwnerID) &&
			(f.Since == nil || !d.CreatedAt.Before(*f.Since)) && (f.Until == nil || d.CreatedAt.Before(*f.Until))
	}
	for from := 0; from < len(pending) && len(out) < limit; from += 100 {
		chunk := pending[from:min(from+100, len(pending))]
		keys := make([]map[string]av, len(chunk))
		for i, d := range chunk {
			keys[i] = deliveryKey(tenant, d.SubscriptionID, d.ID)
		}
		items, err := st.batchGet(ctx, keys)
		if err != nil {
			return nil, "", fmt.Errorf("list deliveries: %w", err)
		}
		recorded := make(map[string]gancho.Delivery, len(items))
		now := time.Now()
		for _, it := range items {
			d, err := decodeDelivery(it)
			if err != nil {
				return nil, "", err
			}
			if !expired(it, now) {
				recorded[d.ID] = d
			}
		}
		for i, d := range chunk {
			if r, ok := recorded[d.ID]; ok {
				d = r
			}
			if !keep(d) {
				continue
			}
			out = append(out, d)
			if len(out) == limit {
				if from+i+1 == len(pending) {
					return out, "", nil
				}
				next, err := encodeCursor(map[string]av{"pk": s(part), "sk": s(d.ID)})
				return out, next, err
			}
		}
	}
	return out, "", nil
}

// SetDeliveryStatus ends a delivery without an attempt (e.g. cancelled), unless it is
// already final. A delivery with no record yet gets one.
func (st *Store) SetDeliveryStatus(ctx context.Context, d gancho.Delivery, status string) error {
	if !d.Recorded {
		d.Status, d.NextAttemptAt, d.UpdatedAt = status, nil, time.Now().UTC()
		it, err := st.deliveryItem(d)
		if err != nil {
			return err
		}
		return st.putNewDelivery(ctx, it, d.ID)
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &st.table,
		Key:                      deliveryKey(d.TenantID, d.SubscriptionID, d.ID),
		UpdateExpression:         aws.String("SET #s = :s, updatedAt = :now REMOVE nextAttemptAt"),
		ConditionExpression:      aws.String("attribute_exists(pk) AND NOT #s IN (:d, :f, :c)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]av{":s": s(status), ":now": s(time.Now().UTC().Format(time.RFC3339Nano)),
			":d": s(gancho.StatusDelivered), ":f": s(gancho.StatusFailed), ":c": s(gancho.StatusCancelled)},
	})
	if conditionFailed(err) {
		return fmt.Errorf("delivery %s already final: %w", d.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("set delivery status: %w", err)
	}
	return nil
}

type Outcome = gancho.Outcome

// RecordSubscriptionOutcome updates a subscription's status block with one update per
// batch: gancho.Status.Apply's rule as one update expression, so concurrent batches
// add their failures without reading the block. A subscription deleted meanwhile is
// left alone.
func (st *Store) RecordSubscriptionOutcome(ctx context.Context, tenant, subID string, o Outcome) error {
	a := o.Last
	ts := func(t time.Time) av { return s(t.UTC().Format(time.RFC3339Nano)) }
	values := map[string]av{":code": n(int64(a.StatusCode)), ":resp": s(gancho.TruncateUTF8(a.Response, gancho.MaxStatusResponse)), ":at": ts(a.At)}
	update := "SET lastStatusCode = :code, lastResponse = :resp, lastAttemptAt = :at"
	switch {
	case o.LastSuccess != nil && o.Failures == 0:
		update += ", lastSuccessAt = :ok, consecutiveFailures = :zero REMOVE failingSince"
		values[":ok"], values[":zero"] = ts(*o.LastSuccess), n(0)
	case o.LastSuccess != nil:
		update += ", lastSuccessAt = :ok, consecutiveFailures = :fails, failingSince = :first"
		values[":ok"], values[":fails"], values[":first"] = ts(*o.LastSuccess), n(int64(o.Failures)), ts(*o.FirstFailure)
	default:
		update += ", failingSince = if_not_exists(failingSince, :first) ADD consecutiveFailures :fails"
		values[":fails"], values[":first"] = n(int64(o.Failures)), ts(*o.FirstFailure)
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: subKey(tenant, subID), UpdateExpression: aws.String(update),
		ConditionExpression: aws.String("attribute_exists(pk)"), ExpressionAttributeValues: values,
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("record subscription outcome: %w", err)
	}
	return nil
}

// MarkRequeued shows a delivery that a user queued again as pending, if it has not
// changed since it was read.
func (st *Store) MarkRequeued(ctx context.Context, d gancho.Delivery) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &st.table,
		Key:                      deliveryKey(d.TenantID, d.SubscriptionID, d.ID),
		UpdateExpression:         aws.String("SET #s = :p, updatedAt = :now REMOVE nextAttemptAt, gsi3pk, gsi3sk"),
		ConditionExpression:      aws.String("attemptCount = :n AND #s = :was"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]av{":p": s(gancho.StatusPending), ":n": n(int64(len(d.Attempts))),
			":was": s(d.Status), ":now": s(time.Now().UTC().Format(time.RFC3339Nano))},
	})
	if conditionFailed(err) {
		return fmt.Errorf("requeue %s: %w", d.ID, gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mark requeued: %w", err)
	}
	return nil
}

// StatusRefresh is gancho.StatusRefresh.
const StatusRefresh = gancho.StatusRefresh
