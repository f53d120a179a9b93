package dynamo_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// inboxEvents stores one event per time given and puts each in the inboxes of subs.
func (e storeEnv) inboxEvents(t *testing.T, tenant string, subs []string, at ...time.Time) []string {
	t.Helper()
	ids := make([]string, 0, len(at))
	for i, when := range at {
		ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, when), TenantID: tenant, Type: "crm.lead.created",
			CreatedAt: when.UTC(), Payload: json.RawMessage(`{"n":` + string(rune('0'+i%10)) + `}`)}
		if err := e.st.CreateEvent(e.ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := e.st.PutInbox(e.ctx, ev, subs, false); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func (e storeEnv) readInbox(t *testing.T, tenant, sub string, q dynamo.InboxQuery) dynamo.InboxPage {
	t.Helper()
	p, err := e.st.ReadInbox(e.ctx, tenant, sub, q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInboxReadsUnseenAndRanges(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant, other := testenv.TenantID(), testenv.TenantID()
	subA, subB := gancho.NewID(gancho.PrefixSubscription, time.Now()), gancho.NewID(gancho.PrefixSubscription, time.Now())
	day := time.Now().UTC().Add(-5 * 24 * time.Hour).Truncate(24 * time.Hour)
	at := []time.Time{day.Add(time.Hour), day.Add(23 * time.Hour), day.Add(25 * time.Hour), day.Add(49 * time.Hour), day.Add(50 * time.Hour)}
	ids := e.inboxEvents(t, tenant, []string{subA, subB}, at...)
	e.inboxEvents(t, other, []string{subA}, day.Add(2*time.Hour)) // same sub id, other tenant
	// An event past retention is neither in the inbox nor readable.
	old := e.inboxEvents(t, tenant, []string{subA}, time.Now().Add(-dynamo.DefaultRetention-time.Hour))

	// Unseen: oldest first, the whole selection counted.
	p := e.readInbox(t, tenant, subA, dynamo.InboxQuery{Unseen: true, Limit: 3})
	if !slices.Equal(p.EventIDs, ids[:3]) || p.Total != 5 {
		t.Fatalf("unseen page = %v total %d, want %v total 5", p.EventIDs, p.Total, ids[:3])
	}
	// Everything: newest first, offset and limit.
	p = e.readInbox(t, tenant, subA, dynamo.InboxQuery{Offset: 1, Limit: 2})
	if want := reversed(ids)[1:3]; !slices.Equal(p.EventIDs, want) || p.Total != 5 {
		t.Fatalf("all page = %v total %d, want %v total 5", p.EventIDs, p.Total, want)
	}
	if p = e.readInbox(t, tenant, subA, dynamo.InboxQuery{Offset: 7, Limit: 2}); len(p.EventIDs) != 0 || p.Total != 5 {
		t.Fatalf("past the end: %v total %d", p.EventIDs, p.Total)
	}
	// A day: [since, until), the bound itself excluded.
	since, until := day.Add(24*time.Hour), day.Add(48*time.Hour)
	p = e.readInbox(t, tenant, subA, dynamo.InboxQuery{Since: &since, Until: &until, Limit: 10})
	if !slices.Equal(p.EventIDs, ids[2:3]) || p.Total != 1 {
		t.Fatalf("day 2 = %v total %d, want %v", p.EventIDs, p.Total, ids[2:3])
	}
	until = at[1] // the instant of an event is not before it
	p = e.readInbox(t, tenant, subA, dynamo.InboxQuery{Until: &until, Limit: 10})
	if !slices.Equal(p.EventIDs, ids[:1]) {
		t.Fatalf("until %s = %v, want %v", until, p.EventIDs, ids[:1])
	}
	before := time.Unix(0, 0).Add(-time.Hour)
	if p = e.readInbox(t, tenant, subA, dynamo.InboxQuery{Until: &before, Limit: 10}); p.Total != 0 {
		t.Fatalf("before 1970: %v", p.EventIDs)
	}
	// The other tenant's inbox of the same subscription id is its own.
	if p = e.readInbox(t, other, subA, dynamo.InboxQuery{Limit: 10}); p.Total != 1 {
		t.Fatalf("other tenant's inbox holds %d, want 1", p.Total)
	}

	// Events come back in the order asked for; expired and unknown ones are left out.
	evs, err := e.st.GetEvents(e.ctx, tenant, []string{ids[3], old[0], ids[0], "evt_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].ID != ids[3] || evs[1].ID != ids[0] || string(evs[1].Payload) != `{"n":0}` || evs[0].TenantID != tenant {
		t.Fatalf("GetEvents = %+v", evs)
	}
	if evs, _ := e.st.GetEvents(e.ctx, other, ids[:1]); len(evs) != 0 {
		t.Fatalf("another tenant reads %v", evs)
	}
}

func TestInboxMarkSeenIsAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	sub := gancho.NewID(gancho.PrefixSubscription, time.Now())
	now := time.Now()
	ids := e.inboxEvents(t, tenant, []string{sub}, now.Add(-3*time.Second), now.Add(-2*time.Second), now.Add(-time.Second))

	if err := e.st.MarkSeen(e.ctx, tenant, sub, ids[:2]); err != nil {
		t.Fatal(err)
	}
	// A second reader holding an overlapping page loses, and marks nothing.
	if err := e.st.MarkSeen(e.ctx, tenant, sub, ids[1:]); !errors.Is(err, gancho.ErrConflict) {
		t.Fatalf("overlapping mark: %v, want ErrConflict", err)
	}
	p := e.readInbox(t, tenant, sub, dynamo.InboxQuery{Unseen: true, Limit: 10})
	if !slices.Equal(p.EventIDs, ids[2:]) || p.Total != 1 {
		t.Fatalf("unseen after marking = %v", p.EventIDs)
	}
	if has, err := e.st.HasUnseen(e.ctx, tenant, sub); err != nil || !has {
		t.Fatalf("HasUnseen = %v, %v", has, err)
	}
	// Seen events stay in the whole inbox.
	if p = e.readInbox(t, tenant, sub, dynamo.InboxQuery{Limit: 10}); p.Total != 3 {
		t.Fatalf("all = %v", p.EventIDs)
	}
	if err := e.st.MarkSeen(e.ctx, tenant, sub, ids[2:]); err != nil {
		t.Fatal(err)
	}
	if has, err := e.st.HasUnseen(e.ctx, tenant, sub); err != nil || has {
		t.Fatalf("HasUnseen after reading all = %v, %v", has, err)
	}

	// A repair writes only what is missing: read events do not come back as unseen.
	ev, err := e.st.GetEvent(e.ctx, tenant, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	sub2 := gancho.NewID(gancho.PrefixSubscription, time.Now())
	if err := e.st.PutInbox(e.ctx, ev, []string{sub, sub2}, true); err != nil {
		t.Fatal(err)
	}
	if has, _ := e.st.HasUnseen(e.ctx, tenant, sub); has {
		t.Fatal("a repair made a read event unseen again")
	}
	if p = e.readInbox(t, tenant, sub2, dynamo.InboxQuery{Unseen: true, Limit: 10}); !slices.Equal(p.EventIDs, ids[:1]) {
		t.Fatalf("repair into a new inbox = %v", p.EventIDs)
	}
	if err := e.st.MarkSeen(e.ctx, tenant, sub, make([]string, dynamo.MaxMarkSeen+1)); err == nil {
		t.Fatal("marking more than one transaction holds succeeded")
	}
}

func TestNoticeFlagCoalesces(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	sub := newSub(t, tenant, newSubClock(), gancho.SubscriptionInput{Events: listp("*"), Mode: strp(gancho.ModeNotify)})
	e.create(t, sub)
	get := func() gancho.Subscription {
		t.Helper()
		s, err := e.st.GetSubscription(e.ctx, tenant, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claim := func(dlv string, at time.Time) bool {
		t.Helper()
		ok, err := e.st.ClaimNotice(e.ctx, tenant, sub.ID, dlv, at)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	now := time.Now().UTC()
	if !claim("dlv_1", now) {
		t.Fatal("first claim refused")
	}
	s := get()
	if !s.NeedView || s.LastUpdateAt == nil || !s.LastUpdateAt.Equal(now) {
		t.Fatalf("after a claim: %+v", s.Status)
	}
	later := now.Add(time.Second)
	if claim("dlv_2", later) {
		t.Fatal("a second notice was claimed while the first is pending")
	}
	if s = get(); !s.NeedView || !s.LastUpdateAt.Equal(later) {
		t.Fatalf("a coalesced event did not record itself: %+v", s.Status)
	}
	if !claim("dlv_1", later) {
		t.Fatal("the holder's own claim (a repair) was refused")
	}
	// Settling by another delivery changes nothing; a retry extends, the end clears.
	if err := e.st.SettleNotice(e.ctx, tenant, sub.ID, "dlv_2", nil); err != nil {
		t.Fatal(err)
	}
	if claim("dlv_3", later) {
		t.Fatal("another delivery's settle cleared the flag")
	}
	until := now.Add(3 * time.Hour)
	if err := e.st.SettleNotice(e.ctx, tenant, sub.ID, "dlv_1", &until); err != nil {
		t.Fatal(err)
	}
	if claim("dlv_3", now.Add(2*time.Hour)) {
		t.Fatal("the lease extended by a retry did not hold")
	}
	if !claim("dlv_3", now.Add(3*time.Hour+time.Second)) {
		t.Fatal("a flag past its lease still holds notices off")
	}
	if err := e.st.SettleNotice(e.ctx, tenant, sub.ID, "dlv_3", nil); err != nil {
		t.Fatal(err)
	}
	if !claim("dlv_4", now) {
		t.Fatal("the flag was not cleared when its notice ended")
	}
	// A deleted subscription is never claimed.
	if err := e.st.DeleteSubscription(e.ctx, sub); err != nil {
		t.Fatal(err)
	}
	if claim("dlv_5", now.Add(5*time.Hour)) {
		t.Fatal("claimed a deleted subscription")
	}
	if _, err := e.st.GetSubscription(e.ctx, tenant, sub.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("the claim re-created the deleted subscription: %v", err)
	}
}

func TestMarkViewedKeepsNeedViewForNewerEvents(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	sub := newSub(t, tenant, newSubClock(), gancho.SubscriptionInput{Events: listp("*"), Mode: strp(gancho.ModeNotify)})
	e.create(t, sub)
	t0 := time.Now().UTC()
	if _, err := e.st.ClaimNotice(e.ctx, tenant, sub.ID, "dlv_1", t0); err != nil {
		t.Fatal(err)
	}
	read, _ := e.st.GetSubscription(e.ctx, tenant, sub.ID)
	// An event arrives between the reader's read and its mark.
	if _, err := e.st.ClaimNotice(e.ctx, tenant, sub.ID, "dlv_2", t0.Add(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	viewed := t0.Add(time.Second)
	if err := e.st.MarkViewed(e.ctx, tenant, sub.ID, viewed, true, read.LastUpdateAt); err != nil {
		t.Fatal(err)
	}
	s, _ := e.st.GetSubscription(e.ctx, tenant, sub.ID)
	if !s.NeedView || s.LastViewedAt == nil || !s.LastViewedAt.Equal(viewed) {
		t.Fatalf("after a view that missed an event: %+v", s.Status)
	}
	if err := e.st.MarkViewed(e.ctx, tenant, sub.ID, viewed, true, s.LastUpdateAt); err != nil {
		t.Fatal(err)
	}
	if s, _ = e.st.GetSubscription(e.ctx, tenant, sub.ID); s.NeedView {
		t.Fatalf("needView still set after a complete view: %+v", s.Status)
	}
	// A subscription that never had an event (push) is cleared without lastUpdateAt.
	push := newSub(t, tenant, newSubClock(), gancho.SubscriptionInput{Events: listp("*")})
	e.create(t, push)
	if err := e.st.MarkViewed(e.ctx, tenant, push.ID, viewed, true, nil); err != nil {
		t.Fatal(err)
	}
	if s, _ = e.st.GetSubscription(e.ctx, tenant, push.ID); s.LastViewedAt == nil || s.NeedView {
		t.Fatalf("push subscription after a view: %+v", s.Status)
	}
	// A deleted subscription is not re-created by a late view.
	if err := e.st.DeleteSubscription(e.ctx, push); err != nil {
		t.Fatal(err)
	}
	if err := e.st.MarkViewed(e.ctx, tenant, push.ID, viewed, true, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetSubscription(e.ctx, tenant, push.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("a view re-created the deleted subscription: %v", err)
	}
}

func TestMatchCarriesNotifyMode(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	notify := newSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*", "*"), Mode: strp(gancho.ModeNotify)})
	push := newSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
	e.create(t, notify, push)
	ms, err := e.st.MatchSubscriptions(e.ctx, gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created"})
	if err != nil {
		t.Fatal(err)
	}
	modes := map[string]string{}
	for _, m := range ms {
		modes[m.SubscriptionID] = m.Mode
	}
	if len(ms) != 2 || modes[notify.ID] != gancho.ModeNotify || modes[push.ID] != "" {
		t.Fatalf("matches = %+v", ms)
	}
	// Switching mode rewrites the match entries.
	switched := notify
	switched.Mode, switched.UpdatedAt = gancho.ModePush, clock.tick()
	if err := e.st.UpdateSubscription(e.ctx, notify, switched); err != nil {
		t.Fatal(err)
	}
	ms, _ = e.st.MatchSubscriptions(e.ctx, gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created"})
	for _, m := range ms {
		if m.Mode != "" {
			t.Fatalf("after switching to push: %+v", ms)
		}
	}
}

// TestPushResultsFromDeliveries: a push subscription's results come from its delivery
// records; new ones stop at the oldest event whose fan-out is unfinished, leave test
// events out, and a cursor moved by one reader is not moved again by another.
func TestPushResultsFromDeliveries(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	e.st.WithFanOutSettle(0)
	tenant := testenv.TenantID()
	clock := newSubClock()
	sub := newSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
	e.create(t, sub)
	base := time.Now().Add(-time.Hour)
	// store writes an event and its delivery to sub; queued takes it out of the outbox.
	store := func(i int, typ string, queued bool) string {
		when := base.Add(time.Duration(i) * time.Minute)
		ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, when), TenantID: tenant, Type: typ, CreatedAt: when.UTC(),
			Payload: json.RawMessage(`{}`)}
		d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, sub.ID), TenantID: tenant, EventID: ev.ID, SubscriptionID: sub.ID,
			EventType: typ, Status: gancho.StatusPending, CreatedAt: when.UTC(), UpdatedAt: when.UTC()}
		stored := ev
		if queued {
			stored = testenv.Queued(ev, d)
		}
		if err := e.st.CreateEvent(e.ctx, stored); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	read := func(cursor string, q dynamo.InboxQuery) dynamo.InboxPage {
		t.Helper()
		p, err := e.st.ReadDelivered(e.ctx, tenant, sub.ID, cursor, q)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := store(0, "crm.lead.created", true)
	store(1, gancho.TypeTest, true)
	b := store(2, "crm.lead.created", true)
	late := store(3, "crm.lead.created", false) // its fan-out still running
	c := store(4, "crm.lead.created", true)

	// The late event lists its destinations once its fan-out ends.
	if p := read("", dynamo.InboxQuery{Limit: 10}); !slices.Equal(p.EventIDs, []string{c, b, a}) || p.Total != 3 {
		t.Fatalf("all = %v total %d", p.EventIDs, p.Total)
	}
	// New: up to the unfinished fan-out, oldest first, the test event left out.
	p := read("", dynamo.InboxQuery{Unseen: true, Limit: 1})
	if !slices.Equal(p.EventIDs, []string{a}) || p.Total != 2 {
		t.Fatalf("unseen = %v total %d, want [%s] total 2", p.EventIDs, p.Total, a)
	}
	if has, err := e.st.HasDelivered(e.ctx, tenant, sub.ID); err != nil || !has {
		t.Fatalf("HasDelivered = %v, %v", has, err)
	}
	if err := e.st.AdvanceResultsCursor(e.ctx, tenant, sub.ID, "", gancho.DeliveryID(a, sub.ID)); err != nil {
		t.Fatal(err)
	}
	// A second reader that read the same cursor loses.
	if err := e.st.AdvanceResultsCursor(e.ctx, tenant, sub.ID, "", gancho.DeliveryID(a, sub.ID)); !errors.Is(err, gancho.ErrConflict) {
		t.Fatalf("second advance from the same cursor: %v, want a conflict", err)
	}
	cursor, err := e.st.ResultsCursor(e.ctx, tenant, sub.ID)
	if err != nil || cursor != gancho.DeliveryID(a, sub.ID) {
		t.Fatalf("cursor = %q, %v", cursor, err)
	}
	if p := read(cursor, dynamo.InboxQuery{Unseen: true, Limit: 10}); !slices.Equal(p.EventIDs, []string{b}) || p.Total != 1 {
		t.Fatalf("unseen after a = %v total %d, want [%s]", p.EventIDs, p.Total, b)
	}
	// The late fan-out ends: its event and the ones after it are new now.
	if err := e.st.MarkEventQueued(e.ctx, gancho.Event{ID: late, TenantID: tenant}, time.Now(), []gancho.Destination{{SubscriptionID: sub.ID}}); err != nil {
		t.Fatal(err)
	}
	if p := read(cursor, dynamo.InboxQuery{Unseen: true, Limit: 10}); !slices.Equal(p.EventIDs, []string{b, late, c}) || p.Total != 3 {
		t.Fatalf("unseen after the late fan-out = %v total %d", p.EventIDs, p.Total)
	}
	if err := e.st.AdvanceResultsCursor(e.ctx, tenant, sub.ID, cursor, gancho.DeliveryID(c, sub.ID)); err != nil {
		t.Fatal(err)
	}
	if has, err := e.st.HasDelivered(e.ctx, tenant, sub.ID); err != nil || has {
		t.Fatalf("HasDelivered after reading everything = %v, %v", has, err)
	}
}
