package dynamo

// The inbox of a subscription: what pull results read. Every (subscription,
// matched event) pair gets two items, kept as long as the event:
//
//	inbox entry   T#<tenant>#S#<sub>#R  / <event id>     (expiresAt)
//	unseen mark   T#<tenant>#S#<sub>#R  / U#<event id>   (expiresAt), deleted when read
//
// Both carry visibleAt (Unix milliseconds) for an event with a deliverAt: reads leave
// them out until then.
//
// Event ids sort by creation time, so a date range is a key range of the entries. The
// unseen marks, not a "last viewed id" cursor, say what is new: an event whose inbox
// write lands late (a background fan-out, a repair by the sweeper) has an id older than
// events already read, and a cursor would skip it; its mark is still there.
//
// A notify subscription's item also carries noticePending (the delivery id of the
// notice queued and not yet ended) and noticeUntil (Unix seconds after which the flag
// is stale), which coalesce notices; see publish/notify.go.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// unseenPrefix starts the sort key of an unseen mark; it sorts before every event id.
const unseenPrefix = "U#"

const NoticeLease = gancho.NoticeLease

func inboxPK(tenant, subID string) string { return "T#" + tenant + "#S#" + subID + "#R" }

// PutInbox records that ev matched each of subIDs: an entry and an unseen mark each.
// With onlyNew (a repair), pairs whose entry exists are left alone, so an event
// already read does not come back as unseen.
func (st *Store) PutInbox(ctx context.Context, ev gancho.Event, subIDs []string, onlyNew bool) error {
	pair := func(sub string) (map[string]av, map[string]av) { return st.inboxItems(ev, sub) }
	if !onlyNew {
		items := make([]map[string]av, 0, 2*len(subIDs))
		for _, sub := range subIDs {
			entry, mark := pair(sub)
			items = append(items, entry, mark)
		}
		if err := st.batchWrite(ctx, items); err != nil {
			return fmt.Errorf("put inbox: %w", err)
		}
		return nil
	}
	for _, sub := range subIDs {
		entry, mark := pair(sub)
		_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &st.table, Item: entry, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
			{Put: &types.Put{TableName: &st.table, Item: mark}},
		}})
		if err != nil && !conditionFailed(err) {
			return fmt.Errorf("put inbox: %w", err)
		}
	}
	return nil
}

// inboxItems are the inbox entry and the unseen mark of ev for sub.
func (st *Store) inboxItems(ev gancho.Event, sub string) (entry, mark map[string]av) {
	pk, exp := s(inboxPK(ev.TenantID, sub)), n(st.expiry(ev.CreatedAt))
	entry = map[string]av{"pk": pk, "sk": s(ev.ID), "expiresAt": exp}
	mark = map[string]av{"pk": pk, "sk": s(unseenPrefix + ev.ID), "expiresAt": exp}
	if ev.DeliverAt != nil {
		entry[visibleAtAttr], mark[visibleAtAttr] = n(ev.DeliverAt.UnixMilli()), n(ev.DeliverAt.UnixMilli())
	}
	return entry, mark
}

// visibleAtAttr holds, on the inbox items of a scheduled event, its deliverAt.
const visibleAtAttr = "visibleAt"

// shownFilter keeps the live inbox items that are not scheduled after :ms (:now
// and :ms are now in Unix seconds and milliseconds).
const shownFilter = "expiresAt > :now AND (attribute_not_exists(visibleAt) OR visibleAt <= :ms)"

