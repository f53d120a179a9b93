package memstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func (st *Store) inboxOf(tenant, subID string) *inbox {
	k := k2(tenant, subID)
	in := st.inbox[k]
	if in == nil {
		in = &inbox{entries: map[string]int64{}, unseen: map[string]int64{}, visibleAt: map[string]time.Time{}}
		st.inbox[k] = in
	}
	return in
}

func (st *Store) putInbox(ev gancho.Event, subIDs []string, onlyNew bool) {
	exp := st.expiry(ev.CreatedAt)
	for _, sub := range subIDs {
		in := st.inboxOf(ev.TenantID, sub)
		if _, ok := in.entries[ev.ID]; ok && onlyNew {
			continue
		}
		in.entries[ev.ID], in.unseen[ev.ID] = exp, exp
		if ev.DeliverAt != nil {
			in.visibleAt[ev.ID] = *ev.DeliverAt
		}
	}
}

// shown reports whether the inbox items of id, expiring at exp, are read at now: live,
// and not scheduled after now.
func (in *inbox) shown(id string, exp int64, now time.Time) bool {
	at, scheduled := in.visibleAt[id]
	return exp > now.Unix() && (!scheduled || !at.After(now))
}

// PutInbox records that ev matched each of subIDs: an entry and an unseen mark each.
// With onlyNew (a repair), pairs whose entry exists are left alone, so an event
// already read does not come back as unseen.
func (st *Store) PutInbox(_ context.Context, ev gancho.Event, subIDs []string, onlyNew bool) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.putInbox(ev, subIDs, onlyNew)
	return nil
}

// ClaimNotice records new events for a notify subscription (needView, lastUpdateAt)
// and takes its pending-notice flag for deliveryID, unless another notice holds it
// and its lease has not run out: then it reports false. A deleted subscription is not
// claimed.
func (st *Store) ClaimNotice(_ context.Context, tenant, subID, deliveryID string, at time.Time) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subs[k2(tenant, subID)]
	if !ok {
		return false, nil
	}
	s.sub.NeedView, s.sub.LastUpdateAt = true, utc(at)
	if s.noticePending != "" && s.noticePending != deliveryID && s.noticeUntil >= at.Unix() {
		return false, nil
	}
	s.noticePending, s.noticeUntil = deliveryID, at.Add(gancho.NoticeLease).Unix()
	return true, nil
}

// SettleNotice clears the pending-notice flag (until nil) or extends its lease to
// until, only if deliveryID still holds it.
func (st *Store) SettleNotice(_ context.Context, tenant, subID, deliveryID string, until *time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subs[k2(tenant, subID)]
	if !ok || s.noticePending != deliveryID {
		return nil
	}
	if until == nil {
		s.noticePending, s.noticeUntil = "", 0
	} else {
		s.noticeUntil = until.Unix()
	}
	return nil
}

