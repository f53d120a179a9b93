package memstore

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// storeEvent is ev as the DynamoDB store keeps it: in the outbox until queued, and
// its destinations only once queued.
func (st *Store) storeEvent(ev gancho.Event) *event {
	e := &event{ev: cloneEvent(ev), outbox: ev.QueuedAt == nil, expiresAt: st.expiry(ev.CreatedAt)}
	if e.outbox {
		e.ev.Destinations = nil
	} else if e.ev.Destinations == nil {
		e.ev.Destinations = []gancho.Destination{}
	}
	return e
}

// CreateEvent stores ev once (a second call with the same id is a conflict). An event
// not yet queued (QueuedAt nil) sits in the outbox until MarkEventQueued.
func (st *Store) CreateEvent(_ context.Context, ev gancho.Event) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := k2(ev.TenantID, ev.ID)
	if _, ok := st.events[k]; ok {
		return fmt.Errorf("event %s: %w", ev.ID, gancho.ErrConflict)
	}
	st.events[k] = st.storeEvent(ev)
	return nil
}

// MarkEventQueued records that every delivery of the event was queued, and where,
// and takes it out of the outbox. (DynamoDB's update would create a bare item for an
// unknown event; here an unknown event is left alone.)
func (st *Store) MarkEventQueued(_ context.Context, ev gancho.Event, at time.Time, dests []gancho.Destination) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.events[k2(ev.TenantID, ev.ID)]
	if !ok {
		return nil
	}
	e.ev.QueuedAt, e.ev.DeliveryCount = utc(at), len(dests)
	e.ev.Destinations = append(make([]gancho.Destination, 0, len(dests)), dests...)
	e.outbox = false
	return nil
}