// ClaimNotice records new events for a notify subscription (needView, lastUpdateAt)
// and takes its pending-notice flag for deliveryID, unless another notice holds it
// (and its lease has not run out): then it reports false and the events only set
// needView. Taking a flag the same delivery already holds succeeds, so a repaired
// fan-out queues its notice again. A deleted subscription is not claimed.
func (st *Store) ClaimNotice(ctx context.Context, tenant, subID, deliveryID string, at time.Time) (bool, error) {
	values := map[string]av{
		":t": &types.AttributeValueMemberBOOL{Value: true}, ":at": s(at.UTC().Format(time.RFC3339Nano)),
		":d": s(deliveryID), ":until": n(at.Add(NoticeLease).Unix()), ":now": n(at.Unix()),
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &st.table,
		Key:              subKey(tenant, subID),
		UpdateExpression: aws.String("SET needView = :t, lastUpdateAt = :at, noticePending = :d, noticeUntil = :until"),
		ConditionExpression: aws.String("attribute_exists(pk) AND (attribute_not_exists(noticePending) OR " +
			"noticePending = :d OR noticeUntil < :now)"),
		ExpressionAttributeValues: values,
	})
	if err == nil {
		return true, nil
	}
	if !conditionFailed(err) {
		return false, fmt.Errorf("claim notice: %w", err)
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       subKey(tenant, subID),
		UpdateExpression:          aws.String("SET needView = :t, lastUpdateAt = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]av{":t": values[":t"], ":at": values[":at"]},
	})
	if err != nil && !conditionFailed(err) {
		return false, fmt.Errorf("set need view: %w", err)
	}
	return false, nil
}

// SettleNotice is called after each attempt of a notice: with until nil (the notice
// ended) it clears the subscription's pending-notice flag, with until (its next
// attempt plus NoticeLease) it extends the flag's lease. Either only if deliveryID
// still holds the flag.
func (st *Store) SettleNotice(ctx context.Context, tenant, subID, deliveryID string, until *time.Time) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       subKey(tenant, subID),
		UpdateExpression:          aws.String("REMOVE noticePending, noticeUntil"),
		ConditionExpression:       aws.String("noticePending = :d"),
		ExpressionAttributeValues: map[string]av{":d": s(deliveryID)},
	}
	if until != nil {
		in.UpdateExpression = aws.String("SET noticeUntil = :until")
		in.ExpressionAttributeValues[":until"] = n(until.Unix())
	}
	if _, err := st.db.UpdateItem(ctx, in); err != nil && !conditionFailed(err) {
		return fmt.Errorf("settle notice: %w", err)
	}
	return nil
}

type InboxQuery = gancho.InboxQuery

type InboxPage = gancho.InboxPage

// ReadInbox returns a page of a subscription's inbox. It reads the keys of the whole
// selection (small items) to count it.
func (st *Store) ReadInbox(ctx context.Context, tenant, subID string, q InboxQuery) (InboxPage, error) {
	page := InboxPage{EventIDs: []string{}}
	now := time.Now()
	in := &dynamodb.QueryInput{
		TableName:                &st.table,
		ProjectionExpression:     aws.String("#sk"),
		FilterExpression:         aws.String(shownFilter),
		ExpressionAttributeNames: map[string]string{"#sk": "sk"},
		ExpressionAttributeValues: map[string]av{
			":p": s(inboxPK(tenant, subID)), ":now": n(now.Unix()), ":ms": n(now.UnixMilli()),
		},
		ConsistentRead: aws.Bool(true),
	}
	exclude := ""
	if q.Unseen {
		in.KeyConditionExpression = aws.String("pk = :p AND begins_with(#sk, :u)")
		in.ExpressionAttributeValues[":u"] = s(unseenPrefix)
		in.ScanIndexForward = aws.Bool(true)
	} else {
		lo, hi, ok := dateRange(q)
		if !ok {
			return page, nil
		}
		exclude = hi
		in.KeyConditionExpression = aws.String("pk = :p AND #sk BETWEEN :lo AND :hi")
		in.ExpressionAttributeValues[":lo"], in.ExpressionAttributeValues[":hi"] = s(lo), s(hi)
		in.ScanIndexForward = aws.Bool(false)
	}
	return st.readPage(ctx, in, q, exclude, "read inbox")
}

