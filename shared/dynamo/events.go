package dynamo

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func eventKey(tenant, id string) map[string]av    { return key("T#"+tenant+"#E#"+id, "E") }
func deliveryKey(tenant, id string) map[string]av { return key("T#"+tenant+"#D#"+id, "D") }

// CreateEvent stores ev (once: a second call with the same id is a conflict) and then
// the delivery records given. Until MarkEventQueued, the event sits in the outbox
// index, where the sweeper finds it if the process dies before queueing everything.
func (st *Store) CreateEvent(ctx context.Context, ev gancho.Event, deliveries []gancho.Delivery) error {
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
	return st.PutDeliveries(ctx, deliveries, false)
}

// eventItem is the stored form of ev: in the outbox index until it is queued
// (ev.QueuedAt set).
func (st *Store) eventItem(ev gancho.Event) (map[string]av, error) {
	it, err := marshal(ev)
	if err != nil {
		return nil, err
	}
	for k, v := range eventKey(ev.TenantID, ev.ID) {
		it[k] = v
	}
	it["gsi1pk"], it["gsi1sk"] = s("T#"+ev.TenantID+"#E"), s(ev.ID)
	if ev.QueuedAt == nil {
		it["gsi3pk"], it["gsi3sk"] = s(outboxShard(ev.ID)), s(dueKey(ev.CreatedAt, ev.TenantID+"#"+ev.ID))
	}
	it["expiresAt"] = n(st.expiry(ev.CreatedAt))
	return it, nil
}

// PutDeliveries writes delivery records. With onlyNew, records that already exist are
// left alone (a repair after a crash must not reset deliveries already under way);
// otherwise they are written in batches.
func (st *Store) PutDeliveries(ctx context.Context, deliveries []gancho.Delivery, onlyNew bool) error {
	items := make([]map[string]av, 0, len(deliveries))
	for _, d := range deliveries {
		di, err := st.deliveryItem(d)
		if err != nil {
			return err
		}
		items = append(items, di)
	}
	if !onlyNew {
		if err := st.batchWrite(ctx, items); err != nil {
			return fmt.Errorf("put deliveries: %w", err)
		}
		return nil
	}
	errs := make(chan error, len(items))
	sem := make(chan struct{}, writeParallelism*2)
	for _, it := range items {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: it,
				ConditionExpression: aws.String("attribute_not_exists(pk)")})
			if err != nil && !conditionFailed(err) {
				err = fmt.Errorf("put delivery: %w", err)
			} else {
				err = nil
			}
			errs <- err
		}()
	}
	var first error
	for range items {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (st *Store) deliveryItem(d gancho.Delivery) (map[string]av, error) {
	if d.Attempts == nil {
		d.Attempts = []gancho.Attempt{}
	}
	it, err := marshal(d)
	if err != nil {
		return nil, err
	}
	for k, v := range deliveryKey(d.TenantID, d.ID) {
		it[k] = v
	}
	it["tenantId"] = s(d.TenantID)
	it["gsi1pk"], it["gsi1sk"] = s("T#"+d.TenantID+"#S#"+d.SubscriptionID+"#D"), s(d.ID)
	it["gsi2pk"], it["gsi2sk"] = s("T#"+d.TenantID+"#E#"+d.EventID+"#D"), s(d.ID)
	it["attemptCount"] = n(int64(len(d.Attempts)))
	it["expiresAt"] = n(st.expiry(d.CreatedAt))
	return it, nil
}

// MarkEventQueued records that every delivery of the event was handed to the queue,
// and takes the event out of the outbox.
func (st *Store) MarkEventQueued(ctx context.Context, ev gancho.Event, at time.Time, deliveries int) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &st.table,
		Key:              eventKey(ev.TenantID, ev.ID),
		UpdateExpression: aws.String("SET queuedAt = :t, deliveryCount = :n REMOVE gsi3pk, gsi3sk"),
		ExpressionAttributeValues: map[string]av{":t": s(at.UTC().Format(time.RFC3339Nano)),
			":n": n(int64(deliveries))},
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
			var ev gancho.Event
			if err := unmarshal(it, &ev); err != nil {
				return nil, err
			}
			ev.TenantID = tenantOf(it)
			out = append(out, ev)
		}
	}
	return out, nil
}

