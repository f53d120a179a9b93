package dynamo_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// storeEnv is one test's view of the emulated table.
type storeEnv struct {
	ctx   context.Context
	st    *dynamo.Store
	db    *dynamodb.Client
	table string
}

func newStoreEnv(t *testing.T) storeEnv {
	t.Helper()
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return storeEnv{ctx: ctx, st: c.Store, db: c.DynamoDB, table: cfg.TableName}
}

// subClock hands out strictly increasing creation times, so ids sort in creation order.
type subClock struct{ next time.Time }

func newSubClock() *subClock {
	return &subClock{next: time.Now().UTC().Truncate(time.Millisecond)}
}

func (c *subClock) tick() time.Time {
	c.next = c.next.Add(2 * time.Millisecond)
	return c.next
}

// newSub validates in (with a default URL) and stamps it like the API does.
func newSub(t *testing.T, tenant string, clock *subClock, in gancho.SubscriptionInput) gancho.Subscription {
	t.Helper()
	if in.URL == nil {
		u := "https://client.example/hooks"
		in.URL = &u
	}
	sub, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	now := clock.tick()
	sub.ID = gancho.NewID(gancho.PrefixSubscription, now)
	sub.TenantID = tenant
	sub.Secret = gancho.NewSecret()
	sub.CreatedAt, sub.UpdatedAt = now, now
	return sub
}

func (e storeEnv) create(t *testing.T, subs ...gancho.Subscription) {
	t.Helper()
	for _, sub := range subs {
		if err := e.st.CreateSubscription(e.ctx, sub); err != nil {
			t.Fatalf("create %s: %v", sub.ID, err)
		}
	}
}

func strp(v string) *string       { return &v }
func listp(v ...string) *[]string { return &v }

func ids(subs []gancho.Subscription) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.ID
	}
	return out
}

func reversed(v []string) []string {
	out := slices.Clone(v)
	slices.Reverse(out)
	return out
}

func wantKind(t *testing.T, err error, kind gancho.Kind) {
	t.Helper()
	var ge *gancho.Error
	if !errors.As(err, &ge) || ge.Kind != kind {
		t.Fatalf("error %v (%T), want *gancho.Error of kind %d", err, err, kind)
	}
}

func TestSubscriptionCreateGet(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	sub := newSub(t, tenant, clock, gancho.SubscriptionInput{
		Name: strp("CRM"), Description: strp("why"), URL: strp("https://client.example/hooks/:id?x=1"),
		Method: strp("PUT"), Events: listp("crm.lead.created", "crm.*"), OwnerID: strp("office-42"),
		Context: strp("doc-signature"), Headers: map[string]string{"X-Custom": "v", "Content-Type": "application/json"},
		Format: strp("raw"), TimeoutSeconds: aws.Int(7), RetrySchedule: &[]int{1, 2, 3},
		Metadata: json.RawMessage(`{"team":"crm","n":[1,2]}`),
	})
	minimal := newSub(t, tenant, clock, gancho.SubscriptionInput{})
	e.create(t, sub, minimal)

	for _, want := range []gancho.Subscription{sub, minimal} {
		t.Run("get "+want.Name, func(t *testing.T) {
			got, err := e.st.GetSubscription(e.ctx, tenant, want.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back\n%+v\nwant\n%+v", got, want)
			}
		})
	}
	t.Run("secret sealed at rest", func(t *testing.T) {
		res, err := e.db.GetItem(e.ctx, &dynamodb.GetItemInput{TableName: &e.table, ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{
				"pk": &types.AttributeValueMemberS{Value: "T#" + tenant + "#S#" + sub.ID},
				"sk": &types.AttributeValueMemberS{Value: "S"},
			}})
		if err != nil || res.Item == nil {
			t.Fatalf("raw item: %v", err)
		}
		stored, ok := res.Item["secret"].(*types.AttributeValueMemberS)
		if !ok || stored.Value == "" {
			t.Fatalf("no stored secret: %v", res.Item["secret"])
		}
		raw := strings.TrimPrefix(sub.Secret, signature.SecretPrefix)
		if strings.Contains(stored.Value, raw) {
			t.Errorf("the secret is stored in the clear")
		}
	})
	t.Run("create twice", func(t *testing.T) {
		if err := e.st.CreateSubscription(e.ctx, sub); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("second create: %v, want ErrConflict", err)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := e.st.GetSubscription(e.ctx, tenant, "sub_unknown"); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("err %v, want ErrNotFound", err)
		}
	})
	t.Run("other tenant", func(t *testing.T) {
		if _, err := e.st.GetSubscription(e.ctx, testenv.TenantID(), sub.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("err %v, want ErrNotFound", err)
		}
	})
}