// PendingEvents returns events due before olderThan (or at it: stored then, or
// scheduled to fan out then, gancho.Event.OutboxDue) that are still in the outbox,
// oldest first, at most limit. (The DynamoDB store reads its outbox in shards and
// returns at most limit per shard.)
func (st *Store) PendingEvents(_ context.Context, olderThan time.Time, limit int) ([]gancho.Event, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []gancho.Event
	for _, e := range st.events {
		if e.outbox && !e.ev.OutboxDue().After(olderThan) {
			out = append(out, cloneEvent(e.ev))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if di, dj := out[i].OutboxDue(), out[j].OutboxDue(); !di.Equal(dj) {
			return di.Before(dj)
		}
		return out[i].TenantID+out[i].ID < out[j].TenantID+out[j].ID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// GetEvent reads one event of tenant.
func (st *Store) GetEvent(_ context.Context, tenant, id string) (gancho.Event, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.events[k2(tenant, id)]
	if !ok || !st.live(e.expiresAt) {
		return gancho.Event{}, fmt.Errorf("event %s: %w", id, gancho.ErrNotFound)
	}
	return cloneEvent(e.ev), nil
}

// GetDelivery reads one delivery of tenant: its record, or, before its first
// attempt, the pending delivery its event lists.
func (st *Store) GetDelivery(_ context.Context, tenant, id string) (gancho.Delivery, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	notFound := fmt.Errorf("delivery %s: %w", id, gancho.ErrNotFound)
	eventID, dest, ok := gancho.ParseDeliveryID(id)
	if !ok {
		return gancho.Delivery{}, notFound
	}
	if r, ok := st.deliveries[k2(tenant, id)]; ok {
		if !st.live(r.expiresAt) {
			return gancho.Delivery{}, notFound
		}
		return cloneDelivery(r.d), nil
	}
	e, ok := st.events[k2(tenant, eventID)]
	if !ok || !st.live(e.expiresAt) {
		return gancho.Delivery{}, notFound
	}
	for _, d := range e.ev.Destinations {
		if d.SubscriptionID == dest {
			return gancho.PendingDelivery(cloneEvent(e.ev), d), nil
		}
	}
	return gancho.Delivery{}, notFound
}

// LoadDeliveryBatch reads the delivery records, events and subscriptions of refs.
// Missing items are absent from the maps: a delivery before its first attempt has no
// record. (Like a DynamoDB BatchGetItem, it does not check expiry.)
func (st *Store) LoadDeliveryBatch(_ context.Context, refs []gancho.DeliveryRef) (gancho.DeliveryBatch, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b := gancho.DeliveryBatch{Deliveries: map[string]gancho.Delivery{}, Events: map[string]gancho.Event{}, Subscriptions: map[string]gancho.Subscription{}}
	for _, r := range refs {
		if d, ok := st.deliveries[k2(r.TenantID, r.DeliveryID)]; ok && d.d.SubscriptionID == r.SubscriptionID {
			b.Deliveries[d.d.ID] = cloneDelivery(d.d)
		}
		if e, ok := st.events[k2(r.TenantID, r.EventID)]; ok && !r.EventKnown {
			b.Events[e.ev.ID] = cloneEvent(e.ev)
		}
		if s, ok := st.subs[k2(r.TenantID, r.SubscriptionID)]; ok && r.SubscriptionID != gancho.CallbackDestination {
			b.Subscriptions[s.sub.ID] = cloneSub(s.sub)
		}
	}
	return b, nil
}

// RecordAttempt appends a to d and sets its status, only if d still has exactly
// a.Number-1 attempts: a duplicate message for an attempt already made gets
// ErrConflict and changes nothing. With park (and next), the delivery waits for the
// sweeper until next; without, it is no longer parked.
func (st *Store) RecordAttempt(_ context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time, park bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := k2(d.TenantID, d.ID)
	r, ok := st.deliveries[k]
	if !d.Recorded {
		if ok {
			return fmt.Errorf("delivery %s already recorded: %w", d.ID, gancho.ErrConflict)
		}
		d.Attempts = append(d.Attempts[:len(d.Attempts):len(d.Attempts)], a)
		d.Status, d.NextAttemptAt, d.UpdatedAt = status, next, st.now().UTC()
		st.deliveries[k] = st.newRecord(d, park)
		return nil
	}
	if !ok || len(r.d.Attempts) != a.Number-1 {
		return fmt.Errorf("attempt %d of %s: %w", a.Number, d.ID, gancho.ErrConflict)
	}
	r.d.Attempts = append(r.d.Attempts, clone(a))
	r.d.Status, r.d.UpdatedAt = status, st.now().UTC()
	r.d.NextAttemptAt, r.due = nil, nil
	if next != nil {
		r.d.NextAttemptAt = utc(*next)
		if park {
			r.due = utc(*next)
		}
	}
	return nil
}

// newRecord is the first record of d.
func (st *Store) newRecord(d gancho.Delivery, park bool) *delivery {
	if d.Attempts == nil {
		d.Attempts = []gancho.Attempt{}
	}
	r := &delivery{d: cloneDelivery(d), expiresAt: st.expiry(d.CreatedAt)}
	r.d.Recorded = true
	if park && d.NextAttemptAt != nil {
		r.due = utc(*d.NextAttemptAt)
	}
	return r
}

// SetDeliveryStatus ends a delivery without an attempt (e.g. cancelled), unless it is
// already final (gancho.ErrConflict). A delivery with no record yet gets one.
func (st *Store) SetDeliveryStatus(_ context.Context, d gancho.Delivery, status string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := k2(d.TenantID, d.ID)
	r, ok := st.deliveries[k]
	if !d.Recorded {
		if ok {
			return fmt.Errorf("delivery %s already recorded: %w", d.ID, gancho.ErrConflict)
		}
		d.Status, d.NextAttemptAt, d.UpdatedAt = status, nil, st.now().UTC()
		st.deliveries[k] = st.newRecord(d, false)
		return nil
	}
	if !ok || gancho.Final(r.d.Status) {
		return fmt.Errorf("delivery %s already final: %w", d.ID, gancho.ErrConflict)
	}
	// As in the DynamoDB store, a parked delivery stays parked: the sweeper's
	// message finds it final and does nothing.
	r.d.Status, r.d.UpdatedAt, r.d.NextAttemptAt = status, st.now().UTC(), nil
	return nil
}

// MarkRequeued shows a delivery that a user queued again as pending, if it has not
// changed since it was read (gancho.ErrConflict otherwise).
func (st *Store) MarkRequeued(_ context.Context, d gancho.Delivery) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	r, ok := st.deliveries[k2(d.TenantID, d.ID)]
	if !ok || len(r.d.Attempts) != len(d.Attempts) || r.d.Status != d.Status {
		return fmt.Errorf("requeue %s: %w", d.ID, gancho.ErrConflict)
	}
	r.d.Status, r.d.UpdatedAt, r.d.NextAttemptAt, r.due = gancho.StatusPending, st.now().UTC(), nil, nil
	return nil
}

// DueDeliveries returns parked deliveries whose next attempt is due at now, soonest
// first, at most limit. (The DynamoDB store returns at most limit per shard.)
func (st *Store) DueDeliveries(_ context.Context, now time.Time, limit int) ([]gancho.Delivery, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var due []*delivery
	for _, r := range st.deliveries {
		if r.due != nil && !r.due.After(now) {
			due = append(due, r)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if !due[i].due.Equal(*due[j].due) {
			return due[i].due.Before(*due[j].due)
		}
		return due[i].d.ID < due[j].d.ID
	})
	out := make([]gancho.Delivery, 0, min(len(due), limit))
	for _, r := range due[:min(len(due), limit)] {
		out = append(out, cloneDelivery(r.d))
	}
	return out, nil
}

// Unpark takes a queued delivery out of the parked ones, unless it changed meanwhile
// (another attempt was recorded) or is not parked: then ErrConflict.
func (st *Store) Unpark(_ context.Context, d gancho.Delivery) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	r, ok := st.deliveries[k2(d.TenantID, d.ID)]
	if !ok || r.due == nil || len(r.d.Attempts) != len(d.Attempts) {
		return fmt.Errorf("unpark %s: %w", d.ID, gancho.ErrConflict)
	}
	r.due = nil
	return nil
}

// ListDeliveries lists a subscription's (bySubscription) or an event's deliveries,
// newest first: each delivery's record, or, before its first outcome, the pending
// delivery its event lists. (The DynamoDB store may return a short page with a
// cursor when the events it scanned held few of the subscription's; here a page is
// full unless it is the last.)
func (st *Store) ListDeliveries(_ context.Context, tenant string, bySubscription bool, id string, f gancho.DeliveryFilter, p gancho.Page) ([]gancho.Delivery, string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	list := "E#" + tenant + "#" + id
	if bySubscription {
		list = "S#" + tenant + "#" + id
	}
	if _, err := decodeCursor(p.Cursor, list); err != nil {
		return nil, "", err
	}
	keep := func(d gancho.Delivery) bool {
		return (f.Status == "" || d.Status == f.Status) && (f.OwnerID == "" || d.OwnerID == f.OwnerID) &&
			(f.Since == nil || !d.CreatedAt.Before(*f.Since)) && (f.Until == nil || d.CreatedAt.Before(*f.Until))
	}
	var all []gancho.Delivery
	add := func(ev gancho.Event, dest gancho.Destination) {
		d := gancho.PendingDelivery(ev, dest)
		if r, ok := st.deliveries[k2(tenant, d.ID)]; ok {
			if !st.live(r.expiresAt) {
				return
			}
			d = cloneDelivery(r.d)
		}
		if keep(d) {
			all = append(all, d)
		}
	}
	seen := map[string]bool{}
	if bySubscription {
		for _, e := range st.events {
			if e.ev.TenantID != tenant || !st.live(e.expiresAt) {
				continue
			}
			for _, dest := range e.ev.Destinations {
				if dest.SubscriptionID == id {
					seen[gancho.DeliveryID(e.ev.ID, id)] = true
					add(cloneEvent(e.ev), dest)
				}
			}
		}
		// Records whose event is gone or never listed them still show.
		for _, r := range st.deliveries {
			if r.d.TenantID == tenant && r.d.SubscriptionID == id && !seen[r.d.ID] && st.live(r.expiresAt) && keep(r.d) {
				all = append(all, cloneDelivery(r.d))
			}
		}
	} else if e, ok := st.events[k2(tenant, id)]; ok && st.live(e.expiresAt) {
		for _, dest := range e.ev.Destinations {
			add(cloneEvent(e.ev), dest)
		}
	}
	out, next, err := pageDesc(all, func(d gancho.Delivery) string { return d.ID }, list, p)
	return out, next, err
}

// ListEvents lists tenant's events, newest first.
func (st *Store) ListEvents(_ context.Context, tenant string, f gancho.EventFilter, p gancho.Page) ([]gancho.Event, string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	lo, hi := gancho.PrefixEvent, gancho.PrefixEvent+"~"
	if f.Since != nil {
		lo = gancho.IDFloor(gancho.PrefixEvent, *f.Since)
	}
	if f.Until != nil {
		hi = gancho.IDFloor(gancho.PrefixEvent, *f.Until)
	}
	var all []gancho.Event
	for _, e := range st.events {
		ev := e.ev
		switch {
		case ev.TenantID != tenant || !st.live(e.expiresAt) || ev.ID < lo || ev.ID >= hi:
		case f.Type != "" && ev.Type != f.Type:
		case f.OwnerID != "" && ev.OwnerID != f.OwnerID:
		case f.ReferenceID != "" && (ev.Reference == nil || ev.Reference.ID != f.ReferenceID):
		default:
			all = append(all, cloneEvent(ev))
		}
	}
	return pageDesc(all, func(ev gancho.Event) string { return ev.ID }, "E#"+tenant, p)
}

// ClaimPublishKey records that key (of tenant) publishes event claim.EventID. If the
// key is already claimed and not expired at claim.ClaimedAt, it returns the existing
// claim and false.
func (st *Store) ClaimPublishKey(_ context.Context, tenant, key string, c gancho.PublishClaim) (gancho.PublishClaim, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.claimKey(tenant, key, c)
}

func (st *Store) claimKey(tenant, key string, c gancho.PublishClaim) (gancho.PublishClaim, bool, error) {
	k := k2(tenant, key)
	if cur, ok := st.claims[k]; ok && cur.expiresAt > c.ClaimedAt.Unix() {
		return clone(cur.c), false, nil
	}
	st.claims[k] = claim{c: clone(c), expiresAt: c.ClaimedAt.Add(PublishKeyTTL).Unix()}
	return c, true, nil
}

// AbandonPublishKey marks claim's key as no longer being worked on, so that a repeat
// takes it over at once, under the same event id. It does nothing if the key has
// another claim.
func (st *Store) AbandonPublishKey(_ context.Context, tenant, key string, c gancho.PublishClaim) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := k2(tenant, key)
	if cur, ok := st.claims[k]; ok && cur.c.EventID == c.EventID {
		cur.c.ClaimedAt = time.Time{}
		st.claims[k] = cur
	}
	return nil
}