// dateRange is the key range of event ids a results read with since and until
// covers (its upper end is Until's floor id, which is not before Until); ok is false
// when the range is empty.
func dateRange(q InboxQuery) (lo, hi string, ok bool) {
	lo, hi = gancho.PrefixEvent, gancho.PrefixEvent+"~"
	if q.Since != nil && q.Since.UnixMilli() > 0 {
		lo = gancho.IDFloor(gancho.PrefixEvent, *q.Since)
	}
	if q.Until != nil {
		if q.Until.UnixMilli() <= 0 {
			return "", "", false
		}
		hi = gancho.IDFloor(gancho.PrefixEvent, *q.Until)
	}
	return lo, hi, lo <= hi
}

// readPage runs in to its end and returns the event ids of q's page (its sort keys,
// an unseen mark's prefix cut) and the count of all of them, leaving exclude out.
func (st *Store) readPage(ctx context.Context, in *dynamodb.QueryInput, q InboxQuery, exclude, what string) (InboxPage, error) {
	page := InboxPage{EventIDs: []string{}}
	pager := dynamodb.NewQueryPaginator(st.db, in)
	for pager.HasMorePages() {
		res, err := pager.NextPage(ctx)
		if err != nil {
			return page, fmt.Errorf("%s: %w", what, err)
		}
		for _, it := range res.Items {
			sk, _ := it["sk"].(*types.AttributeValueMemberS)
			if sk == nil || sk.Value == exclude {
				continue
			}
			i := page.Total
			page.Total++
			if i >= q.Offset && i-q.Offset < q.Limit {
				page.EventIDs = append(page.EventIDs, strings.TrimPrefix(sk.Value, unseenPrefix))
			}
		}
	}
	return page, nil
}

// HasUnseen reports whether a subscription has events not read yet.
func (st *Store) HasUnseen(ctx context.Context, tenant, subID string) (bool, error) {
	now := time.Now()
	in := &dynamodb.QueryInput{
		TableName:                &st.table,
		KeyConditionExpression:   aws.String("pk = :p AND begins_with(#sk, :u)"),
		FilterExpression:         aws.String(shownFilter),
		ProjectionExpression:     aws.String("#sk"),
		ExpressionAttributeNames: map[string]string{"#sk": "sk"},
		ExpressionAttributeValues: map[string]av{
			":p": s(inboxPK(tenant, subID)), ":u": s(unseenPrefix), ":now": n(now.Unix()), ":ms": n(now.UnixMilli()),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          aws.Int32(25),
	}
	for {
		res, err := st.db.Query(ctx, in)
		if err != nil {
			return false, fmt.Errorf("read inbox: %w", err)
		}
		if len(res.Items) > 0 {
			return true, nil
		}
		if len(res.LastEvaluatedKey) == 0 {
			return false, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

const MaxMarkSeen = gancho.MaxMarkSeen

// MarkSeen deletes the unseen marks of eventIDs, all or none: if another reader
// deleted one of them first, it fails with gancho.ErrConflict and deletes nothing, so
// two readers never both return the same unseen event.
func (st *Store) MarkSeen(ctx context.Context, tenant, subID string, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	if len(eventIDs) > MaxMarkSeen {
		return fmt.Errorf("mark seen: %d events, at most %d at once", len(eventIDs), MaxMarkSeen)
	}
	pk := inboxPK(tenant, subID)
	items := make([]types.TransactWriteItem, 0, len(eventIDs))
	for _, id := range eventIDs {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table,
			Key: key(pk, unseenPrefix+id), ConditionExpression: aws.String("attribute_exists(pk)")}})
	}
	_, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if conditionFailed(err) || transactionConflict(err) {
		return fmt.Errorf("mark seen: another reader took some of these events: %w", gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mark seen: %w", err)
	}
	return nil
}

func transactionConflict(err error) bool {
	var tc *types.TransactionCanceledException
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "TransactionConflict" {
				return true
			}
		}
	}
	var conflict *types.TransactionConflictException
	return errors.As(err, &conflict)
}

