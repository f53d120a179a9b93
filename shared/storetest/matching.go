package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func matchIDs(ms []gancho.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.SubscriptionID
	}
	return out
}

var matchCases = []Case{
	{"patterns a.b, a.*, *; owners, broadcast and contexts; inactive and foreign left out", func(t *testing.T, e Env) {
		tenant, other := TenantID(), TenantID()
		clock := NewClock()
		named := map[string]gancho.Subscription{}
		add := func(tenantID, name string, in gancho.SubscriptionInput) {
			sub := NewSub(t, tenantID, clock, in)
			sub.Name = name
			e.create(t, sub)
			if tenantID == tenant {
				named[name] = sub
			}
		}
		add(tenant, "all", gancho.SubscriptionInput{Events: listp("*")})
		add(tenant, "crm", gancho.SubscriptionInput{Events: listp("crm.*")})
		add(tenant, "lead", gancho.SubscriptionInput{Events: listp("crm.lead.*")})
		add(tenant, "exact", gancho.SubscriptionInput{Events: listp("crm.lead.created")})
		add(tenant, "billing", gancho.SubscriptionInput{Events: listp("billing.*")})
		add(tenant, "multi", gancho.SubscriptionInput{Events: listp("billing.invoice.paid", "crm.lead.created", "crm.*", "*")})
		add(tenant, "owner1", gancho.SubscriptionInput{Events: listp("crm.*"), OwnerID: strp("o1")})
		add(tenant, "owner1x", gancho.SubscriptionInput{Events: listp("crm.*"), OwnerID: strp("o1x")})
		add(tenant, "owner2", gancho.SubscriptionInput{Events: listp("crm.lead.created"), OwnerID: strp("o2")})
		add(tenant, "ctx", gancho.SubscriptionInput{Events: listp("crm.*"), Context: strp("c1")})
		add(tenant, "owner1ctx", gancho.SubscriptionInput{Events: listp("*"), OwnerID: strp("o1"), Context: strp("c1")})
		add(tenant, "inactive", gancho.SubscriptionInput{Events: listp("*"), IsActive: boolp(false)})
		add(tenant, "inactiveOwner", gancho.SubscriptionInput{Events: listp("crm.lead.created"), OwnerID: strp("o1"), IsActive: boolp(false)})
		add(tenant, "deep", gancho.SubscriptionInput{Events: listp("a.b.c.*")})
		add(tenant, "ops", gancho.SubscriptionInput{Events: listp("gancho.*")})
		add(tenant, "opsOwner1", gancho.SubscriptionInput{Events: listp(gancho.TypeSubscriptionFailing), OwnerID: strp("o1")})
		// Another tenant with subscriptions that would match everything.
		add(other, "foreignAll", gancho.SubscriptionInput{Events: listp("*")})
		add(other, "foreignOwner", gancho.SubscriptionInput{Events: listp("crm.*"), OwnerID: strp("o1")})
		add(other, "foreignCtx", gancho.SubscriptionInput{Events: listp("*"), OwnerID: strp("o1"), Context: strp("c1")})

		ownerless := []string{"all", "crm", "lead", "exact", "multi"}
		cases := []struct {
			name              string
			typ, owner, evCtx string
			want              []string
		}{
			{"no owner", "crm.lead.created", "", "", ownerless},
			{"owner o1", "crm.lead.created", "o1", "", append(slices.Clone(ownerless), "owner1")},
			{"owner o2", "crm.lead.created", "o2", "", append(slices.Clone(ownerless), "owner2")},
			{"unknown owner", "crm.lead.created", "o9", "", ownerless},
			{"owner prefix is not the owner", "crm.lead.created", "o", "", ownerless},
			{"owner o1 and context", "crm.lead.created", "o1", "c1", append(slices.Clone(ownerless), "owner1", "ctx", "owner1ctx")},
			{"broadcast", "crm.lead.created", "*", "", append(slices.Clone(ownerless), "owner1", "owner1x", "owner2")},
			{"broadcast with context", "crm.lead.created", "*", "c1", append(slices.Clone(ownerless), "owner1", "owner1x", "owner2", "ctx", "owner1ctx")},
			{"other context", "crm.lead.created", "", "c2", ownerless},
			{"context without owner", "crm.lead.created", "", "c1", append(slices.Clone(ownerless), "ctx")},
			{"sibling type", "crm.deal.won", "", "", []string{"all", "crm", "multi"}},
			{"one level", "crm.lead", "", "", []string{"all", "crm", "multi"}},
			{"prefix itself", "crm", "", "", []string{"all", "multi"}},
			{"prefix needs the dot", "crmx.lead", "", "", []string{"all", "multi"}},
			{"billing", "billing.invoice.paid", "", "", []string{"all", "billing", "multi"}},
			{"deep wildcard", "a.b.c.d.e", "", "", []string{"all", "multi", "deep"}},
			{"deep wildcard needs depth", "a.b.c", "", "", []string{"all", "multi"}},
			{"operational events: by name or gancho.*, never by a plain *", gancho.TypeSubscriptionFailing, "", "", []string{"ops"}},
			{"operational events of an owner", gancho.TypeSubscriptionFailing, "o1", "", []string{"ops", "opsOwner1"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ev := gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: tc.typ, OwnerID: tc.owner, Context: tc.evCtx}
				ms, err := e.St.MatchSubscriptions(e.Ctx, ev)
				if err != nil {
					t.Fatal(err)
				}
				byID := map[string]string{}
				for name, s := range named {
					byID[s.ID] = name
				}
				var got []string
				for _, m := range ms {
					name, ok := byID[m.SubscriptionID]
					if !ok {
						name = "foreign:" + m.SubscriptionID
					}
					got = append(got, name)
				}
				if len(got) != len(slices.Compact(slices.Sorted(slices.Values(got)))) {
					t.Errorf("duplicates in %q", got)
				}
				if !sameSet(got, tc.want) {
					t.Errorf("matched %q, want %q", got, tc.want)
				}
				// The index agrees with the domain rule.
				var domain []string
				for name, s := range named {
					if gancho.Matches(s, ev) {
						domain = append(domain, name)
					}
				}
				if !sameSet(domain, tc.want) {
					t.Errorf("gancho.Matches selects %q, the test expects %q", domain, tc.want)
				}
			})
		}
	}},
	{"a match carries the notify mode, rewritten by an update", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		notify := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*", "*"), Mode: strp(gancho.ModeNotify)})
		push := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.*")})
		e.create(t, notify, push)
		ms, err := e.St.MatchSubscriptions(e.Ctx, gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created"})
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
		switched.Mode, switched.UpdatedAt = gancho.ModePush, clock.Tick()
		if err := e.St.UpdateSubscription(e.Ctx, notify, switched); err != nil {
			t.Fatal(err)
		}
		ms, _ = e.St.MatchSubscriptions(e.Ctx, gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created"})
		for _, m := range ms {
			if m.Mode != "" {
				t.Fatalf("after switching to push: %+v", ms)
			}
		}
	}},
}