// ClaimPublishKeys is ClaimPublishKey for many (distinct) keys.
func (st *Store) ClaimPublishKeys(_ context.Context, reqs []gancho.KeyClaim) []gancho.KeyClaimResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]gancho.KeyClaimResult, len(reqs))
	for i, r := range reqs {
		c, fresh, err := st.claimKey(r.Tenant, r.Key, r.Claim)
		out[i] = gancho.KeyClaimResult{Claim: c, Fresh: fresh, Err: err}
	}
	return out
}

// LoadEvents reads events of any tenants by id; missing and expired ones are absent.
func (st *Store) LoadEvents(_ context.Context, refs []gancho.EventRef) (map[string]gancho.Event, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]gancho.Event, len(refs))
	for _, r := range refs {
		if e, ok := st.events[k2(r.TenantID, r.ID)]; ok && st.live(e.expiresAt) {
			out[e.ev.ID] = cloneEvent(e.ev)
		}
	}
	return out, nil
}

// PutEvents stores new events and returns each one's error. Events published under an
// idempotency key (keyed[i]) are written only if their id is new (an error wrapping
// gancho.ErrConflict otherwise); the others have fresh ids and are simply written.
func (st *Store) PutEvents(_ context.Context, evs []gancho.Event, keyed []bool) []error {
	st.mu.Lock()
	defer st.mu.Unlock()
	errs := make([]error, len(evs))
	for i, ev := range evs {
		k := k2(ev.TenantID, ev.ID)
		if _, ok := st.events[k]; ok && i < len(keyed) && keyed[i] {
			errs[i] = fmt.Errorf("event %s: %w", ev.ID, gancho.ErrConflict)
			continue
		}
		st.events[k] = st.storeEvent(ev)
	}
	return errs
}

