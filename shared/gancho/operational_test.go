package gancho_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func TestCrossedThresholds(t *testing.T) {
	tests := []struct {
		before, after int
		want          []int
	}{
		{0, 4, nil}, {0, 5, []int{5}}, {4, 5, []int{5}}, {5, 6, nil}, {3, 25, []int{5, 20}},
		{19, 100, []int{20, 100}}, {100, 500, nil}, {0, 1000, []int{5, 20, 100}},
	}
	for _, tc := range tests {
		if got := gancho.CrossedThresholds(tc.before, tc.after); !slices.Equal(got, tc.want) {
			t.Errorf("CrossedThresholds(%d, %d) = %v, want %v", tc.before, tc.after, got, tc.want)
		}
	}
}

// Operational types are in every catalog, cannot be published or defined by a
// tenant, and a plain "*" does not reach them while "gancho.*" and their names do.
func TestOperationalEventRules(t *testing.T) {
	cat := gancho.NewCatalog(nil)
	for _, typ := range []string{gancho.TypeSubscriptionDisabled, gancho.TypeSubscriptionFailing, gancho.TypeSubscriptionRecovered, gancho.TypeDeliveryFailed} {
		if et, ok := cat.Lookup(typ); !ok || !et.BuiltIn {
			t.Errorf("%s not in the catalog", typ)
		}
		if _, err := gancho.NewEvent("t1", gancho.EventInput{Type: typ, Payload: json.RawMessage(`{}`)}, time.Now(), gancho.TargetPolicy{}); err == nil {
			t.Errorf("%s could be published", typ)
		}
		if gancho.Accepts([]string{"*"}, typ) || !gancho.Accepts([]string{"gancho.*"}, typ) || !gancho.Accepts([]string{typ}, typ) {
			t.Errorf("%s: accepted by * %v, by gancho.* %v", typ, gancho.Accepts([]string{"*"}, typ), gancho.Accepts([]string{"gancho.*"}, typ))
		}
		if slices.Contains(gancho.MatchPatterns(typ), "*") {
			t.Errorf("%s: match patterns %v include *", typ, gancho.MatchPatterns(typ))
		}
	}
	if _, _, err := gancho.NewEventType("gancho.custom", gancho.EventTypeInput{}); err == nil {
		t.Error("a tenant defined gancho.custom")
	}
	if errs := cat.CheckPatterns([]string{"gancho.*", gancho.TypeDeliveryFailed}); len(errs) > 0 {
		t.Errorf("subscribing to operational events: %v", errs)
	}
	if !gancho.Accepts([]string{"*"}, "order.created") {
		t.Error("* no longer accepts ordinary events")
	}
}

// Each operational event is its subject's owner's, names the subscription it is
// about (which never receives it), and has a key that is the same for every
// consumer that sees the same change.
func TestOperationalEvents(t *testing.T) {
	at := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	since := at.Add(-time.Hour)
	sub := gancho.Subscription{ID: "sub_1", TenantID: "t1", OwnerID: "office-9", Name: "Orders", UpdatedAt: at.Add(-time.Minute)}
	last := gancho.Attempt{Number: 7, StatusCode: 503, At: at}
	evs := []gancho.Operational{
		gancho.SubscriptionDisabled(sub, "the receiver answered 410 Gone", at),
		gancho.SubscriptionFailing(sub, 20, since, last),
		gancho.SubscriptionRecovered(sub, since, at),
		gancho.DeliveryFailed(sub, gancho.Event{ID: "evt_1", Type: "order.created"}, gancho.Delivery{ID: "dlv_1"}, last),
	}
	keys := map[string]bool{}
	for _, op := range evs {
		ev := op.Event
		var p map[string]any
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p["subscriptionId"] != "sub_1" || p["subscriptionName"] != "Orders" {
			t.Errorf("%s payload %s (%v)", ev.Type, ev.Payload, err)
		}
		if ev.OwnerID != "office-9" || ev.AboutSubscriptionID != "sub_1" || ev.TenantID != "t1" || !gancho.IsOperational(ev.Type) {
			t.Errorf("%s = %+v", ev.Type, ev)
		}
		if keys[op.Key] {
			t.Errorf("key %s twice", op.Key)
		}
		keys[op.Key] = true
	}
	// Two consumers seeing the same threshold of the same run make the same key;
	// another run (a later failingSince) makes another.
	if a, b := gancho.SubscriptionFailing(sub, 20, since, last), gancho.SubscriptionFailing(sub, 20, since, gancho.Attempt{At: at.Add(time.Second)}); a.Key != b.Key {
		t.Error("the same crossing made two keys")
	}
	if a, b := gancho.SubscriptionFailing(sub, 20, since, last), gancho.SubscriptionFailing(sub, 20, since.Add(time.Hour), last); a.Key == b.Key {
		t.Error("two failing runs share a key")
	}
}
