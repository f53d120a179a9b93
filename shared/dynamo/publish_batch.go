package dynamo

// Writes of a batch publish (POST /v1/events/batch, the ingest queue): the same items
// a single publish writes, grouped into as few calls as DynamoDB takes (25 puts per
// BatchWriteItem, 100 keys per BatchGetItem, 100 conditional puts per transaction).

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

type KeyClaim = gancho.KeyClaim

type KeyClaimResult = gancho.KeyClaimResult

// maxTransactItems is the most items one TransactWriteItems takes.
const maxTransactItems = 100

// ClaimPublishKeys is ClaimPublishKey for many keys (distinct), in one transaction of
// conditional puts per 100 keys: the keys already claimed make it fail, with a reason
// per item, and the others are claimed in a second one; the existing claims are read
// in one BatchGetItem. Anything else a transaction meets (a concurrent claim of the
// same key, throttling) falls back to ClaimPublishKey for that chunk.
func (st *Store) ClaimPublishKeys(ctx context.Context, reqs []KeyClaim) []KeyClaimResult {
	out := make([]KeyClaimResult, len(reqs))
	var existing, fallback []int
	for start := 0; start < len(reqs); start += maxTransactItems {
		chunk := make([]int, 0, maxTransactItems)
		for i := start; i < min(start+maxTransactItems, len(reqs)); i++ {
			chunk = append(chunk, i)
		}
		// Two rounds: the second runs without the keys the first found claimed.
		for round := 0; len(chunk) > 0; round++ {
			if len(chunk) == 1 || round == 2 {
				fallback = append(fallback, chunk...)
				break
			}
			taken, retry, err := st.claimChunk(ctx, reqs, chunk)
			if err != nil {
				fallback = append(fallback, chunk...)
				break
			}
			if taken == nil && retry == nil {
				for _, i := range chunk {
					out[i] = KeyClaimResult{Claim: reqs[i].Claim, Fresh: true}
				}
				break
			}
			existing = append(existing, taken...)
			chunk = retry
		}
	}
	if len(existing) > 0 {
		keys := make([]map[string]av, 0, len(existing))
		for _, i := range existing {
			keys = append(keys, publishKey(reqs[i].Tenant, reqs[i].Key))
		}
		items, err := st.batchGet(ctx, keys)
		byPK := map[string]map[string]av{}
		for _, it := range items {
			if pk, ok := it["pk"].(*types.AttributeValueMemberS); ok {
				byPK[pk.Value] = it
			}
		}
		for _, i := range existing {
			pk := publishKey(reqs[i].Tenant, reqs[i].Key)["pk"].(*types.AttributeValueMemberS).Value
			it, ok := byPK[pk]
			switch {
			case err != nil:
				out[i].Err = fmt.Errorf("read publish keys: %w", err)
			case !ok:
				fallback = append(fallback, i) // gone meanwhile: claim it on its own
			default:
				out[i].Err = unmarshal(it, &out[i].Claim)
			}
		}
	}
	inParallel(len(fallback), writeParallelism, func(j int) {
		i := fallback[j]
		r := reqs[i]
		claim, fresh, err := st.ClaimPublishKey(ctx, r.Tenant, r.Key, r.Claim)
		out[i] = KeyClaimResult{Claim: claim, Fresh: fresh, Err: err}
	})
	return out
}

// claimChunk claims the keys of chunk in one transaction. When keys are already
// claimed it returns them (taken) and the rest (retry), none of which was claimed.
func (st *Store) claimChunk(ctx context.Context, reqs []KeyClaim, chunk []int) (taken, retry []int, err error) {
	items := make([]types.TransactWriteItem, 0, len(chunk))
	for _, i := range chunk {
		r := reqs[i]
		it, err := claimItem(r.Tenant, r.Key, r.Claim)
		if err != nil {
			return nil, nil, err
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: it,
			ConditionExpression:       aws.String("attribute_not_exists(pk) OR expiresAt <= :now"),
			ExpressionAttributeValues: map[string]av{":now": n(r.Claim.ClaimedAt.Unix())}}})
	}
	_, err = st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return nil, nil, nil
	}
	var tc *types.TransactionCanceledException
	if !errors.As(err, &tc) || len(tc.CancellationReasons) != len(chunk) {
		return nil, nil, fmt.Errorf("claim publish keys: %w", err)
	}
	for j, reason := range tc.CancellationReasons {
		switch aws.ToString(reason.Code) {
		case "ConditionalCheckFailed":
			taken = append(taken, chunk[j])
		case "None", "":
			retry = append(retry, chunk[j])
		default:
			return nil, nil, fmt.Errorf("claim publish keys: %w", err)
		}
	}
	if len(taken) == 0 {
		return nil, nil, fmt.Errorf("claim publish keys: cancelled without a reason: %w", err)
	}
	return taken, retry, nil
}

type EventRef = gancho.EventRef

