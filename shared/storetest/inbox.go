package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// defaultRetention is how long stores keep events and inbox entries (both stores' default).
const defaultRetention = 30 * 24 * time.Hour

func (e Env) inboxEvents(t *testing.T, tenant string, subs []string, at ...time.Time) []string {
	t.Helper()
	ids := make([]string, 0, len(at))
	for i, when := range at {
		ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, when), TenantID: tenant, Type: "crm.lead.created",
			CreatedAt: when.UTC(), Payload: json.RawMessage(`{"n":` + string(rune('0'+i%10)) + `}`)}
		if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := e.St.PutInbox(e.Ctx, ev, subs, false); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func (e Env) readInbox(t *testing.T, tenant, sub string, q gancho.InboxQuery) gancho.InboxPage {
	t.Helper()
	p, err := e.St.ReadInbox(e.Ctx, tenant, sub, q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var inboxCases = []Case{
	{"unseen oldest first, ranges newest first, counted; foreign and expired left out", func(t *testing.T, e Env) {
		tenant, other := TenantID(), TenantID()
		subA, subB := gancho.NewID(gancho.PrefixSubscription, time.Now()), gancho.NewID(gancho.PrefixSubscription, time.Now())
		day := time.Now().UTC().Add(-5 * 24 * time.Hour).Truncate(24 * time.Hour)
		at := []time.Time{day.Add(time.Hour), day.Add(23 * time.Hour), day.Add(25 * time.Hour), day.Add(49 * time.Hour), day.Add(50 * time.Hour)}
		ids := e.inboxEvents(t, tenant, []string{subA, subB}, at...)
		e.inboxEvents(t, other, []string{subA}, day.Add(2*time.Hour)) // same sub id, other tenant
		// An event past retention is neither in the inbox nor readable.
		old := e.inboxEvents(t, tenant, []string{subA}, time.Now().Add(-defaultRetention-time.Hour))

		// Unseen: oldest first, the whole selection counted.
		p := e.readInbox(t, tenant, subA, gancho.InboxQuery{Unseen: true, Limit: 3})
		if !slices.Equal(p.EventIDs, ids[:3]) || p.Total != 5 {
			t.Fatalf("unseen page = %v total %d, want %v total 5", p.EventIDs, p.Total, ids[:3])
		}
		// Everything: newest first, offset and limit.
		p = e.readInbox(t, tenant, subA, gancho.InboxQuery{Offset: 1, Limit: 2})
		if want := reversed(ids)[1:3]; !slices.Equal(p.EventIDs, want) || p.Total != 5 {
			t.Fatalf("all page = %v total %d, want %v total 5", p.EventIDs, p.Total, want)
		}
		if p = e.readInbox(t, tenant, subA, gancho.InboxQuery{Offset: 7, Limit: 2}); len(p.EventIDs) != 0 || p.Total != 5 {
			t.Fatalf("past the end: %v total %d", p.EventIDs, p.Total)
		}
		// A day: [since, until), the bound itself excluded.
		since, until := day.Add(24*time.Hour), day.Add(48*time.Hour)
		p = e.readInbox(t, tenant, subA, gancho.InboxQuery{Since: &since, Until: &until, Limit: 10})
		if !slices.Equal(p.EventIDs, ids[2:3]) || p.Total != 1 {
			t.Fatalf("day 2 = %v total %d, want %v", p.EventIDs, p.Total, ids[2:3])
		}
		until = at[1] // the instant of an event is not before it
		p = e.readInbox(t, tenant, subA, gancho.InboxQuery{Until: &until, Limit: 10})
		if !slices.Equal(p.EventIDs, ids[:1]) {
			t.Fatalf("until %s = %v, want %v", until, p.EventIDs, ids[:1])
		}
		before := time.Unix(0, 0).Add(-time.Hour)
		if p = e.readInbox(t, tenant, subA, gancho.InboxQuery{Until: &before, Limit: 10}); p.Total != 0 {
			t.Fatalf("before 1970: %v", p.EventIDs)
		}
		// The other tenant's inbox of the same subscription id is its own.
		if p = e.readInbox(t, other, subA, gancho.InboxQuery{Limit: 10}); p.Total != 1 {
			t.Fatalf("other tenant's inbox holds %d, want 1", p.Total)
		}

		// Events come back in the order asked for; expired and unknown ones are left out.
		evs, err := e.St.GetEvents(e.Ctx, tenant, []string{ids[3], old[0], ids[0], "evt_unknown"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].ID != ids[3] || evs[1].ID != ids[0] || string(evs[1].Payload) != `{"n":0}` || evs[0].TenantID != tenant {
			t.Fatalf("GetEvents = %+v", evs)
		}
		if evs, _ := e.St.GetEvents(e.Ctx, other, ids[:1]); len(evs) != 0 {
			t.Fatalf("another tenant reads %v", evs)
		}
	}},
	{"mark seen is all or nothing; a repair writes only what is missing", func(t *testing.T, e Env) {
		tenant := e.Tenant
		sub := gancho.NewID(gancho.PrefixSubscription, time.Now())
		now := time.Now()
		ids := e.inboxEvents(t, tenant, []string{sub}, now.Add(-3*time.Second), now.Add(-2*time.Second), now.Add(-time.Second))

		if err := e.St.MarkSeen(e.Ctx, tenant, sub, ids[:2]); err != nil {
			t.Fatal(err)
		}
		// A second reader holding an overlapping page loses, and marks nothing.
		if err := e.St.MarkSeen(e.Ctx, tenant, sub, ids[1:]); !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("overlapping mark: %v, want ErrConflict", err)
		}
		p := e.readInbox(t, tenant, sub, gancho.InboxQuery{Unseen: true, Limit: 10})
		if !slices.Equal(p.EventIDs, ids[2:]) || p.Total != 1 {
			t.Fatalf("unseen after marking = %v", p.EventIDs)
		}
		if has, err := e.St.HasUnseen(e.Ctx, tenant, sub); err != nil || !has {
			t.Fatalf("HasUnseen = %v, %v", has, err)
		}
		// Seen events stay in the whole inbox.
		if p = e.readInbox(t, tenant, sub, gancho.InboxQuery{Limit: 10}); p.Total != 3 {
			t.Fatalf("all = %v", p.EventIDs)
		}
		if err := e.St.MarkSeen(e.Ctx, tenant, sub, ids[2:]); err != nil {
			t.Fatal(err)
		}
		if has, err := e.St.HasUnseen(e.Ctx, tenant, sub); err != nil || has {
			t.Fatalf("HasUnseen after reading all = %v, %v", has, err)
		}

		// A repair writes only what is missing: read events do not come back as unseen.
		ev, err := e.St.GetEvent(e.Ctx, tenant, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		sub2 := gancho.NewID(gancho.PrefixSubscription, time.Now())
		if err := e.St.PutInbox(e.Ctx, ev, []string{sub, sub2}, true); err != nil {
			t.Fatal(err)
		}
		if has, _ := e.St.HasUnseen(e.Ctx, tenant, sub); has {
			t.Fatal("a repair made a read event unseen again")
		}
		if p = e.readInbox(t, tenant, sub2, gancho.InboxQuery{Unseen: true, Limit: 10}); !slices.Equal(p.EventIDs, ids[:1]) {
			t.Fatalf("repair into a new inbox = %v", p.EventIDs)
		}
		if err := e.St.MarkSeen(e.Ctx, tenant, sub, make([]string, gancho.MaxMarkSeen+1)); err == nil {
			t.Fatal("marking more than one transaction holds succeeded")
		}
	}},
	{"notice flag coalesces, settles and leases", func(t *testing.T, e Env) {
		tenant := e.Tenant
		sub := NewSub(t, tenant, NewClock(), gancho.SubscriptionInput{Events: listp("*"), Mode: strp(gancho.ModeNotify)})
		e.create(t, sub)
		get := func() gancho.Subscription {
			t.Helper()
			s, err := e.St.GetSubscription(e.Ctx, tenant, sub.ID)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		claim := func(dlv string, at time.Time) bool {
			t.Helper()
			ok, err := e.St.ClaimNotice(e.Ctx, tenant, sub.ID, dlv, at)
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
		if err := e.St.SettleNotice(e.Ctx, tenant, sub.ID, "dlv_2", nil); err != nil {
			t.Fatal(err)
		}
		if claim("dlv_3", later) {
			t.Fatal("another delivery's settle cleared the flag")
		}
		until := now.Add(3 * time.Hour)
		if err := e.St.SettleNotice(e.Ctx, tenant, sub.ID, "dlv_1", &until); err != nil {
			t.Fatal(err)
		}
		if claim("dlv_3", now.Add(2*time.Hour)) {
			t.Fatal("the lease extended by a retry did not hold")
		}
		if !claim("dlv_3", now.Add(3*time.Hour+time.Second)) {
			t.Fatal("a flag past its lease still holds notices off")
		}
		if err := e.St.SettleNotice(e.Ctx, tenant, sub.ID, "dlv_3", nil); err != nil {
			t.Fatal(err)
		}
		if !claim("dlv_4", now) {
			t.Fatal("the flag was not cleared when its notice ended")
		}
		// A deleted subscription is never claimed.
		if err := e.St.DeleteSubscription(e.Ctx, sub); err != nil {
			t.Fatal(err)
		}
		if claim("dlv_5", now.Add(5*time.Hour)) {
			t.Fatal("claimed a deleted subscription")
		}
		if _, err := e.St.GetSubscription(e.Ctx, tenant, sub.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("the claim re-created the deleted subscription: %v", err)
		}
	}},
	{"mark viewed keeps needView for newer events", func(t *testing.T, e Env) {
		tenant := e.Tenant
		sub := NewSub(t, tenant, NewClock(), gancho.SubscriptionInput{Events: listp("*"), Mode: strp(gancho.ModeNotify)})
		e.create(t, sub)
		t0 := time.Now().UTC()
		if _, err := e.St.ClaimNotice(e.Ctx, tenant, sub.ID, "dlv_1", t0); err != nil {
			t.Fatal(err)
		}
		read, _ := e.St.GetSubscription(e.Ctx, tenant, sub.ID)
		// An event arrives between the reader's read and its mark.
		if _, err := e.St.ClaimNotice(e.Ctx, tenant, sub.ID, "dlv_2", t0.Add(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		viewed := t0.Add(time.Second)
		if err := e.St.MarkViewed(e.Ctx, tenant, sub.ID, viewed, true, read.LastUpdateAt); err != nil {
			t.Fatal(err)
		}
		s, _ := e.St.GetSubscription(e.Ctx, tenant, sub.ID)
		if !s.NeedView || s.LastViewedAt == nil || !s.LastViewedAt.Equal(viewed) {
			t.Fatalf("after a view that missed an event: %+v", s.Status)
		}
		if err := e.St.MarkViewed(e.Ctx, tenant, sub.ID, viewed, true, s.LastUpdateAt); err != nil {
			t.Fatal(err)
		}
		if s, _ = e.St.GetSubscription(e.Ctx, tenant, sub.ID); s.NeedView {
			t.Fatalf("needView still set after a complete view: %+v", s.Status)
		}
		// A subscription that never had an event (push) is cleared without lastUpdateAt.
		push := NewSub(t, tenant, NewClock(), gancho.SubscriptionInput{Events: listp("*")})
		e.create(t, push)
		if err := e.St.MarkViewed(e.Ctx, tenant, push.ID, viewed, true, nil); err != nil {
			t.Fatal(err)
		}
		if s, _ = e.St.GetSubscription(e.Ctx, tenant, push.ID); s.LastViewedAt == nil || s.NeedView {
			t.Fatalf("push subscription after a view: %+v", s.Status)
		}
		// A deleted subscription is not re-created by a late view.
		if err := e.St.DeleteSubscription(e.Ctx, push); err != nil {
			t.Fatal(err)
		}
		if err := e.St.MarkViewed(e.Ctx, tenant, push.ID, viewed, true, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.GetSubscription(e.Ctx, tenant, push.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("a view re-created the deleted subscription: %v", err)
		}
	}},
	{"push results from deliveries: horizon, test events, cursor compare-and-set", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		sub := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
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
				stored = asQueued(ev, d)
			}
			if err := e.St.CreateEvent(e.Ctx, stored); err != nil {
				t.Fatal(err)
			}
			return ev.ID
		}
		read := func(cursor string, q gancho.InboxQuery) gancho.InboxPage {
			t.Helper()
			p, err := e.St.ReadDelivered(e.Ctx, tenant, sub.ID, cursor, q)
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
		if p := read("", gancho.InboxQuery{Limit: 10}); !slices.Equal(p.EventIDs, []string{c, b, a}) || p.Total != 3 {
			t.Fatalf("all = %v total %d", p.EventIDs, p.Total)
		}
		// New: up to the unfinished fan-out, oldest first, the test event left out.
		p := read("", gancho.InboxQuery{Unseen: true, Limit: 1})
		if !slices.Equal(p.EventIDs, []string{a}) || p.Total != 2 {
			t.Fatalf("unseen = %v total %d, want [%s] total 2", p.EventIDs, p.Total, a)
		}
		if has, err := e.St.HasDelivered(e.Ctx, tenant, sub.ID); err != nil || !has {
			t.Fatalf("HasDelivered = %v, %v", has, err)
		}
		if err := e.St.AdvanceResultsCursor(e.Ctx, tenant, sub.ID, "", gancho.DeliveryID(a, sub.ID)); err != nil {
			t.Fatal(err)
		}
		// A second reader that read the same cursor loses.
		if err := e.St.AdvanceResultsCursor(e.Ctx, tenant, sub.ID, "", gancho.DeliveryID(a, sub.ID)); !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("second advance from the same cursor: %v, want a conflict", err)
		}
		cursor, err := e.St.ResultsCursor(e.Ctx, tenant, sub.ID)
		if err != nil || cursor != gancho.DeliveryID(a, sub.ID) {
			t.Fatalf("cursor = %q, %v", cursor, err)
		}
		if p := read(cursor, gancho.InboxQuery{Unseen: true, Limit: 10}); !slices.Equal(p.EventIDs, []string{b}) || p.Total != 1 {
			t.Fatalf("unseen after a = %v total %d, want [%s]", p.EventIDs, p.Total, b)
		}
		// The late fan-out ends: its event and the ones after it are new now.
		if err := e.St.MarkEventQueued(e.Ctx, gancho.Event{ID: late, TenantID: tenant}, time.Now(), []gancho.Destination{{SubscriptionID: sub.ID}}); err != nil {
			t.Fatal(err)
		}
		if p := read(cursor, gancho.InboxQuery{Unseen: true, Limit: 10}); !slices.Equal(p.EventIDs, []string{b, late, c}) || p.Total != 3 {
			t.Fatalf("unseen after the late fan-out = %v total %d", p.EventIDs, p.Total)
		}
		if err := e.St.AdvanceResultsCursor(e.Ctx, tenant, sub.ID, cursor, gancho.DeliveryID(c, sub.ID)); err != nil {
			t.Fatal(err)
		}
		if has, err := e.St.HasDelivered(e.Ctx, tenant, sub.ID); err != nil || has {
			t.Fatalf("HasDelivered after reading everything = %v, %v", has, err)
		}
	}},
}

// scheduledCases: an event with deliverAt stays out of pull results until then, for
// notify (inbox) and push (deliveries) subscriptions, and then shows as new once,
// even to a reader whose cursor passed its creation meanwhile.
var scheduledCases = []Case{
	{"scheduled events: out of pull results until deliverAt, then new once", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		push := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
		e.create(t, push)
		notify := gancho.NewID(gancho.PrefixSubscription, time.Now())
		now := time.Now().UTC()
		// Far enough ahead that every check before it is done in time.
		deliverAt := now.Add(6 * time.Second).Truncate(time.Millisecond)
		event := func(created time.Time, at *time.Time) gancho.Event {
			return gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, created), TenantID: tenant, Type: "crm.lead.created",
				CreatedAt: created.UTC(), DeliverAt: at, Payload: json.RawMessage(`{}`)}
		}
		// far was published an hour ago for deliverAt: it waits in the outbox; soon was
		// published now, fanned out at once; plain is not scheduled.
		far := event(now.Add(-time.Hour), &deliverAt)
		plain := asQueued(event(now.Add(-30*time.Minute), nil), gancho.Delivery{SubscriptionID: push.ID})
		soon := asQueued(event(now, &deliverAt), gancho.Delivery{SubscriptionID: push.ID})
		for _, ev := range []gancho.Event{far, plain, soon} {
			if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		for _, ev := range []gancho.Event{plain, soon} {
			if err := e.St.PutInbox(e.Ctx, ev, []string{notify}, false); err != nil {
				t.Fatal(err)
			}
		}
		readPush := func(cursor string, q gancho.InboxQuery) gancho.InboxPage {
			t.Helper()
			p, err := e.St.ReadDelivered(e.Ctx, tenant, push.ID, cursor, q)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		check := func(what string, got gancho.InboxPage, total int, want ...string) {
			t.Helper()
			if !slices.Equal(got.EventIDs, want) || got.Total != total {
				t.Fatalf("%s = %v total %d, want %v total %d", what, got.EventIDs, got.Total, want, total)
			}
		}
		hasUnseen := func(want bool) {
			t.Helper()
			if got, err := e.St.HasUnseen(e.Ctx, tenant, notify); err != nil || got != want {
				t.Fatalf("HasUnseen = %v, %v; want %v", got, err, want)
			}
		}
		hasDelivered := func(want bool) {
			t.Helper()
			if got, err := e.St.HasDelivered(e.Ctx, tenant, push.ID); err != nil || got != want {
				t.Fatalf("HasDelivered = %v, %v; want %v", got, err, want)
			}
		}

		// Before deliverAt the readers see the plain event only; the push reader's
		// cursor passes far's creation.
		check("push unseen", readPush("", gancho.InboxQuery{Unseen: true, Limit: 10}), 1, plain.ID)
		if err := e.St.AdvanceResultsCursor(e.Ctx, tenant, push.ID, "", gancho.DeliveryID(plain.ID, push.ID)); err != nil {
			t.Fatal(err)
		}
		check("inbox unseen", e.readInbox(t, tenant, notify, gancho.InboxQuery{Unseen: true, Limit: 10}), 1, plain.ID)
		if err := e.St.MarkSeen(e.Ctx, tenant, notify, []string{plain.ID}); err != nil {
			t.Fatal(err)
		}
		// far is handed over (ScheduleLead before deliverAt): fanned out, still hidden.
		if err := e.St.MarkEventQueued(e.Ctx, far, time.Now(), []gancho.Destination{{SubscriptionID: push.ID}}); err != nil {
			t.Fatal(err)
		}
		if err := e.St.PutInbox(e.Ctx, far, []string{notify}, false); err != nil {
			t.Fatal(err)
		}
		cursor, err := e.St.ResultsCursor(e.Ctx, tenant, push.ID)
		if err != nil {
			t.Fatal(err)
		}
		check("push unseen before deliverAt", readPush(cursor, gancho.InboxQuery{Unseen: true, Limit: 10}), 0)
		check("push all before deliverAt", readPush("", gancho.InboxQuery{Limit: 10}), 1, plain.ID)
		check("inbox unseen before deliverAt", e.readInbox(t, tenant, notify, gancho.InboxQuery{Unseen: true, Limit: 10}), 0)
		check("inbox all before deliverAt", e.readInbox(t, tenant, notify, gancho.InboxQuery{Limit: 10}), 1, plain.ID)
		hasUnseen(false)
		hasDelivered(false)
		if time.Now().After(deliverAt) {
			t.Fatalf("the checks before deliverAt ended after it (%s late): the store is too slow for this case", time.Since(deliverAt))
		}

		// From deliverAt both are new, oldest first, and read once.
		waitFor(t, deliverAt.Add(30*time.Second), func() bool {
			ok, err := e.St.HasUnseen(e.Ctx, tenant, notify)
			return err == nil && ok
		})
		if time.Now().Before(deliverAt) {
			t.Fatalf("shown before deliverAt")
		}
		check("inbox unseen after deliverAt", e.readInbox(t, tenant, notify, gancho.InboxQuery{Unseen: true, Limit: 10}), 2, far.ID, soon.ID)
		check("inbox all after deliverAt", e.readInbox(t, tenant, notify, gancho.InboxQuery{Limit: 10}), 3, soon.ID, plain.ID, far.ID)
		if err := e.St.MarkSeen(e.Ctx, tenant, notify, []string{far.ID, soon.ID}); err != nil {
			t.Fatal(err)
		}
		hasUnseen(false)
		check("inbox unseen after reading", e.readInbox(t, tenant, notify, gancho.InboxQuery{Unseen: true, Limit: 10}), 0)

		hasDelivered(true)
		// New push results stop at the fan-out horizon, now, exclusive: a read in
		// deliverAt's millisecond would not show them yet.
		waitFor(t, deliverAt.Add(30*time.Second), func() bool {
			return gancho.ResultsFloor(time.Now()) > gancho.ResultsFloor(deliverAt)
		})
		check("push all after deliverAt", readPush("", gancho.InboxQuery{Limit: 10}), 3, soon.ID, plain.ID, far.ID)
		for _, want := range []string{far.ID, soon.ID} {
			p := readPush(cursor, gancho.InboxQuery{Unseen: true, Limit: 1})
			left := 2
			if want == soon.ID {
				left = 1
			}
			check("push unseen after deliverAt", p, left, want)
			if len(p.Cursors) != 1 {
				t.Fatalf("push unseen page cursors %v, want one per event", p.Cursors)
			}
			if err := e.St.AdvanceResultsCursor(e.Ctx, tenant, push.ID, cursor, p.Cursors[0]); err != nil {
				t.Fatal(err)
			}
			cursor = p.Cursors[0]
		}
		check("push unseen after reading", readPush(cursor, gancho.InboxQuery{Unseen: true, Limit: 10}), 0)
		hasDelivered(false)
	}},
}

// scheduledHorizonCases: a scheduled event waiting in the outbox does not hold back a
// push subscription's new results. Its results key is its deliverAt, or its fan-out
// if that comes later, so a cursor that passes the events published meanwhile cannot
// skip it; holding the horizon at its fan-out's due time would only stall every push
// reader of the tenant until the sweeper hands it over (a grace period later).
var scheduledHorizonCases = []Case{
	{"scheduled events in the outbox hold back new push results only from their deliverAt", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		push := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
		e.create(t, push)
		now := time.Now().UTC().Truncate(time.Millisecond)
		event := func(created time.Time, at *time.Time) gancho.Event {
			return gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, created), TenantID: tenant, Type: "crm.lead.created",
				CreatedAt: created, DeliverAt: at, Payload: json.RawMessage(`{}`)}
		}
		create := func(evs ...gancho.Event) {
			t.Helper()
			for _, ev := range evs {
				if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		unseen := func(what string, want ...string) {
			t.Helper()
			p, err := e.St.ReadDelivered(e.Ctx, tenant, push.ID, "", gancho.InboxQuery{Unseen: true, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.EventIDs, want) || p.Total != len(want) {
				t.Fatalf("%s: push unseen = %v total %d, want %v", what, p.EventIDs, p.Total, want)
			}
		}
		// far was published an hour ago for 14 minutes from now: its fan-out was due a
		// minute ago and the sweeper has not handed it over yet. near is scheduled
		// within the queue's delay and waits for its background fan-out.
		farAt, nearAt := now.Add(14*time.Minute), now.Add(5*time.Minute)
		far := event(now.Add(-time.Hour), &farAt)
		near := event(now.Add(-50*time.Second), &nearAt)
		before := asQueued(event(now.Add(-30*time.Second), nil), gancho.Delivery{SubscriptionID: push.ID})
		after := asQueued(event(now.Add(-10*time.Second), nil), gancho.Delivery{SubscriptionID: push.ID})
		create(far, near, before, after)
		unseen("scheduled ahead in the outbox", before.ID, after.ID)

		// late was due 20 s ago and is still in the outbox: its results key will be
		// its fan-out, so a cursor may not pass its deliverAt until then.
		lateAt := now.Add(-20 * time.Second)
		late := event(now.Add(-2*time.Hour), &lateAt)
		create(late)
		unseen("scheduled and late in the outbox", before.ID)
		if err := e.St.MarkEventQueued(e.Ctx, late, now.Add(-time.Millisecond), []gancho.Destination{{SubscriptionID: push.ID}}); err != nil {
			t.Fatal(err)
		}
		unseen("late handed over", before.ID, after.ID, late.ID)
	}},
}

// waitFor polls cond until it holds, failing the test at deadline.
func waitFor(t *testing.T, deadline time.Time, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		<-tick.C
	}
}