// MarkViewed sets a subscription's lastViewedAt and, with clearNeedView, sets
// needView to false, but only if no event arrived since the subscription was read
// (its lastUpdateAt is still lastUpdateAt): an event recorded meanwhile keeps it true.
// A subscription deleted meanwhile is left alone.
func (st *Store) MarkViewed(ctx context.Context, tenant, subID string, at time.Time, clearNeedView bool, lastUpdateAt *time.Time) error {
	ts := s(at.UTC().Format(time.RFC3339Nano))
	if clearNeedView {
		in := &dynamodb.UpdateItemInput{
			TableName:                 &st.table,
			Key:                       subKey(tenant, subID),
			UpdateExpression:          aws.String("SET lastViewedAt = :at, needView = :f"),
			ConditionExpression:       aws.String("attribute_exists(pk) AND attribute_not_exists(lastUpdateAt)"),
			ExpressionAttributeValues: map[string]av{":at": ts, ":f": &types.AttributeValueMemberBOOL{Value: false}},
		}
		if lastUpdateAt != nil {
			in.ConditionExpression = aws.String("attribute_exists(pk) AND lastUpdateAt = :seen")
			in.ExpressionAttributeValues[":seen"] = s(lastUpdateAt.UTC().Format(time.RFC3339Nano))
		}
		_, err := st.db.UpdateItem(ctx, in)
		if err == nil {
			return nil
		}
		if !conditionFailed(err) {
			return fmt.Errorf("mark viewed: %w", err)
		}
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &st.table,
		Key:                       subKey(tenant, subID),
		UpdateExpression:          aws.String("SET lastViewedAt = :at"),
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]av{":at": ts},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("mark viewed: %w", err)
	}
	return nil
}

// GetEvents reads events of tenant by id (BatchGetItem, 100 keys a call), in the
// order given; events that expired or are gone are left out.
func (st *Store) GetEvents(ctx context.Context, tenant string, ids []string) ([]gancho.Event, error) {
	refs := make([]EventRef, len(ids))
	for i, id := range ids {
		refs[i] = EventRef{TenantID: tenant, ID: id}
	}
	byID, err := st.LoadEvents(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make([]gancho.Event, 0, len(ids))
	for _, id := range ids {
		if ev, ok := byID[id]; ok {
			out = append(out, ev)
		}
	}
	return out, nil
}

// Pull results of a push subscription come from its events, not from inbox items: an
// event lists the subscriptions it was queued for (dests, written with the event or
// when its background fan-out ends), event ids start with their creation time, so the
// events matched to a subscription are a key range of the tenant's events filtered on
// dests. Test events (type gancho.TypeTest, which cannot be published) are left out,
// as the inbox leaves them out. Reading them costs read units for every event of the
// tenant in the range, matched or not: a range that starts at the cursor is small for
// a subscription read regularly.
//
// What is new is what lies past the subscription's resultsCursor (the delivery id of
// the last event returned as new), which a read advances with a compare-and-set, so
// two readers never both return the same event. A cursor would skip an event whose
// destinations are written after a later event was read (a background fan-out, a
// repair by the sweeper), so new results stop at the fan-out horizon: before the
// oldest event still in the outbox (its fan-out unfinished) and before FanOutSettle
// ago (an event whose deliveries were queued first is stored a moment later). One
// case stays out of reach: a publish retried under its idempotency key after the
// first one died before storing its event stores it then under the first one's
// (older) id, which a cursor may have passed; it is still delivered, and listed with
// ?all=true.
//
// A scheduled event shows in pull results only from its deliverAt, and it may be
// fanned out (and so list its destinations) up to MaxDeliverAhead after its creation,
// when a cursor has long passed its id. So once it is queued, its item also sits in
// gsi3 under T#<tenant>#SR / its gancho.ScheduledResultsKey, which sorts at its
// deliverAt: new results are the unscheduled events past the cursor in the table
// and the scheduled ones past it in that index, merged, and a scheduled event read
// last leaves its key as the cursor. The index entry is written with the event's own
// writes (no call more per event); new results stop at the fan-out horizon, which is
// FanOutSettle behind, more than the index lags.

const FanOutSettle = gancho.FanOutSettle

// WithFanOutSettle sets the fan-out settle time (tests use small ones).
func (st *Store) WithFanOutSettle(d time.Duration) *Store { st.settle = d; return st }

const resultsCursorAttr = "resultsCursor"

func subDeliveriesPK(tenant, subID string) string { return "T#" + tenant + "#S#" + subID + "#D" }

// ResultsCursor returns a push subscription's results cursor ("" before its first read).
func (st *Store) ResultsCursor(ctx context.Context, tenant, subID string) (string, error) {
	res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: subKey(tenant, subID),
		ProjectionExpression: aws.String(resultsCursorAttr), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", fmt.Errorf("read results cursor: %w", err)
	}
	v, _ := res.Item[resultsCursorAttr].(*types.AttributeValueMemberS)
	if v == nil {
		return "", nil
	}
	return v.Value, nil
}