func TestListSubscriptionsPaging(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	var created []string
	for range 7 {
		sub := newSub(t, tenant, clock, gancho.SubscriptionInput{})
		e.create(t, sub)
		created = append(created, sub.ID)
	}
	newestFirst := reversed(created)

	t.Run("one page", func(t *testing.T) {
		got, next, err := e.st.ListSubscriptions(e.ctx, tenant, dynamo.SubscriptionFilter{}, dynamo.Page{Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), newestFirst) || next != "" {
			t.Errorf("ids %q next %q, want %q and no cursor", ids(got), next, newestFirst)
		}
	})
	t.Run("three pages of 3", func(t *testing.T) {
		var all []string
		var sizes []int
		cursor := ""
		for page := 0; ; page++ {
			if page > 5 {
				t.Fatal("paging does not end")
			}
			got, next, err := e.st.ListSubscriptions(e.ctx, tenant, dynamo.SubscriptionFilter{}, dynamo.Page{Limit: 3, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(got))
			all = append(all, ids(got)...)
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(all, newestFirst) {
			t.Errorf("paged ids %q, want %q (no duplicates, no gaps)", all, newestFirst)
		}
		if !slices.Equal(sizes, []int{3, 3, 1}) {
			t.Errorf("page sizes %v, want [3 3 1]", sizes)
		}
	})
	t.Run("cursor of another tenant", func(t *testing.T) {
		_, cursor, err := e.st.ListSubscriptions(e.ctx, tenant, dynamo.SubscriptionFilter{}, dynamo.Page{Limit: 2})
		if err != nil || cursor == "" {
			t.Fatalf("first page: cursor %q, %v", cursor, err)
		}
		other := testenv.TenantID()
		got, _, err := e.st.ListSubscriptions(e.ctx, other, dynamo.SubscriptionFilter{}, dynamo.Page{Limit: 2, Cursor: cursor})
		if len(got) != 0 {
			t.Errorf("another tenant's cursor returned %d subscriptions", len(got))
		}
		wantKind(t, err, gancho.KindBadRequest)
	})
	for name, cursor := range map[string]string{
		"garbage":             "not a cursor!",
		"base64 of non-JSON":  base64.RawURLEncoding.EncodeToString([]byte("hello")),
		"JSON without a key":  base64.RawURLEncoding.EncodeToString([]byte(`{}`)),
		"std base64 padding":  base64.StdEncoding.EncodeToString([]byte(`{"gsi1pk":"x"}`)),
		"partition only":      base64.RawURLEncoding.EncodeToString([]byte(`{"gsi1pk":"T#` + tenant + `#S"}`)),
		"partition and extra": base64.RawURLEncoding.EncodeToString([]byte(`{"gsi1pk":"T#` + tenant + `#S","gsi1sk":"x","pk":"x","sk":"x","zz":"x"}`)),
	} {
		t.Run("cursor "+name, func(t *testing.T) {
			got, _, err := e.st.ListSubscriptions(e.ctx, tenant, dynamo.SubscriptionFilter{}, dynamo.Page{Limit: 2, Cursor: cursor})
			if len(got) != 0 {
				t.Errorf("returned %d subscriptions", len(got))
			}
			wantKind(t, err, gancho.KindBadRequest)
		})
	}
}

func TestListSubscriptionsFilters(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	mk := func(in gancho.SubscriptionInput) string {
		sub := newSub(t, tenant, clock, in)
		e.create(t, sub)
		return sub.ID
	}
	a := mk(gancho.SubscriptionInput{OwnerID: strp("o1"), Events: listp("crm.lead.created")})
	b := mk(gancho.SubscriptionInput{OwnerID: strp("o2"), Events: listp("crm.*")})
	c := mk(gancho.SubscriptionInput{OwnerID: strp("o1"), Events: listp("billing.paid", "crm.lead.created"), IsActive: aws.Bool(false)})
	d := mk(gancho.SubscriptionInput{})
	f := mk(gancho.SubscriptionInput{OwnerID: strp("o1")})
	g := mk(gancho.SubscriptionInput{OwnerID: strp("o1"), IsActive: aws.Bool(false)})
	// Another tenant's subscriptions never show.
	other := testenv.TenantID()
	e.create(t, newSub(t, other, clock, gancho.SubscriptionInput{OwnerID: strp("o1"), Events: listp("crm.lead.created")}))

	cases := []struct {
		name   string
		filter dynamo.SubscriptionFilter
		want   []string
	}{
		{"none", dynamo.SubscriptionFilter{}, []string{g, f, d, c, b, a}},
		{"owner", dynamo.SubscriptionFilter{OwnerID: "o1"}, []string{g, f, c, a}},
		{"unknown owner", dynamo.SubscriptionFilter{OwnerID: "o9"}, nil},
		{"event", dynamo.SubscriptionFilter{Event: "crm.lead.created"}, []string{c, a}},
		{"event pattern", dynamo.SubscriptionFilter{Event: "crm.*"}, []string{b}},
		{"active", dynamo.SubscriptionFilter{IsActive: aws.Bool(true)}, []string{f, d, b, a}},
		{"inactive", dynamo.SubscriptionFilter{IsActive: aws.Bool(false)}, []string{g, c}},
		{"owner and active", dynamo.SubscriptionFilter{OwnerID: "o1", IsActive: aws.Bool(true)}, []string{f, a}},
		{"owner, event and inactive", dynamo.SubscriptionFilter{OwnerID: "o1", Event: "crm.lead.created", IsActive: aws.Bool(false)}, []string{c}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := e.st.ListSubscriptions(e.ctx, tenant, tc.filter, dynamo.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) || next != "" {
				t.Errorf("ids %q next %q, want %q", ids(got), next, tc.want)
			}
		})
		t.Run(tc.name+" paged by 1", func(t *testing.T) {
			var all []string
			cursor := ""
			for page := 0; page < 10; page++ {
				got, next, err := e.st.ListSubscriptions(e.ctx, tenant, tc.filter, dynamo.Page{Limit: 1, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				if len(got) > 1 {
					t.Fatalf("page of %d with limit 1", len(got))
				}
				all = append(all, ids(got)...)
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(all, tc.want) {
				t.Errorf("paged ids %q, want %q", all, tc.want)
			}
		})
	}
}

func TestDeleteSubscription(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	keep := newSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.lead.created")})
	gone := newSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.lead.created", "crm.*", "*"), OwnerID: strp("o1")})
	e.create(t, keep, gone)
	ev := gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created", OwnerID: "o1"}

	before, err := e.st.MatchSubscriptions(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(before); !sameSet(got, []string{keep.ID, gone.ID}) {
		t.Fatalf("before delete: matched %q", got)
	}
	if err := e.st.DeleteSubscription(e.ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.GetSubscription(e.ctx, tenant, gone.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}
	after, err := e.st.MatchSubscriptions(e.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(after); !sameSet(got, []string{keep.ID}) {
		t.Errorf("after delete: matched %q, want only %q", got, keep.ID)
	}
	bcast := ev
	bcast.OwnerID = gancho.BroadcastOwner
	after, err = e.st.MatchSubscriptions(e.ctx, bcast)
	if err != nil {
		t.Fatal(err)
	}
	if got := matchIDs(after); !sameSet(got, []string{keep.ID}) {
		t.Errorf("broadcast after delete: matched %q, want only %q", got, keep.ID)
	}
	list, _, err := e.st.ListSubscriptions(e.ctx, tenant, dynamo.SubscriptionFilter{}, dynamo.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(list), []string{keep.ID}) {
		t.Errorf("list after delete: %q", ids(list))
	}
	// No match entry is left behind under any of its patterns.
	for _, p := range gone.Events {
		res, err := e.db.Query(e.ctx, &dynamodb.QueryInput{
			TableName:                 &e.table,
			KeyConditionExpression:    aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "T#" + tenant + "#M#" + p}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if sk := it["sk"].(*types.AttributeValueMemberS).Value; strings.HasSuffix(sk, gone.ID) {
				t.Errorf("match entry %s / %s left behind", p, sk)
			}
		}
	}
	if err := e.st.DeleteSubscription(e.ctx, gone); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func matchIDs(ms []dynamo.Match) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.SubscriptionID
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestMatchSubscriptions(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant, other := testenv.TenantID(), testenv.TenantID()
	clock := newSubClock()
	named := map[string]gancho.Subscription{}
	add := func(tenantID, name string, in gancho.SubscriptionInput) {
		sub := newSub(t, tenantID, clock, in)
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
	add(tenant, "inactive", gancho.SubscriptionInput{Events: listp("*"), IsActive: aws.Bool(false)})
	add(tenant, "inactiveOwner", gancho.SubscriptionInput{Events: listp("crm.lead.created"), OwnerID: strp("o1"), IsActive: aws.Bool(false)})
	add(tenant, "deep", gancho.SubscriptionInput{Events: listp("a.b.c.*")})
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: tc.typ, OwnerID: tc.owner, Context: tc.evCtx}
			ms, err := e.st.MatchSubscriptions(e.ctx, ev)
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
}

func newEvent(tenant string, now time.Time, payload string) gancho.Event {
	return gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: tenant, Type: "crm.lead.created",
		CreatedAt: now.UTC(), OwnerID: "user-7", Context: "doc", Subject: "s-1",
		Reference: &gancho.Reference{Type: "request", ID: "r-1"}, Payload: json.RawMessage(payload)}
}

func newDelivery(ev gancho.Event, subID string) gancho.Delivery {
	return gancho.Delivery{ID: gancho.DeliveryID(ev.ID, subID), TenantID: ev.TenantID, EventID: ev.ID, SubscriptionID: subID,
		EventType: ev.Type, OwnerID: ev.OwnerID, Status: gancho.StatusPending, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt}
}

// An event's deliveries (index gsi2) and a subscription's (gsi1) page with the
// cursor each page returns, like every other list.
func TestListDeliveriesPaging(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	var subs []gancho.Subscription
	for range 3 {
		subs = append(subs, newSub(t, tenant, clock, gancho.SubscriptionInput{}))
	}
	e.create(t, subs...)
	ev := newEvent(tenant, time.Now(), `{}`)
	var dlvs []gancho.Delivery
	for _, sub := range subs {
		dlvs = append(dlvs, newDelivery(ev, sub.ID))
	}
	if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, dlvs...)); err != nil {
		t.Fatal(err)
	}
	// The event lists the three, pending or not; a subscription's list has a
	// delivery from its first outcome.
	if err := e.st.SetDeliveryStatus(e.ctx, dlvs[0], gancho.StatusCancelled); err != nil {
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
				got, next, err := e.st.ListDeliveries(e.ctx, tenant, tc.bySub, tc.id, dynamo.DeliveryFilter{}, dynamo.Page{Limit: 1, Cursor: cursor})
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
}

func TestCreateEventAndLoadDeliveryBatch(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	subA := newSub(t, tenant, clock, gancho.SubscriptionInput{})
	subB := newSub(t, tenant, clock, gancho.SubscriptionInput{Format: strp("raw")})
	e.create(t, subA, subB)
	const payload = "{ \"lead\" :  {\"id\": 1,\n \"name\": \"Jo\u00e3o \\u00e9\"},  \"tags\": [ ] }"
	ev := newEvent(tenant, time.Now(), payload)
	dA, dB := newDelivery(ev, subA.ID), newDelivery(ev, subB.ID)
	ev = testenv.Queued(ev, dA, dB)
	if err := e.st.CreateEvent(e.ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateEvent(e.ctx, ev); !errors.Is(err, gancho.ErrConflict) {
		t.Errorf("second CreateEvent: %v, want ErrConflict", err)
	}

	refs := []dynamo.DeliveryRef{
		{TenantID: tenant, DeliveryID: dA.ID, EventID: ev.ID, SubscriptionID: subA.ID},
		{TenantID: tenant, DeliveryID: dB.ID, EventID: ev.ID, SubscriptionID: subB.ID},
		{TenantID: tenant, DeliveryID: "dlv_missing", EventID: "evt_missing", SubscriptionID: "sub_missing"},
		// The same ids under another tenant are not found.
		{TenantID: testenv.TenantID(), DeliveryID: dA.ID + "x", EventID: ev.ID + "x", SubscriptionID: subA.ID + "x"},
	}
	b, err := e.st.LoadDeliveryBatch(e.ctx, refs)
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
		b, err := e.st.LoadDeliveryBatch(e.ctx, nil)
		if err != nil || len(b.Deliveries)+len(b.Events)+len(b.Subscriptions) != 0 {
			t.Errorf("empty batch: %+v, %v", b, err)
		}
	})
	t.Run("GetEvent", func(t *testing.T) {
		got, err := e.st.GetEvent(e.ctx, tenant, ev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("event\n%+v\nwant\n%+v", got, ev)
		}
		if _, err := e.st.GetEvent(e.ctx, testenv.TenantID(), ev.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("other tenant: %v, want ErrNotFound", err)
		}
	})
	t.Run("GetDelivery", func(t *testing.T) {
		got, err := e.st.GetDelivery(e.ctx, tenant, dA.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := dA
		want.Attempts = []gancho.Attempt{}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("delivery\n%+v\nwant\n%+v", got, want)
		}
		if _, err := e.st.GetDelivery(e.ctx, testenv.TenantID(), dA.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("other tenant: %v, want ErrNotFound", err)
		}
		other := gancho.DeliveryID(ev.ID, gancho.NewID(gancho.PrefixSubscription, time.Now()))
		if _, err := e.st.GetDelivery(e.ctx, tenant, other); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("a subscription the event did not go to: %v, want ErrNotFound", err)
		}
	})
	t.Run("the first outcome writes the record", func(t *testing.T) {
		if err := e.st.SetDeliveryStatus(e.ctx, dA, gancho.StatusCancelled); err != nil {
			t.Fatal(err)
		}
		if err := e.st.SetDeliveryStatus(e.ctx, dA, gancho.StatusCancelled); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("a second first outcome: %v, want ErrConflict", err)
		}
		b, err := e.st.LoadDeliveryBatch(e.ctx, refs[:2])
		if err != nil {
			t.Fatal(err)
		}
		got, ok := b.Deliveries[dA.ID]
		if len(b.Deliveries) != 1 || !ok || got.Status != gancho.StatusCancelled || !got.Recorded || got.SubscriptionID != subA.ID {
			t.Errorf("after dA's outcome: %+v", b.Deliveries)
		}
	})
}

func TestLoadDeliveryBatchManyRefs(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	sub := newSub(t, tenant, clock, gancho.SubscriptionInput{})
	e.create(t, sub)
	// 60 events of one delivery each: 121 distinct keys, more than one BatchGetItem.
	var refs []dynamo.DeliveryRef
	for i := range 60 {
		ev := newEvent(tenant, time.Now().Add(time.Duration(i)*time.Millisecond), fmt.Sprintf(`{"i":%d}`, i))
		d := newDelivery(ev, sub.ID)
		if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, d)); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, dynamo.DeliveryRef{TenantID: tenant, DeliveryID: d.ID, EventID: ev.ID, SubscriptionID: sub.ID})
	}
	b, err := e.st.LoadDeliveryBatch(e.ctx, refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Deliveries) != 0 || len(b.Events) != 60 || len(b.Subscriptions) != 1 {
		t.Errorf("loaded %d deliveries, %d events, %d subscriptions; want 0 (no outcome yet), 60, 1", len(b.Deliveries), len(b.Events), len(b.Subscriptions))
	}
}