// LoadEvents reads events of any tenants with one BatchGetItem per 100, by id; missing and expired
// ones are absent.
func (st *Store) LoadEvents(ctx context.Context, refs []EventRef) (map[string]gancho.Event, error) {
	keys := make([]map[string]av, 0, len(refs))
	seen := map[EventRef]bool{}
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			keys = append(keys, eventKey(r.TenantID, r.ID))
		}
	}
	items, err := st.batchGet(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("get events: %w", err)
	}
	out := make(map[string]gancho.Event, len(items))
	now := time.Now()
	for _, it := range items {
		if expired(it, now) {
			continue
		}
		ev, err := decodeEvent(it)
		if err != nil {
			return nil, err
		}
		out[ev.ID] = ev
	}
	return out, nil
}

// PutEvents stores new events and returns each one's error. An event with QueuedAt
// set (nothing to deliver) skips the outbox.
//
// Events published under an idempotency key (keyed[i]) are written one by one on the
// condition that their id is new, as CreateEvent does: a repeat that took the key over
// (this run stalled past the takeover time) may have stored and delivered the same id
// meanwhile, and writing it again would put it back in the outbox. Such an event's
// error wraps gancho.ErrConflict. A conditional PutItem costs the same units as a
// batched one. The others have fresh ids and go 25 per BatchWriteItem.
func (st *Store) PutEvents(ctx context.Context, evs []gancho.Event, keyed []bool) []error {
	items := make([]map[string]av, len(evs))
	errs := make([]error, len(evs))
	skip := make([]error, len(evs)) // for putEach: the events not batched
	var alone []int
	for i, ev := range evs {
		items[i], errs[i] = st.eventItem(ev)
		skip[i] = errs[i]
		if i < len(keyed) && keyed[i] && skip[i] == nil {
			skip[i] = errWrittenAlone
			alone = append(alone, i)
		}
	}
	inParallel(len(alone), writeParallelism, func(j int) {
		i := alone[j]
		_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &st.table, Item: items[i],
			ConditionExpression: aws.String("attribute_not_exists(pk)")})
		switch {
		case conditionFailed(err):
			errs[i] = fmt.Errorf("event %s: %w", evs[i].ID, gancho.ErrConflict)
		case err != nil:
			errs[i] = fmt.Errorf("put event: %w", err)
		}
	})
	return mergeErrs(errs, st.putEach(ctx, items, skip), "put events")
}

// errWrittenAlone marks, for putEach, the events PutEvents writes on their own.
var errWrittenAlone = errors.New("written on its own")

// MarkEventsQueued is MarkEventQueued for many events: each is written again whole,
// with queuedAt, deliveryCount and its destinations and out of the outbox, 25 per
// BatchWriteItem. An event is only ever changed to mark it queued, and the sweeper's
// repair marks it the same way, so the rewrite loses nothing.
func (st *Store) MarkEventsQueued(ctx context.Context, evs []gancho.Event, at time.Time, dests [][]gancho.Destination) []error {
	items := make([]map[string]av, len(evs))
	errs := make([]error, len(evs))
	when := at.UTC()
	for i, ev := range evs {
		ev.QueuedAt, ev.DeliveryCount, ev.Destinations = &when, len(dests[i]), dests[i]
		items[i], errs[i] = st.eventItem(ev)
	}
	return mergeErrs(errs, st.putEach(ctx, items, errs), "mark events queued")
}

type FanOutWrite = gancho.FanOutWrite

// PutFanOuts writes the inbox entries of many events together,
// 25 items per BatchWriteItem, and returns each event's error (the error of any
// chunk that held one of its items).
func (st *Store) PutFanOuts(ctx context.Context, ws []FanOutWrite) []error {
	var items []map[string]av
	var owner []int
	errs := make([]error, len(ws))
	for i, w := range ws {
		for _, sub := range w.Inbox {
			entry, mark := st.inboxItems(w.Event, sub)
			items = append(items, entry, mark)
			owner = append(owner, i, i)
		}
	}
	for j, err := range st.putEach(ctx, items, nil) {
		if err != nil && errs[owner[j]] == nil {
			errs[owner[j]] = fmt.Errorf("put fan-out: %w", err)
		}
	}
	return errs
}

// putEach writes items (skipping those whose skip error is set), 25 per BatchWriteItem,
// up to writeParallelism calls at once, and returns the error of each item's chunk.
func (st *Store) putEach(ctx context.Context, items []map[string]av, skip []error) []error {
	var idx []int
	for i := range items {
		if skip == nil || skip[i] == nil {
			idx = append(idx, i)
		}
	}
	errs := make([]error, len(items))
	inParallel((len(idx)+24)/25, writeParallelism, func(c int) {
		part := idx[c*25 : min(c*25+25, len(idx))]
		chunk := make([]map[string]av, len(part))
		for j, i := range part {
			chunk[j] = items[i]
		}
		if err := st.writeChunk(ctx, chunk); err != nil {
			for _, i := range part {
				errs[i] = err
			}
		}
	})
	return errs
}

// inParallel runs f(0), ..., f(n-1), at most limit at once, and returns when all
// have.
func inParallel(n, limit int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, limit)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			f(i)
		}()
	}
	wg.Wait()
}

func mergeErrs(before, after []error, what string) []error {
	for i, err := range after {
		if before[i] == nil && err != nil {
			before[i] = fmt.Errorf("%s: %w", what, err)
		}
	}
	return before
}
