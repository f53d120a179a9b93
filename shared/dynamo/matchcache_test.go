package dynamo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/storetest"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestMatchCache: a publishing process reuses match entries for MatchCacheTTL, so a
// subscription created by another process is found only after that; one created,
// changed or deleted through the same store is seen at once. The event's context
// still filters cached entries.
func TestMatchCache(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	_, other := testenv.Clients(t) // another process: its writes do not reach e's cache
	const ttl = 300 * time.Millisecond
	e.st.WithMatchCache(ttl)
	tenant := testenv.TenantID()
	clock := storetest.NewClock()
	ev := gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created"}
	match := func(ev gancho.Event) []string {
		t.Helper()
		ms, err := e.st.MatchSubscriptions(e.ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.SubscriptionID)
		}
		slices.Sort(out)
		return out
	}
	mine := storetest.NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
	e.create(t, mine)
	if got := match(ev); !slices.Equal(got, []string{mine.ID}) {
		t.Fatalf("after creating through this store: %v", got)
	}
	theirs := storetest.NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("*")})
	if err := other.Store.CreateSubscription(e.ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if got := match(ev); !slices.Equal(got, []string{mine.ID}) {
		t.Fatalf("another process's subscription found within the cache time: %v", got)
	}
	want := []string{mine.ID, theirs.ID}
	slices.Sort(want)
	deadline := time.Now().Add(ttl + 5*time.Second)
	for got := match(ev); !slices.Equal(got, want); got = match(ev) {
		if time.Now().After(deadline) {
			t.Fatalf("after the cache time: %v, want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Context filters cached entries; a delete through this store is seen at once.
	withCtx := storetest.NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.lead.created"), Context: strp("eu")})
	e.create(t, withCtx)
	if got := match(ev); !slices.Equal(got, want) {
		t.Fatalf("event without context: %v", got)
	}
	euEv := ev
	euEv.Context = "eu"
	if got := match(euEv); len(got) != 3 {
		t.Fatalf("event in context eu: %v", got)
	}
	if err := e.st.DeleteSubscription(e.ctx, mine); err != nil {
		t.Fatal(err)
	}
	if got := match(ev); !slices.Equal(got, []string{theirs.ID}) {
		t.Fatalf("after deleting through this store: %v", got)
	}
}