// dateRange is the range of event ids a results read with since and until covers;
// ok is false when it is empty.
func dateRange(q gancho.InboxQuery) (lo, hi string, ok bool) {
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

// page cuts q's page out of ids (already in order) and counts them all.
func page(ids []string, q gancho.InboxQuery) gancho.InboxPage {
	p := gancho.InboxPage{EventIDs: []string{}, Total: len(ids)}
	for i, id := range ids {
		if i >= q.Offset && i-q.Offset < q.Limit {
			p.EventIDs = append(p.EventIDs, id)
		}
	}
	return p
}

// ReadInbox returns a page of a subscription's inbox: unseen events oldest first, or
// every event in [Since, Until) newest first.
func (st *Store) ReadInbox(_ context.Context, tenant, subID string, q gancho.InboxQuery) (gancho.InboxPage, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	in := st.inbox[k2(tenant, subID)]
	if in == nil {
		return page(nil, q), nil
	}
	var ids []string
	now := st.now()
	if q.Unseen {
		for id, exp := range in.unseen {
			if in.shown(id, exp, now) {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		return page(ids, q), nil
	}
	lo, hi, ok := dateRange(q)
	if !ok {
		return page(nil, q), nil
	}
	for id, exp := range in.entries {
		if in.shown(id, exp, now) && id >= lo && id < hi {
			ids = append(ids, id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	return page(ids, q), nil
}

// HasUnseen reports whether a subscription has events not read yet.
func (st *Store) HasUnseen(_ context.Context, tenant, subID string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if in := st.inbox[k2(tenant, subID)]; in != nil {
		now := st.now()
		for id, exp := range in.unseen {
			if in.shown(id, exp, now) {
				return true, nil
			}
		}
	}
	return false, nil
}

// MarkSeen deletes the unseen marks of eventIDs, all or none: if one is gone (another
// reader took it), it fails with gancho.ErrConflict and deletes nothing.
func (st *Store) MarkSeen(_ context.Context, tenant, subID string, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	if len(eventIDs) > gancho.MaxMarkSeen {
		return fmt.Errorf("mark seen: %d events, at most %d at once", len(eventIDs), gancho.MaxMarkSeen)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	in := st.inbox[k2(tenant, subID)]
	for _, id := range eventIDs {
		if in == nil {
			return fmt.Errorf("mark seen: another reader took some of these events: %w", gancho.ErrConflict)
		}
		if _, ok := in.unseen[id]; !ok {
			return fmt.Errorf("mark seen: another reader took some of these events: %w", gancho.ErrConflict)
		}
	}
	for _, id := range eventIDs {
		delete(in.unseen, id)
	}
	return nil
}

// MarkViewed sets a subscription's lastViewedAt and, with clearNeedView, sets
// needView to false, but only if no event arrived since the subscription was read
// (its lastUpdateAt is still lastUpdateAt). A deleted subscription is left alone.
func (st *Store) MarkViewed(_ context.Context, tenant, subID string, at time.Time, clearNeedView bool, lastUpdateAt *time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subs[k2(tenant, subID)]
	if !ok {
		return nil
	}
	s.sub.LastViewedAt = utc(at)
	cur := s.sub.LastUpdateAt
	same := (cur == nil && lastUpdateAt == nil) || (cur != nil && lastUpdateAt != nil && cur.Equal(*lastUpdateAt))
	if clearNeedView && same {
		s.sub.NeedView = false
	}
	return nil
}

// GetEvents reads events of tenant by id, in the order given; events that expired or
// are gone are left out.
func (st *Store) GetEvents(_ context.Context, tenant string, ids []string) ([]gancho.Event, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]gancho.Event, 0, len(ids))
	for _, id := range ids {
		if e, ok := st.events[k2(tenant, id)]; ok && st.live(e.expiresAt) {
			out = append(out, cloneEvent(e.ev))
		}
	}
	return out, nil
}

// ResultsCursor returns a push subscription's results cursor ("" before its first read).
func (st *Store) ResultsCursor(_ context.Context, tenant, subID string) (string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if s, ok := st.subs[k2(tenant, subID)]; ok {
		return s.resultsCursor, nil
	}
	return "", nil
}

// fanOutHorizon is the time before which every event of tenant has its deliveries
// written: the creation of its oldest live event still in the outbox, or now less the
// fan-out settle time. A scheduled event holds it only from its deliverAt (see the
// DynamoDB store).
func (st *Store) fanOutHorizon(tenant string, now time.Time) time.Time {
	h := now.Add(-st.settle)
	for _, e := range st.events {
		if !e.outbox || e.ev.TenantID != tenant || e.expiresAt <= now.Unix() {
			continue
		}
		hold := e.ev.OutboxDue() // as the DynamoDB store's outbox key
		if e.ev.DeliverAt != nil {
			hold = *e.ev.DeliverAt
		}
		if hold.Before(h) {
			h = hold
		}
	}
	return h
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
	rest := strings.TrimPrefix(cursor, gancho.PrefixDelivery)
	return gancho.PrefixEvent + rest[:min(len(rest), 10)]
}

// result is an event queued for a push subscription, at its place in the
// subscription's new results (key): its id, or for a scheduled one its
// gancho.ScheduledResultsKey, which the cursor is then set to.
type result struct {
	id, key, cursor string
	scheduled       bool
}

// matched is tenant's live events queued for subID, ascending by key.
func (st *Store) matched(tenant, subID string, now time.Time) []result {
	var out []result
	for _, e := range st.events {
		ev := e.ev
		if ev.TenantID != tenant || e.expiresAt <= now.Unix() || ev.Type == gancho.TypeTest {
			continue
		}
		for _, d := range ev.Destinations {
			if d.SubscriptionID != subID {
				continue
			}
			r := result{id: ev.ID, key: ev.ID, cursor: gancho.DeliveryID(ev.ID, subID)}
			if ev.QueuedAt != nil {
				if k, ok := gancho.ScheduledResultsKey(ev, *ev.QueuedAt); ok {
					r.key, r.cursor, r.scheduled = k, k, true
				}
			}
			out = append(out, r)
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// ReadDelivered is ReadInbox for a push subscription, from the events queued for it.
// New results (q.Unseen) are those past cursor and before the fan-out horizon, oldest
// first, a scheduled event at its deliverAt; a scheduled event is left out of every
// read before its deliverAt.
func (st *Store) ReadDelivered(_ context.Context, tenant, subID, cursor string, q gancho.InboxQuery) (gancho.InboxPage, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	now := st.now()
	due := gancho.ResultsFloor(now) + "~"
	if q.Unseen {
		lo, hi := gancho.PrefixEvent, gancho.ResultsFloor(st.fanOutHorizon(tenant, now))
		if cursor != "" {
			lo = cursorKey(cursor)
		}
		var ids, cursors []string
		for _, r := range st.matched(tenant, subID, now) {
			if r.key > lo && r.key <= hi {
				ids, cursors = append(ids, r.id), append(cursors, r.cursor)
			}
		}
		p := page(ids, q)
		p.Cursors = page(cursors, q).EventIDs
		return p, nil
	}
	lo, hi, ok := dateRange(q)
	if !ok {
		return page(nil, q), nil
	}
	var ids []string
	for _, r := range st.matched(tenant, subID, now) {
		if r.id >= lo && r.id < hi && (!r.scheduled || r.key <= due) {
			ids = append(ids, r.id)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	return page(ids, q), nil
}

// HasDelivered reports whether an event queued for a push subscription lies past its
// results cursor (past the fan-out horizon too), a scheduled one only from its
// deliverAt.
func (st *Store) HasDelivered(_ context.Context, tenant, subID string) (bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	lo := gancho.PrefixEvent
	if s, ok := st.subs[k2(tenant, subID)]; ok && s.resultsCursor != "" {
		lo = cursorKey(s.resultsCursor)
	}
	now := st.now()
	due := gancho.ResultsFloor(now) + "~"
	for _, r := range st.matched(tenant, subID, now) {
		if r.key > lo && (!r.scheduled || r.key <= due) {
			return true, nil
		}
	}
	return false, nil
}

// AdvanceResultsCursor moves a push subscription's results cursor from from to to,
// only if it is still from: otherwise (another reader moved it, or the subscription
// is gone) gancho.ErrConflict.
func (st *Store) AdvanceResultsCursor(_ context.Context, tenant, subID, from, to string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subs[k2(tenant, subID)]
	if !ok || s.resultsCursor != from {
		return fmt.Errorf("results cursor: another reader moved it: %w", gancho.ErrConflict)
	}
	s.resultsCursor = to
	return nil
}