// MarkEventsQueued is MarkEventQueued for many events: each is written again whole,
// marked queued with its destinations.
func (st *Store) MarkEventsQueued(_ context.Context, evs []gancho.Event, at time.Time, dests [][]gancho.Destination) []error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for i, ev := range evs {
		ev.QueuedAt, ev.DeliveryCount, ev.Destinations = utc(at), len(dests[i]), dests[i]
		st.events[k2(ev.TenantID, ev.ID)] = st.storeEvent(ev)
	}
	return make([]error, len(evs))
}

// PutFanOuts writes the inbox entries of many events and returns each event's error.
func (st *Store) PutFanOuts(_ context.Context, ws []gancho.FanOutWrite) []error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, w := range ws {
		st.putInbox(w.Event, w.Inbox, false)
	}
	return make([]error, len(ws))
}

// TakeRateToken counts one send to a subscription in the one-second window holding at
// and returns the window's count including this one.
func (st *Store) TakeRateToken(_ context.Context, tenant, subID string, at time.Time) (int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	// Windows are never removed: nothing reads an old one, and a store lives as long
	// as a test. (The DynamoDB store lets them expire.)
	k := k2(k2(tenant, subID), strconv.FormatInt(at.Unix(), 10))
	st.windows[k]++
	return st.windows[k], nil
}