// fanOutHorizon is the time before which every event of tenant has its deliveries
// written: the creation of the tenant's oldest event still in the outbox, or now less
// the store's fan-out settle time. Outbox entries of expired events (left until the
// TTL removes them) do not hold it back. A scheduled event in the outbox holds it only
// from its deliverAt: its results key is at its deliverAt or its fan-out, whichever is
// later, so a cursor before its deliverAt cannot skip it (held from its due time, one
// far ahead would stall every push reader of the tenant until the sweeper hands it
// over). The outbox holds only events in flight, so reading the part of it older than
// the horizon is small: up to its oldest unscheduled event, past the scheduled ones due
// before it.
func (st *Store) fanOutHorizon(ctx context.Context, tenant string, now time.Time) (time.Time, error) {
	h := now.Add(-st.settle)
	for shard := 0; shard < dueShards; shard++ {
		in := &dynamodb.QueryInput{
			TableName:              &st.table,
			IndexName:              aws.String("gsi3"),
			KeyConditionExpression: aws.String("gsi3pk = :p AND gsi3sk < :h"),
			FilterExpression:       aws.String("pk = :t AND expiresAt > :now"),
			ProjectionExpression:   aws.String("gsi3sk, deliverAt"),
			ExpressionAttributeValues: map[string]av{
				":p": s(fmt.Sprintf("OUTBOX#%d", shard)), ":h": s(dueKey(h, "")),
				":t": s(eventsPK(tenant)), ":now": n(now.Unix()),
			},
		}
		for done := false; !done; {
			res, err := st.db.Query(ctx, in)
			if err != nil {
				return h, fmt.Errorf("read outbox: %w", err)
			}
			// Ascending by due time: the first unscheduled one is this shard's oldest.
			for _, it := range res.Items {
				sk, ok := it["gsi3sk"].(*types.AttributeValueMemberS)
				if !ok {
					continue
				}
				at, _, _ := strings.Cut(sk.Value, "#")
				due, err := time.Parse("2006-01-02T15:04:05.000000000Z", at)
				if err != nil {
					continue
				}
				if !due.Before(h) {
					done = true
					break
				}
				if v, ok := it["deliverAt"].(*types.AttributeValueMemberS); ok {
					if t, err := time.Parse(time.RFC3339Nano, v.Value); err == nil && t.Before(h) {
						h = t
					}
					continue
				}
				h, done = due, true
				break
			}
			if len(res.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = res.LastEvaluatedKey
		}
	}
	return h, nil
}

// scheduledResultsPK is the gsi3 partition of a tenant's scheduled events once they
// are queued.
func scheduledResultsPK(tenant string) string { return "T#" + tenant + "#SR" }

// scheduledResultsIndex is the gsi3 key of ev, queued at queuedAt for dests, in its
// tenant's scheduled results; ok is false for an event not scheduled or queued for
// nobody.
func scheduledResultsIndex(ev gancho.Event, queuedAt time.Time, dests []gancho.Destination) (pk, sk string, ok bool) {
	if len(dests) == 0 {
		return "", "", false
	}
	sk, ok = gancho.ScheduledResultsKey(ev, queuedAt)
	return scheduledResultsPK(ev.TenantID), sk, ok
}

// cursorKey is the place in a push subscription's results a cursor stands for: a
// scheduled event's results key, or the event id of a delivery id.
func cursorKey(cursor string) string {
	if _, ok := gancho.ScheduledResultsEvent(cursor); ok {
		return cursor
	}
	if ev, _, ok := gancho.ParseDeliveryID(cursor); ok {
		return ev
	}
	// A cursor written before delivery ids held their event id: its time part.
	rest := strings.TrimPrefix(cursor, gancho.PrefixDelivery)
	return gancho.PrefixEvent + rest[:min(len(rest), 10)]
}

// matchedQuery reads the ids of tenant's events queued for subID, between lo and hi.
// With unscheduled, the scheduled events in the scheduled results are left out
// (scheduledQuery reads them); otherwise those are left out until they are due.
func (st *Store) matchedQuery(tenant, subID, lo, hi string, now time.Time, unscheduled bool) *dynamodb.QueryInput {
	filter := "expiresAt > :now AND #t <> :test AND contains(dests, :sub) AND NOT (gsi3pk = :sr AND gsi3sk > :due)"
	if unscheduled {
		filter = "expiresAt > :now AND #t <> :test AND contains(dests, :sub) AND NOT (gsi3pk = :sr)"
	}
	in := &dynamodb.QueryInput{
		TableName:                &st.table,
		KeyConditionExpression:   aws.String("pk = :p AND sk BETWEEN :lo AND :hi"),
		FilterExpression:         aws.String(filter),
		ProjectionExpression:     aws.String("sk"),
		ExpressionAttributeNames: map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]av{
			":p": s(eventsPK(tenant)), ":now": n(now.Unix()), ":test": s(gancho.TypeTest), ":sub": s(subID),
			":lo": s(lo), ":hi": s(hi), ":sr": s(scheduledResultsPK(tenant)),
		},
	}
	if !unscheduled {
		in.ExpressionAttributeValues[":due"] = s(gancho.ResultsFloor(now) + "~")
	}
	return in
}