// GetEvent reads one event of tenant.
func (st *Store) GetEvent(ctx context.Context, tenant, id string) (gancho.Event, error) {
	var ev gancho.Event
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: eventKey(tenant, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return ev, fmt.Errorf("get event: %w", err)
	}
	if res.Item == nil || expired(res.Item, time.Now()) {
		return ev, fmt.Errorf("event %s: %w", id, gancho.ErrNotFound)
	}
	ev.TenantID = tenant
	return ev, unmarshal(res.Item, &ev)
}

// GetDelivery reads one delivery of tenant with its attempts.
func (st *Store) GetDelivery(ctx context.Context, tenant, id string) (gancho.Delivery, error) {
	var d gancho.Delivery
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: deliveryKey(tenant, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return d, fmt.Errorf("get delivery: %w", err)
	}
	if res.Item == nil || expired(res.Item, time.Now()) {
		return d, fmt.Errorf("delivery %s: %w", id, gancho.ErrNotFound)
	}
	d.TenantID = tenant
	return d, unmarshal(res.Item, &d)
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

// DeliveryRef names the items one queue message needs.
type DeliveryRef struct {
	TenantID, DeliveryID, EventID, SubscriptionID string
}

// DeliveryBatch is everything a batch of messages needs, read at once.
type DeliveryBatch struct {
	Deliveries    map[string]gancho.Delivery     // by delivery id
	Events        map[string]gancho.Event        // by event id
	Subscriptions map[string]gancho.Subscription // by subscription id
}

// LoadDeliveryBatch reads the deliveries, events and subscriptions of refs with one
// BatchGetItem (per 100 keys). Missing items are simply absent from the maps.
func (st *Store) LoadDeliveryBatch(ctx context.Context, refs []DeliveryRef) (DeliveryBatch, error) {
	b := DeliveryBatch{Deliveries: map[string]gancho.Delivery{}, Events: map[string]gancho.Event{}, Subscriptions: map[string]gancho.Subscription{}}
	seen := map[string]bool{}
	var keys []map[string]av
	add := func(k map[string]av) {
		id := k["pk"].(*types.AttributeValueMemberS).Value
		if !seen[id] {
			seen[id] = true
			keys = append(keys, k)
		}
	}
	for _, r := range refs {
		add(deliveryKey(r.TenantID, r.DeliveryID))
		add(eventKey(r.TenantID, r.EventID))
		if r.SubscriptionID != gancho.CallbackDestination {
			add(subKey(r.TenantID, r.SubscriptionID))
		}
	}
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return b, err
	}
	for _, it := range items {
		sk := it["sk"].(*types.AttributeValueMemberS).Value
		switch sk {
		case "D":
			var d gancho.Delivery
			if err := unmarshal(it, &d); err != nil {
				return b, err
			}
			d.TenantID = tenantOf(it)
			b.Deliveries[d.ID] = d
		case "E":
			var ev gancho.Event
			if err := unmarshal(it, &ev); err != nil {
				return b, err
			}
			ev.TenantID = tenantOf(it)
			b.Events[ev.ID] = ev
		case "S":
			sub, err := st.decodeSub(it)
			if err != nil {
				return b, err
			}
			b.Subscriptions[sub.ID] = sub
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
		Key:                       deliveryKey(d.TenantID, d.ID),
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
			var d gancho.Delivery
			if err := unmarshal(it, &d); err != nil {
				return nil, err
			}
			d.TenantID = tenantOf(it)
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
		Key:                       deliveryKey(d.TenantID, d.ID),
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

// DeliveryFilter narrows a delivery list.
type DeliveryFilter struct {
	Status       string
	OwnerID      string // only deliveries to this owner's subscriptions
	Since, Until *time.Time
}

// ListDeliveries lists a subscription's (bySubscription) or an event's deliveries,
// newest first.
func (st *Store) ListDeliveries(ctx context.Context, tenant string, bySubscription bool, id string, f DeliveryFilter, p Page) ([]gancho.Delivery, string, error) {
	index, part := "gsi2", "T#"+tenant+"#E#"+id+"#D"
	if bySubscription {
		index, part = "gsi1", "T#"+tenant+"#S#"+id+"#D"
	}
	start, err := decodeCursor(p.Cursor, index+"pk", part)
	if err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName:                 &st.table,
		IndexName:                 aws.String(index),
		KeyConditionExpression:    aws.String(index + "pk = :p"),
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
	items, next, err := st.queryPage(ctx, in, p.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries: %w", err)
	}
	out := make([]gancho.Delivery, 0, len(items))
	for _, it := range items {
		var d gancho.Delivery
		if err := unmarshal(it, &d); err != nil {
			return nil, "", err
		}
		d.TenantID = tenant
		out = append(out, d)
	}
	return out, next, nil
}

// SetDeliveryStatus ends a delivery without an attempt (e.g. cancelled), unless it is
// already final.
func (st *Store) SetDeliveryStatus(ctx context.Context, d gancho.Delivery, status string) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &st.table,
		Key:                      deliveryKey(d.TenantID, d.ID),
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

// Outcome sums up the attempts one batch made to one subscription, in order.
type Outcome struct {
	Last         gancho.Attempt // the latest attempt
	LastSuccess  *time.Time     // the latest success, if any
	Failures     int            // failures after LastSuccess (or all, without one)
	FirstFailure *time.Time     // the first of those failures
}

// Add folds attempt a (made after the ones already added) into o.
func (o *Outcome) Add(a gancho.Attempt) {
	o.Last = a
	if a.Outcome == gancho.OutcomeSuccess {
		at := a.At
		o.LastSuccess, o.Failures, o.FirstFailure = &at, 0, nil
		return
	}
	o.Failures++
	if o.FirstFailure == nil {
		at := a.At
		o.FirstFailure = &at
	}
}

// StatusRefresh is how far behind the last attempt lastAttemptAt and lastSuccessAt may
// be shown: a batch of successes that changes nothing else in the status block
// leaves it unwritten while the times it holds are less than this old.
const StatusRefresh = time.Minute

// maxStatusResponse is how much of the last response the status block keeps.
const maxStatusResponse = 1024

// Changes reports whether writing o would change what a reader of st (the status
// block the batch read) relies on: the last status code and response, the failure
// count and failingSince, or times more than StatusRefresh older than o's. Failures
// always change it (they count).
func (o Outcome) Changes(st gancho.Status) bool {
	a := o.Last
	switch {
	case o.LastSuccess == nil || o.Failures > 0 || a.Outcome != gancho.OutcomeSuccess:
		return true
	case st.ConsecutiveFailures != 0 || st.FailingSince != nil:
		return true
	case st.LastStatusCode != a.StatusCode || st.LastResponse != truncate(a.Response, maxStatusResponse):
		return true
	case st.LastAttemptAt == nil || st.LastSuccessAt == nil:
		return true
	}
	return a.At.Sub(*st.LastAttemptAt) >= StatusRefresh || o.LastSuccess.Sub(*st.LastSuccessAt) >= StatusRefresh
}

// RecordSubscriptionOutcome updates a subscription's status block with one update per
// batch. A subscription deleted meanwhile is left alone.
func (st *Store) RecordSubscriptionOutcome(ctx context.Context, tenant, subID string, o Outcome) error {
	a := o.Last
	ts := func(t time.Time) av { return s(t.UTC().Format(time.RFC3339Nano)) }
	values := map[string]av{":code": n(int64(a.StatusCode)), ":resp": s(truncate(a.Response, maxStatusResponse)), ":at": ts(a.At)}
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

// truncate cuts v to at most max bytes without splitting a character.
func truncate(v string, max int) string {
	if len(v) <= max {
		return v
	}
	for max > 0 && !utf8.RuneStart(v[max]) {
		max--
	}
	return v[:max]
}

// MarkRequeued shows a delivery that a user queued again as pending, if it has not
// changed since it was read.
func (st *Store) MarkRequeued(ctx context.Context, d gancho.Delivery) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &st.table,
		Key:                      deliveryKey(d.TenantID, d.ID),
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
