package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// publishKeyTTL is how long a publish idempotency key is remembered.
const publishKeyTTL = 24 * time.Hour

var publishCases = []Case{
	{"claim many keys: taken ones return the existing claim, expired ones are free", func(t *testing.T, e Env) {
		tenant := e.Tenant
		now := time.Now().UTC().Truncate(time.Millisecond)
		const n = 150
		taken := map[int]bool{}
		for i := 0; i < n; i += 3 {
			at := now
			if i%2 == 0 {
				at = now.Add(-publishKeyTTL - time.Minute) // expired: free again
			} else {
				taken[i] = true
			}
			if _, fresh, err := e.St.ClaimPublishKey(e.Ctx, tenant, fmt.Sprint("k", i), gancho.PublishClaim{EventID: fmt.Sprint("evt_old", i), Hash: "old", ClaimedAt: at}); err != nil || !fresh {
				t.Fatalf("seed claim %d: %v %v", i, fresh, err)
			}
		}
		reqs := make([]gancho.KeyClaim, n)
		for i := range reqs {
			reqs[i] = gancho.KeyClaim{Tenant: tenant, Key: fmt.Sprint("k", i), Claim: gancho.PublishClaim{EventID: fmt.Sprint("evt_new", i), Hash: "new", ClaimedAt: now}}
		}
		for i, res := range e.St.ClaimPublishKeys(e.Ctx, reqs) {
			switch {
			case res.Err != nil:
				t.Errorf("key %d: %v", i, res.Err)
			case taken[i] && (res.Fresh || res.Claim.EventID != fmt.Sprint("evt_old", i) || res.Claim.Hash != "old"):
				t.Errorf("key %d, claimed before: %+v; want the existing claim", i, res)
			case !taken[i] && (!res.Fresh || res.Claim.EventID != fmt.Sprint("evt_new", i)):
				t.Errorf("key %d, free: %+v; want it claimed", i, res)
			}
		}
		// The batch's claims are ordinary claims.
		got, fresh, err := e.St.ClaimPublishKey(e.Ctx, tenant, "k1", gancho.PublishClaim{EventID: "evt_x", Hash: "x", ClaimedAt: now})
		if err != nil || fresh || got.EventID != "evt_new1" {
			t.Errorf("claiming k1 again: %+v fresh=%v %v; want the batch's claim", got, fresh, err)
		}
	}},
	{"claim one key: held until it expires; abandoning clears the claim time of the same event only", func(t *testing.T, e Env) {
		now := time.Now().UTC().Truncate(time.Millisecond)
		claim := func(ev string, at time.Time) (gancho.PublishClaim, bool) {
			t.Helper()
			got, fresh, err := e.St.ClaimPublishKey(e.Ctx, e.Tenant, "key-1", gancho.PublishClaim{EventID: ev, Hash: "h-" + ev, ClaimedAt: at})
			if err != nil {
				t.Fatal(err)
			}
			return got, fresh
		}
		if _, fresh := claim("evt_1", now); !fresh {
			t.Fatal("a new key was not claimed")
		}
		got, fresh := claim("evt_2", now.Add(time.Minute))
		if fresh || got.EventID != "evt_1" || got.Hash != "h-evt_1" || !got.ClaimedAt.Equal(now) {
			t.Fatalf("second claim: %+v fresh=%v", got, fresh)
		}
		if err := e.St.AbandonPublishKey(e.Ctx, e.Tenant, "key-1", gancho.PublishClaim{EventID: "evt_2"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := claim("evt_2", now.Add(time.Minute)); !got.ClaimedAt.Equal(now) {
			t.Fatalf("another event's abandon changed the claim: %+v", got)
		}
		if err := e.St.AbandonPublishKey(e.Ctx, e.Tenant, "key-1", gancho.PublishClaim{EventID: "evt_1"}); err != nil {
			t.Fatal(err)
		}
		got, fresh = claim("evt_2", now.Add(time.Minute))
		if fresh || got.EventID != "evt_1" || !got.ClaimedAt.IsZero() {
			t.Fatalf("after abandoning: %+v fresh=%v, want evt_1's claim with no claim time", got, fresh)
		}
		if err := e.St.AbandonPublishKey(e.Ctx, e.Tenant, "unknown-key", gancho.PublishClaim{EventID: "evt_1"}); err != nil {
			t.Fatalf("abandon an unknown key: %v", err)
		}
		if _, fresh := claim("evt_3", now.Add(publishKeyTTL+time.Second)); !fresh {
			t.Fatal("an expired key was not claimed again")
		}
		other, fresh, err := e.St.ClaimPublishKey(e.Ctx, TenantID(), "key-1", gancho.PublishClaim{EventID: "evt_x", ClaimedAt: now})
		if err != nil || !fresh || other.EventID != "evt_x" {
			t.Fatalf("the same key of another tenant: %+v %v %v", other, fresh, err)
		}
	}},
	{"put events: keyed ones only if new; marked queued whole; loaded by ref", func(t *testing.T, e Env) {
		now := time.Now().UTC()
		keyed, fresh := newEvent(e.Tenant, now.Add(-time.Minute), `{"k":1}`), newEvent(e.Tenant, now.Add(-time.Minute), `{ "f" : 2 }`)
		sub := gancho.NewID(gancho.PrefixSubscription, now)
		direct := asQueued(newEvent(e.Tenant, now.Add(-time.Minute), `{}`), newDelivery(newEvent(e.Tenant, now, `{}`), sub))
		errs := e.St.PutEvents(e.Ctx, []gancho.Event{keyed, fresh, direct}, []bool{true, false, false})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		if got := e.pendingEvents(t, now); !sameSet(got, []string{keyed.ID, fresh.ID}) {
			t.Fatalf("in the outbox: %v, want the two not queued", got)
		}
		errs = e.St.PutEvents(e.Ctx, []gancho.Event{keyed, fresh}, []bool{true})
		wantErr(t, "a keyed event again", errs[0], gancho.ErrConflict)
		if errs[1] != nil {
			t.Errorf("an unkeyed event again: %v", errs[1])
		}
		dests := [][]gancho.Destination{{{SubscriptionID: sub, OwnerID: "o1"}}, {}}
		for i, err := range e.St.MarkEventsQueued(e.Ctx, []gancho.Event{keyed, fresh}, now, dests) {
			if err != nil {
				t.Fatalf("mark %d: %v", i, err)
			}
		}
		if got := e.pendingEvents(t, now); len(got) != 0 {
			t.Fatalf("still in the outbox: %v", got)
		}
		evs, err := e.St.LoadEvents(e.Ctx, []gancho.EventRef{{TenantID: e.Tenant, ID: keyed.ID}, {TenantID: e.Tenant, ID: fresh.ID},
			{TenantID: e.Tenant, ID: direct.ID}, {TenantID: e.Tenant, ID: "evt_unknown"}, {TenantID: TenantID(), ID: keyed.ID}})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 {
			t.Fatalf("loaded %d events, want 3", len(evs))
		}
		k := evs[keyed.ID]
		if k.QueuedAt == nil || !k.QueuedAt.Equal(now) || k.DeliveryCount != 1 || len(k.Destinations) != 1 || k.Destinations[0] != dests[0][0] ||
			string(k.Payload) != `{"k":1}` || k.TenantID != e.Tenant {
			t.Errorf("keyed event %+v", k)
		}
		if f := evs[fresh.ID]; f.QueuedAt == nil || f.DeliveryCount != 0 || len(f.Destinations) != 0 || string(f.Payload) != `{ "f" : 2 }` {
			t.Errorf("fresh event %+v", f)
		}
		if d := evs[direct.ID]; d.DeliveryCount != 1 || len(d.Destinations) != 1 || d.Destinations[0].SubscriptionID != sub {
			t.Errorf("event queued before it was stored %+v", d)
		}
		if _, err := e.St.GetDelivery(e.Ctx, e.Tenant, gancho.DeliveryID(keyed.ID, sub)); err != nil {
			t.Errorf("the marked event's pending delivery: %v", err)
		}
	}},
	{"fan-outs write each event's inbox entries, unseen", func(t *testing.T, e Env) {
		now := time.Now().UTC()
		a, b := newEvent(e.Tenant, now.Add(-2*time.Second), `{}`), newEvent(e.Tenant, now.Add(-time.Second), `{}`)
		s1, s2 := gancho.NewID(gancho.PrefixSubscription, now), gancho.NewID(gancho.PrefixSubscription, now)
		for _, ev := range []gancho.Event{a, b} {
			if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		for i, err := range e.St.PutFanOuts(e.Ctx, []gancho.FanOutWrite{{Event: a, Inbox: []string{s1, s2}}, {Event: b, Inbox: []string{s1}}}) {
			if err != nil {
				t.Fatalf("fan-out %d: %v", i, err)
			}
		}
		for sub, want := range map[string][]string{s1: {a.ID, b.ID}, s2: {a.ID}} {
			p := e.readInbox(t, e.Tenant, sub, gancho.InboxQuery{Unseen: true, Limit: 10})
			if !slices.Equal(p.EventIDs, want) || p.Total != len(want) {
				t.Errorf("%s unseen: %v, want %v", sub, p.EventIDs, want)
			}
			if has, err := e.St.HasUnseen(e.Ctx, e.Tenant, sub); err != nil || !has {
				t.Errorf("%s HasUnseen = %v, %v", sub, has, err)
			}
		}
		if has, err := e.St.HasUnseen(e.Ctx, e.Tenant, gancho.NewID(gancho.PrefixSubscription, now)); err != nil || has {
			t.Errorf("an empty inbox HasUnseen = %v, %v", has, err)
		}
	}},
}
