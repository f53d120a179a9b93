package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

var deliveryCases = []Case{
	{"list by event and by subscription pages with cursors", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		var subs []gancho.Subscription
		for range 3 {
			subs = append(subs, NewSub(t, tenant, clock, gancho.SubscriptionInput{}))
		}
		e.create(t, subs...)
		ev := newEvent(tenant, time.Now(), `{}`)
		var dlvs []gancho.Delivery
		for _, sub := range subs {
			dlvs = append(dlvs, newDelivery(ev, sub.ID))
		}
		if err := e.St.CreateEvent(e.Ctx, asQueued(ev, dlvs...)); err != nil {
			t.Fatal(err)
		}
		// The event lists the three, pending or not; a subscription's list has a
		// delivery from its first outcome.
		if err := e.St.SetDeliveryStatus(e.Ctx, dlvs[0], gancho.StatusCancelled); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			bySub    bool
			id, want string
			n        int
		}{
			{"by event", false, ev.ID, "", 3},
			{"by subscription", true, subs[0].ID, "", 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				seen := map[string]bool{}
				cursor := ""
				for page := 0; ; page++ {
					got, next, err := e.St.ListDeliveries(e.Ctx, tenant, tc.bySub, tc.id, gancho.DeliveryFilter{}, gancho.Page{Limit: 1, Cursor: cursor})
					if err != nil {
						t.Fatalf("page %d: %v", page, err)
					}
					for _, d := range got {
						seen[d.ID] = true
					}
					if next == "" || page > tc.n {
						break
					}
					cursor = next
				}
				if len(seen) != tc.n {
					t.Fatalf("listed %d deliveries over the pages, want %d", len(seen), tc.n)
				}
			})
		}
	}},
	{"create event; load a batch: records, events and subscriptions", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		subA := NewSub(t, tenant, clock, gancho.SubscriptionInput{})
		subB := NewSub(t, tenant, clock, gancho.SubscriptionInput{Format: strp("raw")})
		e.create(t, subA, subB)
		const payload = "{ \"lead\" :  {\"id\": 1,\n \"name\": \"Jo\u00e3o \\u00e9\"},  \"tags\": [ ] }"
		ev := newEvent(tenant, time.Now(), payload)
		dA, dB := newDelivery(ev, subA.ID), newDelivery(ev, subB.ID)
		ev = asQueued(ev, dA, dB)
		if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
			t.Fatal(err)
		}
		if err := e.St.CreateEvent(e.Ctx, ev); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("second CreateEvent: %v, want ErrConflict", err)
		}

		refs := []gancho.DeliveryRef{
			{TenantID: tenant, DeliveryID: dA.ID, EventID: ev.ID, SubscriptionID: subA.ID},
			{TenantID: tenant, DeliveryID: dB.ID, EventID: ev.ID, SubscriptionID: subB.ID},
			{TenantID: tenant, DeliveryID: "dlv_missing", EventID: "evt_missing", SubscriptionID: "sub_missing"},
			// The same ids under another tenant are not found.
			{TenantID: TenantID(), DeliveryID: dA.ID + "x", EventID: ev.ID + "x", SubscriptionID: subA.ID + "x"},
		}
		b, err := e.St.LoadDeliveryBatch(e.Ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		// Before their first outcome, deliveries have no record.
		if len(b.Deliveries) != 0 || len(b.Events) != 1 || len(b.Subscriptions) != 2 {
			t.Fatalf("loaded %d deliveries, %d events, %d subscriptions; want 0, 1, 2", len(b.Deliveries), len(b.Events), len(b.Subscriptions))
		}
		gotEv := b.Events[ev.ID]
		if string(gotEv.Payload) != payload {
			t.Errorf("payload %q, want the bytes %q", gotEv.Payload, payload)
		}
		wantEv := ev
		wantEv.TenantID = gotEv.TenantID // the batch does not promise the tenant on events
		if !reflect.DeepEqual(gotEv, wantEv) {
			t.Errorf("event\n%+v\nwant\n%+v", gotEv, wantEv)
		}
		for _, want := range []gancho.Subscription{subA, subB} {
			if got := b.Subscriptions[want.ID]; !reflect.DeepEqual(got, want) {
				t.Errorf("subscription\n%+v\nwant\n%+v", got, want)
			}
		}
		for _, missing := range []string{"dlv_missing", dA.ID + "x"} {
			if _, ok := b.Deliveries[missing]; ok {
				t.Errorf("delivery %s present", missing)
			}
		}

		t.Run("empty batch", func(t *testing.T) {
			b, err := e.St.LoadDeliveryBatch(e.Ctx, nil)
			if err != nil || len(b.Deliveries)+len(b.Events)+len(b.Subscriptions) != 0 {
				t.Errorf("empty batch: %+v, %v", b, err)
			}
		})
		t.Run("GetEvent", func(t *testing.T) {
			got, err := e.St.GetEvent(e.Ctx, tenant, ev.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Errorf("event\n%+v\nwant\n%+v", got, ev)
			}
			if _, err := e.St.GetEvent(e.Ctx, TenantID(), ev.ID); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("other tenant: %v, want ErrNotFound", err)
			}
		})
		t.Run("GetDelivery", func(t *testing.T) {
			got, err := e.St.GetDelivery(e.Ctx, tenant, dA.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := dA
			want.Attempts = []gancho.Attempt{}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("delivery\n%+v\nwant\n%+v", got, want)
			}
			if _, err := e.St.GetDelivery(e.Ctx, TenantID(), dA.ID); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("other tenant: %v, want ErrNotFound", err)
			}
			other := gancho.DeliveryID(ev.ID, gancho.NewID(gancho.PrefixSubscription, time.Now()))
			if _, err := e.St.GetDelivery(e.Ctx, tenant, other); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("a subscription the event did not go to: %v, want ErrNotFound", err)
			}
		})
		t.Run("the first outcome writes the record", func(t *testing.T) {
			if err := e.St.SetDeliveryStatus(e.Ctx, dA, gancho.StatusCancelled); err != nil {
				t.Fatal(err)
			}
			if err := e.St.SetDeliveryStatus(e.Ctx, dA, gancho.StatusCancelled); !errors.Is(err, gancho.ErrConflict) {
				t.Errorf("a second first outcome: %v, want ErrConflict", err)
			}
			b, err := e.St.LoadDeliveryBatch(e.Ctx, refs[:2])
			if err != nil {
				t.Fatal(err)
			}
			got, ok := b.Deliveries[dA.ID]
			if len(b.Deliveries) != 1 || !ok || got.Status != gancho.StatusCancelled || !got.Recorded || got.SubscriptionID != subA.ID {
				t.Errorf("after dA's outcome: %+v", b.Deliveries)
			}
		})
	}},
	{"load a batch of many refs", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		sub := NewSub(t, tenant, clock, gancho.SubscriptionInput{})
		e.create(t, sub)
		// 60 events of one delivery each: 121 distinct keys, more than one BatchGetItem.
		var refs []gancho.DeliveryRef
		for i := range 60 {
			ev := newEvent(tenant, time.Now().Add(time.Duration(i)*time.Millisecond), fmt.Sprintf(`{"i":%d}`, i))
			d := newDelivery(ev, sub.ID)
			if err := e.St.CreateEvent(e.Ctx, asQueued(ev, d)); err != nil {
				t.Fatal(err)
			}
			refs = append(refs, gancho.DeliveryRef{TenantID: tenant, DeliveryID: d.ID, EventID: ev.ID, SubscriptionID: sub.ID})
		}
		b, err := e.St.LoadDeliveryBatch(e.Ctx, refs)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Deliveries) != 0 || len(b.Events) != 60 || len(b.Subscriptions) != 1 {
			t.Errorf("loaded %d deliveries, %d events, %d subscriptions; want 0 (no outcome yet), 60, 1", len(b.Deliveries), len(b.Events), len(b.Subscriptions))
		}
	}},
	{"record attempts in order; duplicates and gaps conflict", func(t *testing.T, e Env) {
		tenant := e.Tenant
		ev := newEvent(tenant, time.Now(), `{}`)
		d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
		if err := e.St.CreateEvent(e.Ctx, asQueued(ev, d)); err != nil {
			t.Fatal(err)
		}
		at := time.Now().UTC().Truncate(time.Millisecond)
		a1 := gancho.Attempt{Number: 1, At: at, StatusCode: 500, DurationMs: 12, Response: "boom", Outcome: gancho.OutcomeFailure}
		next := at.Add(5 * time.Second)

		if err := e.St.RecordAttempt(e.Ctx, d, a1, gancho.StatusRetrying, &next, false); err != nil {
			t.Fatalf("attempt 1: %v", err)
		}
		d.Recorded = true // the first outcome wrote the record
		got, err := e.St.GetDelivery(e.Ctx, tenant, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != gancho.StatusRetrying || len(got.Attempts) != 1 || !reflect.DeepEqual(got.Attempts[0], a1) ||
			got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(next) {
			t.Errorf("after attempt 1: %+v", got)
		}

		dup := a1
		dup.Response = "duplicate"
		if err := e.St.RecordAttempt(e.Ctx, d, dup, gancho.StatusDelivered, nil, false); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("attempt 1 again: %v, want ErrConflict", err)
		}
		skip := gancho.Attempt{Number: 3, At: at, Outcome: gancho.OutcomeSuccess}
		if err := e.St.RecordAttempt(e.Ctx, d, skip, gancho.StatusDelivered, nil, false); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("attempt 3 before 2: %v, want ErrConflict", err)
		}
		got, err = e.St.GetDelivery(e.Ctx, tenant, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Attempts) != 1 || got.Attempts[0].Response != "boom" || got.Status != gancho.StatusRetrying {
			t.Errorf("conflicting attempts changed the delivery: %+v", got)
		}

		a2 := gancho.Attempt{Number: 2, At: at.Add(6 * time.Second), StatusCode: 200, DurationMs: 3, Response: "ok", Outcome: gancho.OutcomeSuccess}
		if err := e.St.RecordAttempt(e.Ctx, d, a2, gancho.StatusDelivered, nil, false); err != nil {
			t.Fatalf("attempt 2: %v", err)
		}
		got, err = e.St.GetDelivery(e.Ctx, tenant, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != gancho.StatusDelivered || !reflect.DeepEqual(got.Attempts, []gancho.Attempt{a1, a2}) || got.NextAttemptAt != nil {
			t.Errorf("after attempt 2: %+v", got)
		}
		if !got.UpdatedAt.After(d.UpdatedAt) {
			t.Errorf("updatedAt %v not moved from %v", got.UpdatedAt, d.UpdatedAt)
		}

		t.Run("SetDeliveryStatus on a delivered delivery", func(t *testing.T) {
			if err := e.St.SetDeliveryStatus(e.Ctx, d, gancho.StatusCancelled); !errors.Is(err, gancho.ErrConflict) {
				t.Errorf("err %v, want ErrConflict", err)
			}
			got, err := e.St.GetDelivery(e.Ctx, tenant, d.ID)
			if err != nil || got.Status != gancho.StatusDelivered {
				t.Errorf("status %q (%v), want delivered", got.Status, err)
			}
		})
	}},
	{"set status: a pending delivery gets a record, a final one conflicts", func(t *testing.T, e Env) {
		tenant := e.Tenant
		ev := newEvent(tenant, time.Now(), `{}`)
		d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
		if err := e.St.CreateEvent(e.Ctx, asQueued(ev, d)); err != nil {
			t.Fatal(err)
		}
		if err := e.St.SetDeliveryStatus(e.Ctx, d, gancho.StatusCancelled); err != nil {
			t.Fatalf("cancel a pending delivery: %v", err)
		}
		got, err := e.St.GetDelivery(e.Ctx, tenant, d.ID)
		if err != nil || got.Status != gancho.StatusCancelled {
			t.Fatalf("status %q (%v), want cancelled", got.Status, err)
		}
		for _, status := range []string{gancho.StatusCancelled, gancho.StatusFailed, gancho.StatusPending} {
			if err := e.St.SetDeliveryStatus(e.Ctx, d, status); !errors.Is(err, gancho.ErrConflict) {
				t.Errorf("%s after cancelled: %v, want ErrConflict", status, err)
			}
		}
	}},
	{"a subscription lists records and pending deliveries merged, newest first", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		sub, other := NewSub(t, tenant, clock, gancho.SubscriptionInput{}), NewSub(t, tenant, clock, gancho.SubscriptionInput{})
		e.create(t, sub, other)
		base := time.Now().Add(-time.Minute)
		var ids []string // newest first
		recorded := map[string]bool{}
		for i := range 7 {
			ev := newEvent(tenant, base.Add(time.Duration(i)*time.Second), `{}`)
			d, o := newDelivery(ev, sub.ID), newDelivery(ev, other.ID)
			if err := e.St.CreateEvent(e.Ctx, asQueued(ev, d, o)); err != nil {
				t.Fatal(err)
			}
			if i%3 == 0 { // events 0, 3, 6 have an outcome
				if err := e.St.SetDeliveryStatus(e.Ctx, d, gancho.StatusCancelled); err != nil {
					t.Fatal(err)
				}
				recorded[d.ID] = true
			}
			ids = append([]string{d.ID}, ids...)
		}
		// An event that did not go to sub is not listed.
		if err := e.St.CreateEvent(e.Ctx, asQueued(newEvent(tenant, base.Add(3500*time.Millisecond), `{}`))); err != nil {
			t.Fatal(err)
		}
		list := func(f gancho.DeliveryFilter, limit int) []gancho.Delivery {
			t.Helper()
			var all []gancho.Delivery
			cursor := ""
			for page := 0; page < 20; page++ {
				got, next, err := e.St.ListDeliveries(e.Ctx, tenant, true, sub.ID, f, gancho.Page{Limit: limit, Cursor: cursor})
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if len(got) > limit {
					t.Fatalf("page %d has %d deliveries, limit %d", page, len(got), limit)
				}
				all = append(all, got...)
				if next == "" {
					return all
				}
				cursor = next
			}
			t.Fatal("more than 20 pages")
			return nil
		}
		idsOf := func(ds []gancho.Delivery) []string {
			out := make([]string, len(ds))
			for i, d := range ds {
				out[i] = d.ID
			}
			return out
		}
		for _, tc := range []struct {
			name   string
			status string
			want   func(id string) bool
		}{
			{"all", "", func(string) bool { return true }},
			{"pending", gancho.StatusPending, func(id string) bool { return !recorded[id] }},
			{"cancelled", gancho.StatusCancelled, func(id string) bool { return recorded[id] }},
		} {
			var want []string
			for _, id := range ids {
				if tc.want(id) {
					want = append(want, id)
				}
			}
			for _, limit := range []int{1, 2, 3, 100} {
				got := list(gancho.DeliveryFilter{Status: tc.status}, limit)
				if !slices.Equal(idsOf(got), want) {
					t.Errorf("%s, limit %d: %v\nwant %v", tc.name, limit, idsOf(got), want)
				}
				for _, d := range got {
					if d.Recorded != recorded[d.ID] || (d.Status == gancho.StatusPending) == recorded[d.ID] {
						t.Errorf("%s: %s recorded=%v status %s", tc.name, d.ID, d.Recorded, d.Status)
					}
				}
			}
		}
	}},
	{"requeue: only a record unchanged since it was read goes back to pending, and unparked", func(t *testing.T, e Env) {
		ev := newEvent(e.Tenant, time.Now(), `{}`)
		d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
		if err := e.St.CreateEvent(e.Ctx, asQueued(ev, d)); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "requeue a delivery without a record", e.St.MarkRequeued(e.Ctx, d), gancho.ErrConflict)
		next := time.Now().Add(-time.Second)
		a := gancho.Attempt{Number: 1, At: time.Now().UTC(), StatusCode: 500, Outcome: gancho.OutcomeFailure}
		if err := e.St.RecordAttempt(e.Ctx, d, a, gancho.StatusRetrying, &next, true); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "requeue from a read before the attempt", e.St.MarkRequeued(e.Ctx, d), gancho.ErrConflict)
		got, err := e.St.GetDelivery(e.Ctx, e.Tenant, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.St.MarkRequeued(e.Ctx, got); err != nil {
			t.Fatal(err)
		}
		after, err := e.St.GetDelivery(e.Ctx, e.Tenant, d.ID)
		if err != nil || after.Status != gancho.StatusPending || after.NextAttemptAt != nil || len(after.Attempts) != 1 || !after.Recorded {
			t.Errorf("after requeue: %+v, %v", after, err)
		}
		if due := e.due(t, time.Now()); len(due) != 0 {
			t.Errorf("a requeued delivery is still parked: %v", due)
		}
		wantErr(t, "requeue twice from the same read", e.St.MarkRequeued(e.Ctx, got), gancho.ErrConflict)
	}},
	{"list events: newest first, filtered, past retention left out", func(t *testing.T, e Env) {
		base := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
		mk := func(i int, typ, owner, ref string) string {
			ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, base.Add(time.Duration(i)*time.Minute)), TenantID: e.Tenant, Type: typ,
				CreatedAt: base.Add(time.Duration(i) * time.Minute), OwnerID: owner, Payload: json.RawMessage(`{}`)}
			if ref != "" {
				ev.Reference = &gancho.Reference{Type: "order", ID: ref}
			}
			if err := e.St.CreateEvent(e.Ctx, asQueued(ev)); err != nil {
				t.Fatal(err)
			}
			return ev.ID
		}
		a := mk(0, "crm.lead.created", "o1", "r1")
		b := mk(1, "crm.lead.won", "o2", "r1")
		c := mk(2, "crm.lead.created", "", "r2")
		d := mk(3, "billing.paid", "o1", "")
		old := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, time.Now().Add(-defaultRetention-time.Hour)), TenantID: e.Tenant,
			Type: "crm.lead.created", CreatedAt: time.Now().Add(-defaultRetention - time.Hour).UTC(), Payload: json.RawMessage(`{}`)}
		if err := e.St.CreateEvent(e.Ctx, asQueued(old)); err != nil {
			t.Fatal(err)
		}
		// Another tenant's events never show.
		if err := e.St.CreateEvent(e.Ctx, asQueued(newEvent(TenantID(), base.Add(90*time.Second), `{}`))); err != nil {
			t.Fatal(err)
		}
		since, until := base.Add(time.Minute), base.Add(3*time.Minute)
		for _, tc := range []struct {
			name string
			f    gancho.EventFilter
			want []string
		}{
			{"all", gancho.EventFilter{}, []string{d, c, b, a}},
			{"type", gancho.EventFilter{Type: "crm.lead.created"}, []string{c, a}},
			{"owner", gancho.EventFilter{OwnerID: "o1"}, []string{d, a}},
			{"reference", gancho.EventFilter{ReferenceID: "r1"}, []string{b, a}},
			{"since and until", gancho.EventFilter{Since: &since, Until: &until}, []string{c, b}},
			{"type and owner", gancho.EventFilter{Type: "crm.lead.created", OwnerID: "o1"}, []string{a}},
		} {
			for _, limit := range []int{1, 3, 100} {
				evs := pages(t, limit, func(cursor string) ([]gancho.Event, string, error) {
					return e.St.ListEvents(e.Ctx, e.Tenant, tc.f, gancho.Page{Limit: limit, Cursor: cursor})
				})
				var got []string
				for _, ev := range evs {
					got = append(got, ev.ID)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("%s, limit %d: %v, want %v", tc.name, limit, got, tc.want)
				}
			}
		}
	}},
	{"an event past retention and its deliveries are not found", func(t *testing.T, e Env) {
		when := time.Now().Add(-defaultRetention - time.Hour)
		ev := newEvent(e.Tenant, when, `{}`)
		d, r := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, when)), newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, when))
		if err := e.St.CreateEvent(e.Ctx, asQueued(ev, d, r)); err != nil {
			t.Fatal(err)
		}
		if err := e.St.SetDeliveryStatus(e.Ctx, r, gancho.StatusCancelled); err != nil { // a record, past retention too
			t.Fatal(err)
		}
		_, err := e.St.GetEvent(e.Ctx, e.Tenant, ev.ID)
		wantErr(t, "event", err, gancho.ErrNotFound)
		for _, id := range []string{d.ID, r.ID} {
			_, err = e.St.GetDelivery(e.Ctx, e.Tenant, id)
			wantErr(t, "delivery", err, gancho.ErrNotFound)
		}
		if evs, err := e.St.LoadEvents(e.Ctx, []gancho.EventRef{{TenantID: e.Tenant, ID: ev.ID}}); err != nil || len(evs) != 0 {
			t.Errorf("LoadEvents: %v, %v", evs, err)
		}
		if ds, _, err := e.St.ListDeliveries(e.Ctx, e.Tenant, false, ev.ID, gancho.DeliveryFilter{}, gancho.Page{Limit: 10}); err != nil || len(ds) != 0 {
			t.Errorf("the event's deliveries: %v, %v", ds, err)
		}
		for _, sub := range []string{d.SubscriptionID, r.SubscriptionID} {
			if ds, _, err := e.St.ListDeliveries(e.Ctx, e.Tenant, true, sub, gancho.DeliveryFilter{}, gancho.Page{Limit: 10}); err != nil || len(ds) != 0 {
				t.Errorf("the subscription's deliveries: %v, %v", ds, err)
			}
		}
	}},
}
