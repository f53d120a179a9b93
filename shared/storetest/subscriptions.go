package storetest

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func ids(subs []gancho.Subscription) []string {
	out := make([]string, len(subs))
	for i, s := range subs {
		out[i] = s.ID
	}
	return out
}

func intp(v int) *int { return &v }

func ptrTime(t time.Time) *time.Time { return &t }

func timeEq(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// outcomeOf is the batch outcome of a single attempt.
func outcomeOf(a gancho.Attempt) gancho.Outcome {
	var o gancho.Outcome
	o.Add(a)
	return o
}

var subscriptionCases = []Case{
	{"create and read back; create twice, unknown and foreign ids", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		sub := NewSub(t, tenant, clock, gancho.SubscriptionInput{
			Name: strp("CRM"), Description: strp("why"), URL: strp("https://client.example/hooks/:id?x=1"),
			Method: strp("PUT"), Events: listp("crm.lead.created", "crm.*"), OwnerID: strp("office-42"),
			Context: strp("doc-signature"), Headers: map[string]string{"X-Custom": "v", "Content-Type": "application/json"},
			Format: strp("raw"), TimeoutSeconds: intp(7), RetrySchedule: &[]int{1, 2, 3},
			Metadata: json.RawMessage(`{"team":"crm","n":[1,2]}`),
		})
		minimal := NewSub(t, tenant, clock, gancho.SubscriptionInput{})
		e.create(t, sub, minimal)

		for _, want := range []gancho.Subscription{sub, minimal} {
			t.Run("get "+want.Name, func(t *testing.T) {
				got, err := e.St.GetSubscription(e.Ctx, tenant, want.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("read back\n%+v\nwant\n%+v", got, want)
				}
			})
		}
		t.Run("create twice", func(t *testing.T) {
			if err := e.St.CreateSubscription(e.Ctx, sub); !errors.Is(err, gancho.ErrConflict) {
				t.Errorf("second create: %v, want ErrConflict", err)
			}
		})
		t.Run("unknown id", func(t *testing.T) {
			if _, err := e.St.GetSubscription(e.Ctx, tenant, "sub_unknown"); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("err %v, want ErrNotFound", err)
			}
		})
		t.Run("other tenant", func(t *testing.T) {
			if _, err := e.St.GetSubscription(e.Ctx, TenantID(), sub.ID); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("err %v, want ErrNotFound", err)
			}
		})
	}},
	{"list pages newest first; cursors of other lists refused", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		var created []string
		for range 7 {
			sub := NewSub(t, tenant, clock, gancho.SubscriptionInput{})
			e.create(t, sub)
			created = append(created, sub.ID)
		}
		newestFirst := reversed(created)

		t.Run("one page", func(t *testing.T) {
			got, next, err := e.St.ListSubscriptions(e.Ctx, tenant, gancho.SubscriptionFilter{}, gancho.Page{Limit: 20})
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
				got, next, err := e.St.ListSubscriptions(e.Ctx, tenant, gancho.SubscriptionFilter{}, gancho.Page{Limit: 3, Cursor: cursor})
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
			_, cursor, err := e.St.ListSubscriptions(e.Ctx, tenant, gancho.SubscriptionFilter{}, gancho.Page{Limit: 2})
			if err != nil || cursor == "" {
				t.Fatalf("first page: cursor %q, %v", cursor, err)
			}
			other := TenantID()
			got, _, err := e.St.ListSubscriptions(e.Ctx, other, gancho.SubscriptionFilter{}, gancho.Page{Limit: 2, Cursor: cursor})
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
				got, _, err := e.St.ListSubscriptions(e.Ctx, tenant, gancho.SubscriptionFilter{}, gancho.Page{Limit: 2, Cursor: cursor})
				if len(got) != 0 {
					t.Errorf("returned %d subscriptions", len(got))
				}
				wantKind(t, err, gancho.KindBadRequest)
			})
		}
	}},
	{"list filters: owner, event, active", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		mk := func(in gancho.SubscriptionInput) string {
			sub := NewSub(t, tenant, clock, in)
			e.create(t, sub)
			return sub.ID
		}
		a := mk(gancho.SubscriptionInput{OwnerID: strp("o1"), Events: listp("crm.lead.created")})
		b := mk(gancho.SubscriptionInput{OwnerID: strp("o2"), Events: listp("crm.*")})
		c := mk(gancho.SubscriptionInput{OwnerID: strp("o1"), Events: listp("billing.paid", "crm.lead.created"), IsActive: boolp(false)})
		d := mk(gancho.SubscriptionInput{})
		f := mk(gancho.SubscriptionInput{OwnerID: strp("o1")})
		g := mk(gancho.SubscriptionInput{OwnerID: strp("o1"), IsActive: boolp(false)})
		// Another tenant's subscriptions never show.
		other := TenantID()
		e.create(t, NewSub(t, other, clock, gancho.SubscriptionInput{OwnerID: strp("o1"), Events: listp("crm.lead.created")}))

		cases := []struct {
			name   string
			filter gancho.SubscriptionFilter
			want   []string
		}{
			{"none", gancho.SubscriptionFilter{}, []string{g, f, d, c, b, a}},
			{"owner", gancho.SubscriptionFilter{OwnerID: "o1"}, []string{g, f, c, a}},
			{"unknown owner", gancho.SubscriptionFilter{OwnerID: "o9"}, nil},
			{"event", gancho.SubscriptionFilter{Event: "crm.lead.created"}, []string{c, a}},
			{"event pattern", gancho.SubscriptionFilter{Event: "crm.*"}, []string{b}},
			{"active", gancho.SubscriptionFilter{IsActive: boolp(true)}, []string{f, d, b, a}},
			{"inactive", gancho.SubscriptionFilter{IsActive: boolp(false)}, []string{g, c}},
			{"owner and active", gancho.SubscriptionFilter{OwnerID: "o1", IsActive: boolp(true)}, []string{f, a}},
			{"owner, event and inactive", gancho.SubscriptionFilter{OwnerID: "o1", Event: "crm.lead.created", IsActive: boolp(false)}, []string{c}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, next, err := e.St.ListSubscriptions(e.Ctx, tenant, tc.filter, gancho.Page{Limit: 100})
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
					got, next, err := e.St.ListSubscriptions(e.Ctx, tenant, tc.filter, gancho.Page{Limit: 1, Cursor: cursor})
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
	}},
	{"delete: gone from get, list and matching; twice is not found", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		keep := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.lead.created")})
		gone := NewSub(t, tenant, clock, gancho.SubscriptionInput{Events: listp("crm.lead.created", "crm.*", "*"), OwnerID: strp("o1")})
		e.create(t, keep, gone)
		ev := gancho.Event{TenantID: tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "crm.lead.created", OwnerID: "o1"}

		before, err := e.St.MatchSubscriptions(e.Ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchIDs(before); !sameSet(got, []string{keep.ID, gone.ID}) {
			t.Fatalf("before delete: matched %q", got)
		}
		if err := e.St.DeleteSubscription(e.Ctx, gone); err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.GetSubscription(e.Ctx, tenant, gone.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("get after delete: %v, want ErrNotFound", err)
		}
		after, err := e.St.MatchSubscriptions(e.Ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchIDs(after); !sameSet(got, []string{keep.ID}) {
			t.Errorf("after delete: matched %q, want only %q", got, keep.ID)
		}
		bcast := ev
		bcast.OwnerID = gancho.BroadcastOwner
		after, err = e.St.MatchSubscriptions(e.Ctx, bcast)
		if err != nil {
			t.Fatal(err)
		}
		if got := matchIDs(after); !sameSet(got, []string{keep.ID}) {
			t.Errorf("broadcast after delete: matched %q, want only %q", got, keep.ID)
		}
		list, _, err := e.St.ListSubscriptions(e.Ctx, tenant, gancho.SubscriptionFilter{}, gancho.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(list), []string{keep.ID}) {
			t.Errorf("list after delete: %q", ids(list))
		}
		if err := e.St.DeleteSubscription(e.Ctx, gone); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
	}},
	{"outcomes fold into the status block; a deleted subscription stays deleted", func(t *testing.T, e Env) {
		tenant := e.Tenant
		clock := NewClock()
		sub := NewSub(t, tenant, clock, gancho.SubscriptionInput{})
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
			if err := e.St.RecordSubscriptionOutcome(e.Ctx, tenant, sub.ID, outcomeOf(step.a)); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			got, err := e.St.GetSubscription(e.Ctx, tenant, sub.ID)
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
			if err := e.St.RecordSubscriptionOutcome(e.Ctx, tenant, sub.ID, outcomeOf(a)); err != nil {
				t.Fatal(err)
			}
			got, err := e.St.GetSubscription(e.Ctx, tenant, sub.ID)
			if err != nil {
				t.Fatal(err)
			}
			if r := got.LastResponse; !utf8.ValidString(r) || len(r) > 1024 || !strings.HasPrefix(resp, r) {
				t.Errorf("lastResponse of %d bytes ends %q (valid UTF-8 %v), want a prefix of the response of at most 1024 bytes",
					len(r), r[max(0, len(r)-4):], utf8.ValidString(r))
			}
		})

		t.Run("deleted subscription", func(t *testing.T) {
			gone := NewSub(t, tenant, clock, gancho.SubscriptionInput{})
			e.create(t, gone)
			if err := e.St.DeleteSubscription(e.Ctx, gone); err != nil {
				t.Fatal(err)
			}
			a := gancho.Attempt{Number: 1, At: time.Now(), StatusCode: 500, Outcome: gancho.OutcomeFailure}
			if err := e.St.RecordSubscriptionOutcome(e.Ctx, tenant, gone.ID, outcomeOf(a)); err != nil {
				t.Errorf("outcome of a deleted subscription: %v, want nil", err)
			}
			if _, err := e.St.GetSubscription(e.Ctx, tenant, gone.ID); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("the outcome brought the subscription back: %v", err)
			}
		})
	}},
	{"update writes only what changed: the status block and notice flag survive; a stale update conflicts", func(t *testing.T, e Env) {
		c := NewClock()
		sub := NewSub(t, e.Tenant, c, gancho.SubscriptionInput{Events: listp("crm.*")})
		e.create(t, sub)
		fail := gancho.Attempt{Number: 1, At: time.Now().UTC(), StatusCode: 500, Response: "boom", Outcome: gancho.OutcomeFailure}
		if err := e.St.RecordSubscriptionOutcome(e.Ctx, e.Tenant, sub.ID, outcomeOf(fail)); err != nil {
			t.Fatal(err)
		}
		if ok, err := e.St.ClaimNotice(e.Ctx, e.Tenant, sub.ID, "dlv_1", time.Now()); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		// An update from the read made before those writes.
		renamed := sub
		renamed.Name, renamed.Events, renamed.UpdatedAt = "renamed", []string{"billing.*"}, c.Tick()
		if err := e.St.UpdateSubscription(e.Ctx, sub, renamed); err != nil {
			t.Fatal(err)
		}
		got := e.getSub(t, sub.ID)
		if got.Name != "renamed" || !slices.Equal(got.Events, []string{"billing.*"}) || !got.UpdatedAt.Equal(renamed.UpdatedAt) {
			t.Errorf("after the update: %+v", got)
		}
		if got.ConsecutiveFailures != 1 || got.LastStatusCode != 500 || !got.NeedView || got.LastUpdateAt == nil {
			t.Errorf("the update lost what others wrote meanwhile: %+v", got.Status)
		}
		if ok, _ := e.St.ClaimNotice(e.Ctx, e.Tenant, sub.ID, "dlv_2", time.Now()); ok {
			t.Error("the update cleared the pending-notice flag")
		}
		// The match entries follow the new patterns.
		for typ, want := range map[string]int{"crm.lead.created": 0, "billing.paid": 1} {
			ms, err := e.St.MatchSubscriptions(e.Ctx, gancho.Event{TenantID: e.Tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: typ})
			if err != nil || len(ms) != want {
				t.Errorf("%s matches %d (%v), want %d", typ, len(ms), err, want)
			}
		}
		lost := sub
		lost.Name, lost.UpdatedAt = "lost", c.Tick()
		wantErr(t, "update from a stale read", e.St.UpdateSubscription(e.Ctx, sub, lost), gancho.ErrConflict)
		if got := e.getSub(t, sub.ID); got.Name != "renamed" {
			t.Errorf("name %q after a lost update", got.Name)
		}
		if err := e.St.DeleteSubscription(e.Ctx, renamed); err != nil {
			t.Fatal(err)
		}
		again := renamed
		again.UpdatedAt = c.Tick()
		wantErr(t, "update of a deleted subscription", e.St.UpdateSubscription(e.Ctx, renamed, again), gancho.ErrConflict)
		_, err := e.St.GetSubscription(e.Ctx, e.Tenant, sub.ID)
		wantErr(t, "get after a refused update", err, gancho.ErrNotFound)
	}},
	{"disable: with its reason, from a stale read too; a deleted one is not found", func(t *testing.T, e Env) {
		c := NewClock()
		sub := NewSub(t, e.Tenant, c, gancho.SubscriptionInput{Events: listp("*")})
		e.create(t, sub)
		renamed := sub
		renamed.Name, renamed.UpdatedAt = "renamed", c.Tick()
		if err := e.St.UpdateSubscription(e.Ctx, sub, renamed); err != nil {
			t.Fatal(err)
		}
		at := c.Tick()
		if err := e.St.DisableSubscription(e.Ctx, sub, "gone", at); err != nil {
			t.Fatalf("disable from a stale read: %v", err)
		}
		got := e.getSub(t, sub.ID)
		if got.IsActive || got.DisabledReason != "gone" || got.Name != "renamed" || !got.UpdatedAt.Equal(at) {
			t.Errorf("disabled: %+v", got)
		}
		ms, err := e.St.MatchSubscriptions(e.Ctx, gancho.Event{TenantID: e.Tenant, ID: gancho.NewID(gancho.PrefixEvent, time.Now()), Type: "a.b"})
		if err != nil || len(ms) != 0 {
			t.Errorf("a disabled subscription matches: %v %v", ms, err)
		}
		// Disabling an inactive copy changes nothing.
		if err := e.St.DisableSubscription(e.Ctx, got, "other", c.Tick()); err != nil {
			t.Fatal(err)
		}
		if again := e.getSub(t, sub.ID); again.DisabledReason != "gone" || !again.UpdatedAt.Equal(at) {
			t.Errorf("disabling an inactive subscription changed it: %+v", again)
		}
		other := NewSub(t, e.Tenant, c, gancho.SubscriptionInput{})
		e.create(t, other)
		if err := e.St.DeleteSubscription(e.Ctx, other); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "disable a deleted subscription", e.St.DisableSubscription(e.Ctx, other, "gone", c.Tick()), gancho.ErrNotFound)
	}},
}