// scheduledQuery reads the results keys of tenant's scheduled events queued for
// subID, between lo and hi.
func (st *Store) scheduledQuery(tenant, subID, lo, hi string, now time.Time) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                &st.table,
		IndexName:                aws.String("gsi3"),
		KeyConditionExpression:   aws.String("gsi3pk = :p AND gsi3sk BETWEEN :lo AND :hi"),
		FilterExpression:         aws.String("expiresAt > :now AND #t <> :test AND contains(dests, :sub)"),
		ProjectionExpression:     aws.String("gsi3sk"),
		ExpressionAttributeNames: map[string]string{"#t": "type"},
		ExpressionAttributeValues: map[string]av{
			":p": s(scheduledResultsPK(tenant)), ":now": n(now.Unix()), ":test": s(gancho.TypeTest), ":sub": s(subID),
			":lo": s(lo), ":hi": s(hi),
		},
	}
}

// keysOf runs in to its end and returns the values of attr of its items, but for
// exclude.
func (st *Store) keysOf(ctx context.Context, in *dynamodb.QueryInput, attr, exclude, what string) ([]string, error) {
	var out []string
	pager := dynamodb.NewQueryPaginator(st.db, in)
	for pager.HasMorePages() {
		res, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		for _, it := range res.Items {
			if v, ok := it[attr].(*types.AttributeValueMemberS); ok && v.Value != exclude {
				out = append(out, v.Value)
			}
		}
	}
	return out, nil
}

