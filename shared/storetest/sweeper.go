package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// due is the case tenant's parked deliveries due at now (the sweeper reads every
// tenant's; cases may share a table).
func (e Env) due(t *testing.T, now time.Time) []string {
	t.Helper()
	ds, err := e.St.DueDeliveries(e.Ctx, now, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ds {
		if d.TenantID == e.Tenant {
			out = append(out, d.ID)
		}
	}
	return out
}

// pendingEvents is the case tenant's events in the outbox stored before olderThan.
func (e Env) pendingEvents(t *testing.T, olderThan time.Time) []string {
	t.Helper()
	evs, err := e.St.PendingEvents(e.Ctx, olderThan, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.TenantID == e.Tenant {
			out = append(out, ev.ID)
		}
	}
	return out
}

var sweeperCases = []Case{
	{"parked retries: listed when due, unparked once; a newer attempt wins", func(t *testing.T, e Env) {
		now := time.Now().UTC()
		ev := newEvent(e.Tenant, now.Add(-time.Minute), `{}`)
		sub := func() string { return gancho.NewID(gancho.PrefixSubscription, now) }
		dues, later, unparked := newDelivery(ev, sub()), newDelivery(ev, sub()), newDelivery(ev, sub())
		if err := e.St.CreateEvent(e.Ctx, asQueued(ev, dues, later, unparked)); err != nil {
			t.Fatal(err)
		}
		fail := gancho.Attempt{Number: 1, At: now, StatusCode: 503, Outcome: gancho.OutcomeFailure}
		past, future := now.Add(-time.Second), now.Add(time.Hour)
		for _, r := range []struct {
			d    gancho.Delivery
			next *time.Time
			park bool
		}{{dues, &past, true}, {later, &future, true}, {unparked, &past, false}} {
			if err := e.St.RecordAttempt(e.Ctx, r.d, fail, gancho.StatusRetrying, r.next, r.park); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.due(t, now); !slices.Equal(got, []string{dues.ID}) {
			t.Fatalf("due now: %v, want only %s", got, dues.ID)
		}
		if got := e.due(t, future.Add(time.Second)); !sameSet(got, []string{dues.ID, later.ID}) {
			t.Fatalf("due in an hour: %v", got)
		}
		ds, err := e.St.DueDeliveries(e.Ctx, now, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var listed gancho.Delivery
		for _, d := range ds {
			if d.ID == dues.ID {
				listed = d
			}
		}
		if !listed.Recorded || len(listed.Attempts) != 1 || listed.Status != gancho.StatusRetrying || listed.NextAttemptAt == nil {
			t.Fatalf("listed %+v", listed)
		}
		if err := e.St.Unpark(e.Ctx, listed); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unpark twice", e.St.Unpark(e.Ctx, listed), gancho.ErrConflict)
		if got := e.due(t, now); len(got) != 0 {
			t.Errorf("due after unparking: %v", got)
		}
		wantErr(t, "unpark a delivery that was never parked", e.St.Unpark(e.Ctx, listed), gancho.ErrConflict)
		// The consumer records the next attempt first: the sweeper's copy is stale.
		laterRead, err := e.St.GetDelivery(e.Ctx, e.Tenant, later.ID)
		if err != nil {
			t.Fatal(err)
		}
		second := gancho.Attempt{Number: 2, At: now, StatusCode: 503, Outcome: gancho.OutcomeFailure}
		again := future.Add(time.Hour)
		if err := e.St.RecordAttempt(e.Ctx, laterRead, second, gancho.StatusRetrying, &again, true); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "unpark a stale copy", e.St.Unpark(e.Ctx, laterRead), gancho.ErrConflict)
		if got := e.due(t, future.Add(time.Second)); len(got) != 0 {
			t.Errorf("due after a re-park further out: %v", got)
		}
		if got := e.due(t, again); !slices.Equal(got, []string{later.ID}) {
			t.Errorf("due at the new time: %v", got)
		}
		// The last attempt, not parked, takes it out.
		third := gancho.Attempt{Number: 3, At: now, StatusCode: 200, Outcome: gancho.OutcomeSuccess}
		laterRead.Attempts = append(laterRead.Attempts, second)
		if err := e.St.RecordAttempt(e.Ctx, laterRead, third, gancho.StatusDelivered, nil, false); err != nil {
			t.Fatal(err)
		}
		if got := e.due(t, again); len(got) != 0 {
			t.Errorf("due after delivery: %v", got)
		}
	}},
	{"outbox: an event not queued waits until marked queued", func(t *testing.T, e Env) {
		now := time.Now().UTC()
		first, second := newEvent(e.Tenant, now.Add(-2*time.Minute), `{}`), newEvent(e.Tenant, now.Add(-time.Minute), `{}`)
		direct := newEvent(e.Tenant, now.Add(-3*time.Minute), `{}`)
		for _, ev := range []gancho.Event{first, second, asQueued(direct)} {
			if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.pendingEvents(t, now.Add(-90*time.Second)); !slices.Equal(got, []string{first.ID}) {
			t.Fatalf("pending before 90 s ago: %v, want %s", got, first.ID)
		}
		if got := e.pendingEvents(t, now); !sameSet(got, []string{first.ID, second.ID}) {
			t.Fatalf("pending now: %v", got)
		}
		evs, err := e.St.PendingEvents(e.Ctx, now, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.ID == first.ID && (ev.TenantID != e.Tenant || ev.Type != first.Type || string(ev.Payload) != `{}` || ev.QueuedAt != nil) {
				t.Errorf("pending event %+v", ev)
			}
		}
		sub := gancho.NewID(gancho.PrefixSubscription, now)
		if err := e.St.MarkEventQueued(e.Ctx, first, now, []gancho.Destination{{SubscriptionID: sub, OwnerID: "o1"}}); err != nil {
			t.Fatal(err)
		}
		if got := e.pendingEvents(t, now); !slices.Equal(got, []string{second.ID}) {
			t.Errorf("pending after marking one: %v", got)
		}
		got, err := e.St.GetEvent(e.Ctx, e.Tenant, first.ID)
		if err != nil || got.QueuedAt == nil || got.DeliveryCount != 1 || len(got.Destinations) != 1 || got.Destinations[0].OwnerID != "o1" {
			t.Fatalf("marked event %+v, %v", got, err)
		}
		d, err := e.St.GetDelivery(e.Ctx, e.Tenant, gancho.DeliveryID(first.ID, sub))
		if err != nil || d.Status != gancho.StatusPending || d.Recorded || d.OwnerID != "o1" {
			t.Errorf("its pending delivery %+v, %v", d, err)
		}
	}},
	{"scheduled events: in the outbox until their fan-out is due, deliverAt kept", func(t *testing.T, e Env) {
		now := time.Now().UTC()
		soon, far := newEvent(e.Tenant, now.Add(-time.Minute), `{}`), newEvent(e.Tenant, now.Add(-time.Minute), `{}`)
		soonAt, farAt := now.Add(5*time.Minute), now.Add(2*time.Hour)
		soon.DeliverAt, far.DeliverAt = &soonAt, &farAt
		for _, ev := range []gancho.Event{soon, far} {
			if err := e.St.CreateEvent(e.Ctx, ev); err != nil {
				t.Fatal(err)
			}
		}
		// Within the queue's delay, the outbox due time is the creation, as for any
		// event; further ahead, it is gancho.ScheduleLead before deliverAt.
		if got := e.pendingEvents(t, now); !slices.Equal(got, []string{soon.ID}) {
			t.Fatalf("pending now: %v, want only %s", got, soon.ID)
		}
		if got := e.pendingEvents(t, farAt.Add(-gancho.ScheduleLead-time.Second)); !slices.Equal(got, []string{soon.ID}) {
			t.Fatalf("pending just before the far one is due: %v", got)
		}
		if got := e.pendingEvents(t, farAt.Add(-gancho.ScheduleLead)); !sameSet(got, []string{soon.ID, far.ID}) {
			t.Fatalf("pending when the far one is due: %v", got)
		}
		got, err := e.St.GetEvent(e.Ctx, e.Tenant, far.ID)
		if err != nil || got.DeliverAt == nil || !got.DeliverAt.Equal(farAt) {
			t.Fatalf("stored event deliverAt %v, %v; want %v", got.DeliverAt, err, farAt)
		}
	}},
}