func TestRecordAttempt(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	ev := newEvent(tenant, time.Now(), `{}`)
	d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
	if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, d)); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	a1 := gancho.Attempt{Number: 1, At: at, StatusCode: 500, DurationMs: 12, Response: "boom", Outcome: gancho.OutcomeFailure}
	next := at.Add(5 * time.Second)

	if err := e.st.RecordAttempt(e.ctx, d, a1, gancho.StatusRetrying, &next, false); err != nil {
		t.Fatalf("attempt 1: %v", err)
	}
	d.Recorded = true // the first outcome wrote the record
	got, err := e.st.GetDelivery(e.ctx, tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != gancho.StatusRetrying || len(got.Attempts) != 1 || !reflect.DeepEqual(got.Attempts[0], a1) ||
		got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(next) {
		t.Errorf("after attempt 1: %+v", got)
	}

	dup := a1
	dup.Response = "duplicate"
	if err := e.st.RecordAttempt(e.ctx, d, dup, gancho.StatusDelivered, nil, false); !errors.Is(err, gancho.ErrConflict) {
		t.Errorf("attempt 1 again: %v, want ErrConflict", err)
	}
	skip := gancho.Attempt{Number: 3, At: at, Outcome: gancho.OutcomeSuccess}
	if err := e.st.RecordAttempt(e.ctx, d, skip, gancho.StatusDelivered, nil, false); !errors.Is(err, gancho.ErrConflict) {
		t.Errorf("attempt 3 before 2: %v, want ErrConflict", err)
	}
	got, err = e.st.GetDelivery(e.ctx, tenant, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attempts) != 1 || got.Attempts[0].Response != "boom" || got.Status != gancho.StatusRetrying {
		t.Errorf("conflicting attempts changed the delivery: %+v", got)
	}

	a2 := gancho.Attempt{Number: 2, At: at.Add(6 * time.Second), StatusCode: 200, DurationMs: 3, Response: "ok", Outcome: gancho.OutcomeSuccess}
	if err := e.st.RecordAttempt(e.ctx, d, a2, gancho.StatusDelivered, nil, false); err != nil {
		t.Fatalf("attempt 2: %v", err)
	}
	got, err = e.st.GetDelivery(e.ctx, tenant, d.ID)
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
		if err := e.st.SetDeliveryStatus(e.ctx, d, gancho.StatusCancelled); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("err %v, want ErrConflict", err)
		}
		got, err := e.st.GetDelivery(e.ctx, tenant, d.ID)
		if err != nil || got.Status != gancho.StatusDelivered {
			t.Errorf("status %q (%v), want delivered", got.Status, err)
		}
	})
}