// ReadDelivered is ReadInbox for a push subscription, from the events queued for it.
// New results (q.Unseen) are those past cursor and before the fan-out horizon, oldest
// first, a scheduled event at its deliverAt; a scheduled event is left out of every
// read before its deliverAt.
func (st *Store) ReadDelivered(ctx context.Context, tenant, subID, cursor string, q InboxQuery) (InboxPage, error) {
	now := time.Now()
	if !q.Unseen {
		lo, hi, ok := dateRange(q)
		if !ok {
			return InboxPage{EventIDs: []string{}}, nil
		}
		in := st.matchedQuery(tenant, subID, lo, hi, now, false)
		in.ScanIndexForward = aws.Bool(false)
		return st.readPage(ctx, in, q, hi, "read matched events")
	}
	page := InboxPage{EventIDs: []string{}, Cursors: []string{}}
	h, err := st.fanOutHorizon(ctx, tenant, now)
	if err != nil {
		return page, err
	}
	lo, hi := gancho.PrefixEvent, gancho.ResultsFloor(h)
	if cursor != "" {
		lo = cursorKey(cursor)
	}
	if lo > hi {
		return page, nil
	}
	ids, err := st.keysOf(ctx, st.matchedQuery(tenant, subID, lo, hi, now, true), "sk", lo, "read matched events")
	if err != nil {
		return page, err
	}
	keys, err := st.keysOf(ctx, st.scheduledQuery(tenant, subID, lo, hi, now), "gsi3sk", lo, "read scheduled events")
	if err != nil {
		return page, err
	}
	// Both come in key order: merge them.
	page.Total = len(ids) + len(keys)
	for i, j := 0, 0; i+j < min(page.Total, q.Offset+q.Limit); {
		var id, next string
		if j == len(keys) || i < len(ids) && ids[i] < keys[j] {
			id, next = ids[i], gancho.DeliveryID(ids[i], subID)
			i++
		} else {
			id, _ = gancho.ScheduledResultsEvent(keys[j])
			next = keys[j]
			j++
		}
		if i+j > q.Offset {
			page.EventIDs, page.Cursors = append(page.EventIDs, id), append(page.Cursors, next)
		}
	}
	return page, nil
}

// HasDelivered is HasUnseen for a push subscription: whether an event queued for it
// lies past its results cursor (past the fan-out horizon too: needView says something
// new matched, even if new results show it only once it settles), a scheduled one
// only from its deliverAt.
func (st *Store) HasDelivered(ctx context.Context, tenant, subID string) (bool, error) {
	cursor, err := st.ResultsCursor(ctx, tenant, subID)
	if err != nil {
		return false, err
	}
	lo := gancho.PrefixEvent
	if cursor != "" {
		lo = cursorKey(cursor) + "\x00"
	}
	now := time.Now()
	ins := []*dynamodb.QueryInput{st.matchedQuery(tenant, subID, lo, gancho.PrefixEvent+"~", now, true)}
	if due := gancho.ResultsFloor(now) + "~"; lo <= due {
		ins = append(ins, st.scheduledQuery(tenant, subID, lo, due, now))
	}
	for _, in := range ins {
		in.Limit = aws.Int32(25)
		for {
			res, err := st.db.Query(ctx, in)
			if err != nil {
				return false, fmt.Errorf("read matched events: %w", err)
			}
			if len(res.Items) > 0 {
				return true, nil
			}
			if len(res.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = res.LastEvaluatedKey
		}
	}
	return false, nil
}

// AdvanceResultsCursor moves a push subscription's results cursor from from to to,
// only if it is still from: otherwise (another reader moved it, or the subscription
// is gone) gancho.ErrConflict, and nothing changes.
func (st *Store) AdvanceResultsCursor(ctx context.Context, tenant, subID, from, to string) error {
	cond := "attribute_exists(pk) AND attribute_not_exists(#c)"
	values := map[string]av{":to": s(to)}
	if from != "" {
		cond = "attribute_exists(pk) AND #c = :from"
		values[":from"] = s(from)
	}
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: subKey(tenant, subID),
		UpdateExpression:          aws.String("SET #c = :to"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#c": resultsCursorAttr},
		ExpressionAttributeValues: values,
	})
	if conditionFailed(err) {
		return fmt.Errorf("results cursor: another reader moved it: %w", gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("advance results cursor: %w", err)
	}
	return nil
}