func TestSetDeliveryStatus(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	ev := newEvent(tenant, time.Now(), `{}`)
	d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
	if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, d)); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDeliveryStatus(e.ctx, d, gancho.StatusCancelled); err != nil {
		t.Fatalf("cancel a pending delivery: %v", err)
	}
	got, err := e.st.GetDelivery(e.ctx, tenant, d.ID)
	if err != nil || got.Status != gancho.StatusCancelled {
		t.Fatalf("status %q (%v), want cancelled", got.Status, err)
	}
	for _, status := range []string{gancho.StatusCancelled, gancho.StatusFailed, gancho.StatusPending} {
		if err := e.st.SetDeliveryStatus(e.ctx, d, status); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("%s after cancelled: %v, want ErrConflict", status, err)
		}
	}
}

func TestRecordSubscriptionOutcome(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	sub := newSub(t, tenant, clock, gancho.SubscriptionInput{})
	e.create(t, sub)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	long := strings.Repeat("r", 3000)

	steps := []struct {
		name     string
		a        gancho.Attempt
		failures int
		failing  *time.Time
		code     int
		resp     string
		success  *time.Time
	}{
		{"first failure", gancho.Attempt{Number: 1, At: t0, StatusCode: 500, Response: "boom", Outcome: gancho.OutcomeFailure},
			1, &t0, 500, "boom", nil},
		{"second failure keeps failingSince", gancho.Attempt{Number: 2, At: t0.Add(time.Minute), StatusCode: 503, Response: long, Outcome: gancho.OutcomeFailure},
			2, &t0, 503, long[:1024], nil},
		{"success clears", gancho.Attempt{Number: 3, At: t0.Add(2 * time.Minute), StatusCode: 200, Response: "ok", Outcome: gancho.OutcomeSuccess},
			0, nil, 200, "ok", ptrTime(t0.Add(2 * time.Minute))},
		{"network failure after success", gancho.Attempt{Number: 1, At: t0.Add(3 * time.Minute), Error: "timeout", Outcome: gancho.OutcomeFailure},
			1, ptrTime(t0.Add(3 * time.Minute)), 0, "", ptrTime(t0.Add(2 * time.Minute))},
	}
	for _, step := range steps {
		if err := e.st.RecordSubscriptionOutcome(e.ctx, tenant, sub.ID, outcomeOf(step.a)); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := e.st.GetSubscription(e.ctx, tenant, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		st := got.Status
		if st.ConsecutiveFailures != step.failures {
			t.Errorf("%s: consecutiveFailures %d, want %d", step.name, st.ConsecutiveFailures, step.failures)
		}
		if !timeEq(st.FailingSince, step.failing) {
			t.Errorf("%s: failingSince %v, want %v", step.name, st.FailingSince, step.failing)
		}
		if st.LastStatusCode != step.code || st.LastResponse != step.resp {
			t.Errorf("%s: lastStatusCode %d lastResponse %d bytes, want %d and %d bytes", step.name, st.LastStatusCode, len(st.LastResponse), step.code, len(step.resp))
		}
		if !timeEq(st.LastAttemptAt, &step.a.At) {
			t.Errorf("%s: lastAttemptAt %v, want %v", step.name, st.LastAttemptAt, step.a.At)
		}
		if !timeEq(st.LastSuccessAt, step.success) {
			t.Errorf("%s: lastSuccessAt %v, want %v", step.name, st.LastSuccessAt, step.success)
		}
		// The rest of the subscription is untouched.
		got.Status = gancho.Status{}
		if !reflect.DeepEqual(got, sub) {
			t.Errorf("%s: subscription changed beyond its status:\n%+v", step.name, got)
		}
	}

	t.Run("lastResponse is cut on a character boundary", func(t *testing.T) {
		resp := strings.Repeat("a", 1023) + "é" + strings.Repeat("b", 100)
		a := gancho.Attempt{Number: 1, At: time.Now().UTC(), StatusCode: 500, Response: resp, Outcome: gancho.OutcomeFailure}
		if err := e.st.RecordSubscriptionOutcome(e.ctx, tenant, sub.ID, outcomeOf(a)); err != nil {
			t.Fatal(err)
		}
		got, err := e.st.GetSubscription(e.ctx, tenant, sub.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r := got.LastResponse; !utf8.ValidString(r) || len(r) > 1024 || !strings.HasPrefix(resp, r) {
			t.Errorf("lastResponse of %d bytes ends %q (valid UTF-8 %v), want a prefix of the response of at most 1024 bytes",
				len(r), r[max(0, len(r)-4):], utf8.ValidString(r))
		}
	})

	t.Run("deleted subscription", func(t *testing.T) {
		gone := newSub(t, tenant, clock, gancho.SubscriptionInput{})
		e.create(t, gone)
		if err := e.st.DeleteSubscription(e.ctx, gone); err != nil {
			t.Fatal(err)
		}
		a := gancho.Attempt{Number: 1, At: time.Now(), StatusCode: 500, Outcome: gancho.OutcomeFailure}
		if err := e.st.RecordSubscriptionOutcome(e.ctx, tenant, gone.ID, outcomeOf(a)); err != nil {
			t.Errorf("outcome of a deleted subscription: %v, want nil", err)
		}
		if _, err := e.st.GetSubscription(e.ctx, tenant, gone.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("the outcome brought the subscription back: %v", err)
		}
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}

func TestExpiredItemsAreNotFound(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	ev := newEvent(tenant, time.Now(), `{"a":1}`)
	d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
	if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, d)); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDeliveryStatus(e.ctx, d, gancho.StatusCancelled); err != nil { // writes its record
		t.Fatal(err)
	}
	if _, err := e.st.GetEvent(e.ctx, tenant, ev.ID); err != nil {
		t.Fatalf("fresh event: %v", err)
	}
	if _, err := e.st.GetDelivery(e.ctx, tenant, d.ID); err != nil {
		t.Fatalf("fresh delivery: %v", err)
	}
	// Items expire after the default retention; the store has no knob for it, so move
	// expiresAt into the past directly (keys as documented in store.go).
	keys := map[string]map[string]types.AttributeValue{
		"event":    {"pk": &types.AttributeValueMemberS{Value: "T#" + tenant + "#E"}, "sk": &types.AttributeValueMemberS{Value: ev.ID}},
		"delivery": {"pk": &types.AttributeValueMemberS{Value: "T#" + tenant + "#S#" + d.SubscriptionID + "#D"}, "sk": &types.AttributeValueMemberS{Value: d.ID}},
	}
	for what, k := range keys {
		res, err := e.db.GetItem(e.ctx, &dynamodb.GetItemInput{TableName: &e.table, Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		exp, ok := res.Item["expiresAt"].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("%s has no numeric expiresAt: %v", what, res.Item["expiresAt"])
		}
		sec, _ := strconv.ParseInt(exp.Value, 10, 64)
		if want := ev.CreatedAt.Add(dynamo.DefaultRetention).Unix(); sec != want {
			t.Errorf("%s expiresAt %d, want createdAt + retention %d", what, sec, want)
		}
		_, err = e.db.UpdateItem(e.ctx, &dynamodb.UpdateItemInput{
			TableName: &e.table, Key: k, UpdateExpression: aws.String("SET expiresAt = :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.GetEvent(e.ctx, tenant, ev.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("expired event: %v, want ErrNotFound", err)
	}
	if _, err := e.st.GetDelivery(e.ctx, tenant, d.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("expired delivery: %v, want ErrNotFound", err)
	}
}

// outcomeOf is the batch outcome of a single attempt.
func outcomeOf(a gancho.Attempt) dynamo.Outcome {
	var o dynamo.Outcome
	o.Add(a)
	return o
}

// A batch's attempts fold into one outcome: failures after the last success count.
func TestOutcomeFolding(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int, ok bool) gancho.Attempt {
		a := gancho.Attempt{At: t0.Add(time.Duration(s) * time.Second), Outcome: gancho.OutcomeFailure, StatusCode: 500}
		if ok {
			a.Outcome, a.StatusCode = gancho.OutcomeSuccess, 200
		}
		return a
	}
	var o dynamo.Outcome
	for _, a := range []gancho.Attempt{at(1, false), at(2, true), at(3, false), at(4, false)} {
		o.Add(a)
	}
	if o.LastSuccess == nil || !o.LastSuccess.Equal(t0.Add(2*time.Second)) || o.Failures != 2 ||
		!o.FirstFailure.Equal(t0.Add(3*time.Second)) || o.Last.StatusCode != 500 {
		t.Fatalf("outcome = %+v", o)
	}
}

// A subscription's deliveries merge its records with its pending deliveries (no
// record yet, listed by their events), newest first, across pages and filters.
func TestListSubscriptionDeliveriesMergesPending(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	clock := newSubClock()
	sub, other := newSub(t, tenant, clock, gancho.SubscriptionInput{}), newSub(t, tenant, clock, gancho.SubscriptionInput{})
	e.create(t, sub, other)
	base := time.Now().Add(-time.Minute)
	var ids []string // newest first
	recorded := map[string]bool{}
	for i := range 7 {
		ev := newEvent(tenant, base.Add(time.Duration(i)*time.Second), `{}`)
		d, o := newDelivery(ev, sub.ID), newDelivery(ev, other.ID)
		if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, d, o)); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 { // events 0, 3, 6 have an outcome
			if err := e.st.SetDeliveryStatus(e.ctx, d, gancho.StatusCancelled); err != nil {
				t.Fatal(err)
			}
			recorded[d.ID] = true
		}
		ids = append([]string{d.ID}, ids...)
	}
	// An event that did not go to sub is not listed.
	if err := e.st.CreateEvent(e.ctx, testenv.Queued(newEvent(tenant, base.Add(3500*time.Millisecond), `{}`))); err != nil {
		t.Fatal(err)
	}
	list := func(f dynamo.DeliveryFilter, limit int) []gancho.Delivery {
		t.Helper()
		var all []gancho.Delivery
		cursor := ""
		for page := 0; page < 20; page++ {
			got, next, err := e.st.ListDeliveries(e.ctx, tenant, true, sub.ID, f, dynamo.Page{Limit: limit, Cursor: cursor})
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
			got := list(dynamo.DeliveryFilter{Status: tc.status}, limit)
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
}
