package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// resultsPage is the body of POST /v1/subscriptions/{id}/results.
type resultsPage struct {
	Data  []map[string]any `json:"data"`
	Total int              `json:"total"`
}

func (p resultsPage) ids() []string {
	out := []string{}
	for _, ev := range p.Data {
		out = append(out, fmt.Sprint(ev["id"]))
	}
	return out
}

// results calls POST results and wants a 200.
func (e *env) results(key, subID, query, body string) resultsPage {
	e.t.Helper()
	r := e.json("POST", "/v1/subscriptions/"+subID+"/results"+query, key, body)
	if r.status != 200 {
		e.t.Fatalf("results%s %s: %d %s", query, body, r.status, r.body)
	}
	var p resultsPage
	r.json(e.t, &p)
	if p.Data == nil {
		e.t.Fatalf("results without a data array: %s", r.body)
	}
	return p
}

func (e *env) needView(key, subID string) bool {
	e.t.Helper()
	r := e.call("GET", "/v1/subscriptions/"+subID+"/callback", key, "", "")
	if r.status != 200 {
		e.t.Fatalf("callback: %d %s", r.status, r.body)
	}
	var got map[string]any
	r.json(e.t, &got)
	v, ok := got["needView"].(bool)
	if !ok || len(got) != 1 {
		e.t.Fatalf("callback body %s, want {needView: bool}", r.body)
	}
	return v
}

// seedInbox stores one event per time (publishing cannot backdate) and records that
// it matched sub (push), as a fan-out would: a delivery record, then the event out of
// the outbox.
func seedInbox(t *testing.T, st testStore, tenant, sub string, at ...time.Time) []gancho.Event {
	t.Helper()
	ctx := context.Background()
	out := make([]gancho.Event, 0, len(at))
	for i, when := range at {
		ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, when), TenantID: tenant, Type: "order.created",
			CreatedAt: when.UTC(), OwnerID: "o1", Subject: fmt.Sprintf("s-%d", i),
			Reference: &gancho.Reference{Type: "request", ID: fmt.Sprintf("r-%d", i)},
			Payload:   json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, sub), TenantID: tenant, EventID: ev.ID, SubscriptionID: sub,
			EventType: ev.Type, OwnerID: ev.OwnerID, Status: gancho.StatusPending, CreatedAt: when.UTC(), UpdatedAt: when.UTC()}
		if err := st.CreateEvent(ctx, testenv.Queued(ev, d)); err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// waitPast waits until the clock is past the millisecond of each event id. A push
// subscription's new results stop at the fan-out horizon (now, as these tests set no
// settle time), which is exclusive: on a fast store a read in the same millisecond
// as the publish would not show it yet.
func waitPast(t *testing.T, ids ...string) {
	t.Helper()
	last := slices.Max(ids)
	deadline := time.Now().Add(time.Second)
	for gancho.IDFloor(gancho.PrefixEvent, time.Now()) <= last {
		if time.Now().After(deadline) {
			t.Fatalf("the clock never passed event %s", last)
		}
		runtime.Gosched()
	}
}

func eventIDs(evs []gancho.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

func TestResultsValidation(t *testing.T) {
	e := newEnv(t)
	sub := e.createSub(e.keyA, `{"url":"https://example.com/h"}`)
	seedInbox(t, e.b.store, e.tenantA, sub.ID, time.Now().Add(-time.Minute))
	tests := []struct {
		name, query, body string
		status            int
		field             string
	}{
		{"size 0", "", `{"size":0}`, 422, "size"},
		{"size 101", "", `{"size":101}`, 422, "size"},
		{"size 0 as a string", "", `{"size":"0"}`, 422, "size"},
		{"size not a number", "", `{"size":"twenty"}`, 422, "size"},
		{"size a fraction", "", `{"size":2.5}`, 422, "size"},
		{"size a boolean", "", `{"size":true}`, 422, "size"},
		{"from -1", "?all=true", `{"from":-1}`, 422, "from"},
		{"from -1 as a string", "?all=true", `{"from":"-1"}`, 422, "from"},
		{"month 13", "?all=true", `{"year":2026,"month":13}`, 422, "month"},
		{"month 0 as a string", "?all=true", `{"year":"2026","month":"0"}`, 422, "month"},
		{"day 32", "?all=true", `{"year":2026,"month":1,"day":32}`, 422, "day"},
		{"february 30", "?all=true", `{"calendarInterval":"day","year":2026,"month":2,"day":30}`, 422, "day"},
		{"day without month", "?all=true", `{"year":2026,"day":5}`, 422, "month"},
		{"month without year", "?all=true", `{"month":5}`, 422, "year"},
		{"interval month without month", "?all=true", `{"calendarInterval":"month","year":2026}`, 422, "month"},
		{"interval day without day", "?all=true", `{"calendarInterval":"day","year":2026,"month":3}`, 422, "day"},
		{"year before ids", "?all=true", `{"year":1969}`, 422, "year"},
		{"calendarInterval unknown", "?all=true", `{"calendarInterval":"week","year":2026}`, 422, "calendarInterval"},
		{"calendarInterval not a string", "", `{"calendarInterval":5}`, 422, "calendarInterval"},
		{"timeZone unknown", "?all=true", `{"timeZone":"Mars/Olympus_Mons"}`, 422, "timeZone"},
		{"timeZone Local", "?all=true", `{"timeZone":"Local"}`, 422, "timeZone"},
		{"timeZone a path", "?all=true", `{"timeZone":"../../etc/passwd"}`, 422, "timeZone"},
		{"year without all", "", `{"year":"2026"}`, 422, "year"},
		{"from without all", "", `{"from":"5"}`, 422, "from"},
		{"unknown field", "", `{"page":1}`, 422, "page"},
		{"all not a boolean", "?all=maybe", ``, 400, "all"},
		{"malformed JSON", "", `{"size":`, 400, ""},
		{"not an object", "", `[1]`, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.json("POST", "/v1/subscriptions/"+sub.ID+"/results"+tc.query, e.keyA, tc.body)
			wantProblem(t, r, tc.status, tc.field)
		})
	}
	// Refused requests changed nothing: the event is still unseen.
	if !e.needView(e.keyA, sub.ID) {
		t.Fatal("a refused request marked the results seen")
	}
	var got gancho.Subscription
	e.call("GET", "/v1/subscriptions/"+sub.ID, e.keyA, "", "").json(t, &got)
	if got.LastViewedAt != nil {
		t.Fatalf("a refused request recorded a view: %+v", got.Status)
	}

	// Accepted: numbers as strings, the defaults sent as nulls, no body at all.
	for _, ok := range []struct{ query, body string }{
		{"?all=true", `{"from":"0","size":"20","calendarInterval":"year","year":"2026","month":"1","day":"1"}`},
		{"?all=true", `{"from":0,"size":100,"timeZone":"America/Sao_Paulo"}`},
		{"?all", ``},
		{"?all=false", `{"calendarInterval":"year","year":null,"month":null,"day":null,"from":"0","size":"20"}`},
	} {
		e.results(e.keyA, sub.ID, ok.query, ok.body)
	}
	if r := e.call("POST", "/v1/subscriptions/"+sub.ID+"/results", e.keyA, "", ""); r.status != 200 {
		t.Fatalf("no body, no Content-Type: %d %s", r.status, r.body)
	}
}

func TestResultsPagingAndDateFilters(t *testing.T) {
	e := newEnv(t)
	sub := e.createSub(e.keyA, `{"url":"https://example.com/h"}`)
	// Events spread over three days ten days ago, some close to midnight so that
	// America/Sao_Paulo (UTC-3) puts them on the day before.
	day := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(24 * time.Hour)
	at := []time.Time{
		day.Add(-22 * time.Hour), // day-1, 02:00 UTC
		day.Add(1 * time.Hour),   // day, 01:00 UTC = day-1 22:00 in Sao Paulo
		day.Add(2*time.Hour + 59*time.Minute),
		day.Add(3 * time.Hour), // day, 03:00 UTC = day 00:00 in Sao Paulo
		day.Add(12 * time.Hour),
		day.Add(23*time.Hour + 59*time.Minute),
		day.Add(26 * time.Hour), // day+1
	}
	evs := seedInbox(t, e.b.store, e.tenantA, sub.ID, at...)
	newestFirst := slices.Clone(eventIDs(evs))
	slices.Reverse(newestFirst)

	// Everything, newest first, paged by from/size (strings as numbers).
	var got []string
	for from := 0; ; from += 3 {
		p := e.results(e.keyA, sub.ID, "?all=true", fmt.Sprintf(`{"from":"%d","size":"3"}`, from))
		if p.Total != len(evs) {
			t.Fatalf("total %d, want %d", p.Total, len(evs))
		}
		if len(p.Data) == 0 {
			break
		}
		got = append(got, p.ids()...)
	}
	if !slices.Equal(got, newestFirst) {
		t.Fatalf("paged %v, want %v", got, newestFirst)
	}
	// The envelope's fields, and nothing of the stored event's bookkeeping.
	p := e.results(e.keyA, sub.ID, "?all=true", `{"size":1}`)
	last := evs[len(evs)-1]
	first := p.Data[0]
	if first["id"] != last.ID || first["type"] != "order.created" || first["ownerId"] != "o1" || first["subject"] != "s-6" ||
		first["reference"].(map[string]any)["id"] != "r-6" || first["data"].(map[string]any)["n"] != 6.0 {
		t.Fatalf("event = %v", first)
	}
	if ts, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(first["createdAt"])); !ts.Equal(last.CreatedAt) {
		t.Fatalf("createdAt = %v, want %s", first["createdAt"], last.CreatedAt)
	}
	for _, k := range []string{"deliveryCount", "queuedAt", "tenantId"} {
		if _, ok := first[k]; ok {
			t.Errorf("results event has %q: %v", k, first)
		}
	}

	// Date filters, checked against the events' createdAt in the zone.
	sp, err := time.LoadLocation("America/Sao_Paulo")
	if err != nil {
		t.Fatal(err)
	}
	expect := func(loc *time.Location, keep func(y int, m time.Month, d int) bool) []string {
		var out []string
		for _, id := range newestFirst {
			for _, ev := range evs {
				if ev.ID == id {
					y, m, d := ev.CreatedAt.In(loc).Date()
					if keep(y, m, d) {
						out = append(out, id)
					}
				}
			}
		}
		return out
	}
	y, m, d := day.Date()
	cases := []struct {
		name, body string
		want       []string
	}{
		{"day in UTC", fmt.Sprintf(`{"calendarInterval":"day","year":"%d","month":"%d","day":"%d"}`, y, m, d),
			expect(time.UTC, func(yy int, mm time.Month, dd int) bool { return yy == y && mm == m && dd == d })},
		{"day in Sao Paulo", fmt.Sprintf(`{"calendarInterval":"day","year":%d,"month":%d,"day":%d,"timeZone":"America/Sao_Paulo"}`, y, m, d),
			expect(sp, func(yy int, mm time.Month, dd int) bool { return yy == y && mm == m && dd == d })},
		{"day implied by the fields", fmt.Sprintf(`{"year":%d,"month":%d,"day":%d}`, y, m, d),
			expect(time.UTC, func(yy int, mm time.Month, dd int) bool { return yy == y && mm == m && dd == d })},
		{"month", fmt.Sprintf(`{"calendarInterval":"month","year":%d,"month":%d,"day":%d}`, y, m, d),
			expect(time.UTC, func(yy int, mm time.Month, _ int) bool { return yy == y && mm == m })},
		{"year ignores finer fields", fmt.Sprintf(`{"calendarInterval":"year","year":%d,"month":%d}`, y, m%12+1),
			expect(time.UTC, func(yy int, _ time.Month, _ int) bool { return yy == y })},
		{"next year", fmt.Sprintf(`{"year":%d}`, y+1),
			expect(time.UTC, func(yy int, _ time.Month, _ int) bool { return yy == y+1 })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.results(e.keyA, sub.ID, "?all=true", tc.body)
			if !slices.Equal(p.ids(), tc.want) || p.Total != len(tc.want) {
				t.Fatalf("got %v total %d, want %v", p.ids(), p.Total, tc.want)
			}
		})
	}
	if dayUTC, daySP := cases[0].want, cases[1].want; slices.Equal(dayUTC, daySP) {
		t.Fatalf("the time zone changed nothing (%v): the test's times do not straddle midnight", dayUTC)
	}

	// all=true does not mark anything seen.
	if !e.needView(e.keyA, sub.ID) {
		t.Fatal("needView false before the first read of new results")
	}
	// New results: the oldest unseen first, size at a time, total = unseen before.
	var seen []string
	for want := len(evs); want > 0; want -= 3 {
		p := e.results(e.keyA, sub.ID, "", `{"size":"3"}`)
		if p.Total != want || len(p.Data) != min(3, want) {
			t.Fatalf("new results: %d events, total %d; want %d, total %d", len(p.Data), p.Total, min(3, want), want)
		}
		seen = append(seen, p.ids()...)
		if still := e.needView(e.keyA, sub.ID); still != (want > 3) {
			t.Fatalf("needView %v with %d unseen left", still, want-len(p.Data))
		}
	}
	if !slices.Equal(seen, eventIDs(evs)) {
		t.Fatalf("new results in order %v, want %v", seen, eventIDs(evs))
	}
	if p := e.results(e.keyA, sub.ID, "", ""); len(p.Data) != 0 || p.Total != 0 {
		t.Fatalf("after reading everything: %v total %d", p.ids(), p.Total)
	}
	var after gancho.Subscription
	e.call("GET", "/v1/subscriptions/"+sub.ID, e.keyA, "", "").json(t, &after)
	if after.LastViewedAt == nil || after.NeedView {
		t.Fatalf("status block after reading: %+v", after.Status)
	}
	// Everything is still there with all=true.
	if p := e.results(e.keyA, sub.ID, "?all=true", `{"size":100}`); p.Total != len(evs) {
		t.Fatalf("all after reading: total %d", p.Total)
	}
}

func TestResultsConcurrentReadersNeverShareEvents(t *testing.T) {
	e := newEnv(t)
	sub := e.createSub(e.keyA, `{"url":"https://example.com/h"}`)
	base := time.Now().Add(-time.Hour)
	var at []time.Time
	for i := range 40 {
		at = append(at, base.Add(time.Duration(i)*time.Millisecond*3))
	}
	evs := seedInbox(t, e.b.store, e.tenantA, sub.ID, at...)
	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r := e.json("POST", "/v1/subscriptions/"+sub.ID+"/results", e.keyA, `{"size":4}`)
				if r.status == 409 {
					continue // lost to other readers three times: try again
				}
				var p resultsPage
				if r.status != 200 || json.Unmarshal(r.body, &p) != nil {
					t.Errorf("concurrent read: %d %s", r.status, r.body)
					return
				}
				if len(p.Data) == 0 {
					return
				}
				mu.Lock()
				got = append(got, p.ids()...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sorted := slices.Sorted(slices.Values(got))
	if len(slices.Compact(slices.Clone(sorted))) != len(got) {
		t.Fatalf("readers shared events: %d returned, %d distinct", len(got), len(slices.Compact(sorted)))
	}
	if !slices.Equal(sorted, eventIDs(evs)) {
		t.Fatalf("readers got %d of %d events", len(got), len(evs))
	}
}

func TestResultsOwnersAndScopes(t *testing.T) {
	e := newEnv(t)
	mine := e.createSub(e.keyA, `{"url":"https://example.com/h","ownerId":"o1"}`)
	theirs := e.createSub(e.keyA, `{"url":"https://example.com/h","ownerId":"o2"}`)
	foreign := e.createSub(e.keyB, `{"url":"https://example.com/h"}`)
	seedInbox(t, e.b.store, e.tenantA, theirs.ID, time.Now().Add(-time.Minute))
	owner := e.create(e.tenantA, "o1", []string{gancho.ScopeEventsRead})
	noScope := e.create(e.tenantA, "", []string{gancho.ScopeSubscriptionsRead, gancho.ScopeDeliveriesRead})

	if p := e.results(owner, mine.ID, "?all=true", ""); p.Total != 0 {
		t.Fatalf("own subscription: %v", p.ids())
	}
	for _, id := range []string{theirs.ID, foreign.ID, "sub_unknown"} {
		wantProblem(t, e.json("POST", "/v1/subscriptions/"+id+"/results", owner, ""), 404, "")
		wantProblem(t, e.call("GET", "/v1/subscriptions/"+id+"/callback", owner, "", ""), 404, "")
	}
	wantProblem(t, e.json("POST", "/v1/subscriptions/"+foreign.ID+"/results", e.keyA, ""), 404, "")
	wantProblem(t, e.json("POST", "/v1/subscriptions/"+mine.ID+"/results", noScope, ""), 403, "")
	wantProblem(t, e.call("GET", "/v1/subscriptions/"+mine.ID+"/callback", noScope, "", ""), 403, "")
	// The refused reads left the other owner's event unseen.
	if !e.needView(e.keyA, theirs.ID) {
		t.Fatal("a refused read marked another owner's results seen")
	}
}

// Publishing through the API: a notify subscription's matches land in its inbox, a
// push subscription's only in its deliveries, and both read the same results; a notify
// subscription gets one notice for a burst of events, the rest only set needView.
func TestNotifyPublishCoalescesNotices(t *testing.T) {
	e := newEnv(t)
	notify := e.createSub(e.keyA, `{"url":"https://example.com/n","events":["order.created"],"mode":"notify"}`)
	push := e.createSub(e.keyA, `{"url":"https://example.com/p","events":["order.created"]}`)
	var published []string
	for i := range 3 {
		r := e.json("POST", "/v1/events", e.keyA, fmt.Sprintf(`{"type":"order.created","payload":{"n":%d}}`, i))
		var pub struct {
			ID         string `json:"id"`
			Deliveries int    `json:"deliveries"`
		}
		r.json(t, &pub)
		// The first event queues the push delivery and the notice; the others only
		// the push delivery, while the notice is pending (nothing consumes it here).
		if want := map[bool]int{true: 2, false: 1}[i == 0]; r.status != 202 || pub.Deliveries != want {
			t.Fatalf("publish %d: %d %s, want %d deliveries", i, r.status, r.body, want)
		}
		published = append(published, pub.ID)
	}
	// Results come oldest first in id order: ids start with their millisecond, and
	// events published within one millisecond (a fast store) order by the rest.
	inOrder := slices.Sorted(slices.Values(published))
	var deliveries struct {
		Data []gancho.Delivery `json:"data"`
	}
	// Only the first event queued a notice: the others list no delivery to it.
	for i, id := range published {
		e.call("GET", "/v1/events/"+id+"/deliveries", e.keyA, "", "").json(t, &deliveries)
		var toNotify []string
		for _, d := range deliveries.Data {
			if d.SubscriptionID == notify.ID {
				toNotify = append(toNotify, d.ID)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[i == 0]; len(toNotify) != want || (want == 1 && toNotify[0] != gancho.DeliveryID(published[0], notify.ID)) {
			t.Fatalf("event %d's deliveries to the notify subscription: %v", i, toNotify)
		}
	}
	var s gancho.Subscription
	e.call("GET", "/v1/subscriptions/"+notify.ID, e.keyA, "", "").json(t, &s)
	if !s.NeedView || s.LastUpdateAt == nil {
		t.Fatalf("notify subscription's status block: %+v", s.Status)
	}
	waitPast(t, inOrder...)
	for _, sub := range []gancho.Subscription{notify, push} {
		if !e.needView(e.keyA, sub.ID) {
			t.Fatalf("%s mode: needView false after publishing", sub.Mode)
		}
		p := e.results(e.keyA, sub.ID, "", "")
		if !slices.Equal(p.ids(), inOrder) || p.Total != 3 {
			t.Fatalf("%s mode: new results %v, want %v", sub.Mode, p.ids(), inOrder)
		}
		if e.needView(e.keyA, sub.ID) {
			t.Fatalf("%s mode: needView true after reading", sub.Mode)
		}
	}
	e.call("GET", "/v1/subscriptions/"+notify.ID, e.keyA, "", "").json(t, &s)
	if s.NeedView || s.LastViewedAt == nil {
		t.Fatalf("notify subscription after reading: %+v", s.Status)
	}
	// Only the notify subscription has inbox items.
	for sub, want := range map[string]int{notify.ID: 3, push.ID: 0} {
		page, err := e.b.store.ReadInbox(context.Background(), e.tenantA, sub, gancho.InboxQuery{Limit: 10})
		if err != nil || page.Total != want {
			t.Fatalf("inbox of %s: %d items (%v), want %d", sub, page.Total, err, want)
		}
	}
	// The push subscription's results, everything, newest first.
	newestFirst := slices.Clone(inOrder)
	slices.Reverse(newestFirst)
	if p := e.results(e.keyA, push.ID, "?all=true", ""); !slices.Equal(p.ids(), newestFirst) || p.Total != 3 {
		t.Fatalf("push subscription, all: %v total %d", p.ids(), p.Total)
	}
}

// A batch publish writes inbox items as a single publish does: for notify
// subscriptions only; a push subscription's results come from its deliveries.
func TestBatchPublishInboxOnlyForNotify(t *testing.T) {
	e := newEnv(t)
	notify := e.createSub(e.keyA, `{"url":"https://example.com/n","events":["order.created"],"mode":"notify"}`)
	push := e.createSub(e.keyA, `{"url":"https://example.com/p","events":["order.created"]}`)
	r := e.json("POST", "/v1/events/batch", e.keyA, `{"events":[{"type":"order.created","payload":{"n":1}},`+
		`{"type":"order.created","payload":{"n":2}},{"type":"order.created","payload":{"n":3}}]}`)
	if r.status != 202 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	for sub, want := range map[string]int{notify.ID: 3, push.ID: 0} {
		page, err := e.b.store.ReadInbox(context.Background(), e.tenantA, sub, gancho.InboxQuery{Limit: 10})
		if err != nil || page.Total != want {
			t.Errorf("inbox of %s: %d items (%v), want %d", sub, page.Total, err, want)
		}
	}
	if p := e.results(e.keyA, push.ID, "?all=true", ""); p.Total != 3 {
		t.Errorf("push subscription, all: %v total %d, want 3", p.ids(), p.Total)
	}
}

// A scheduled event is out of pull results and of callback until its deliverAt, for
// notify and push subscriptions, then comes as new once.
func TestResultsWaitForDeliverAt(t *testing.T) {
	e := newEnv(t)
	notify := e.createSub(e.keyA, `{"url":"https://example.com/n","events":["order.created"],"mode":"notify"}`)
	push := e.createSub(e.keyA, `{"url":"https://example.com/p","events":["order.created"]}`)
	// Far enough ahead that the checks before it are done in time.
	deliverAt := time.Now().Add(4 * time.Second).UTC()
	r := e.json("POST", "/v1/events", e.keyA, `{"type":"order.created","payload":{"n":1},"deliverAt":"`+
		deliverAt.Format(time.RFC3339Nano)+`"}`)
	if r.status != 202 {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	var ev struct{ ID string }
	r.json(t, &ev)
	subs := map[string]string{"notify": notify.ID, "push": push.ID}
	for name, sub := range subs {
		if e.needView(e.keyA, sub) {
			t.Errorf("%s: callback says needView before deliverAt", name)
		}
		if p := e.results(e.keyA, sub, "?all=true", ""); p.Total != 0 {
			t.Errorf("%s: all results before deliverAt: %v", name, p.ids())
		}
		if p := e.results(e.keyA, sub, "", ""); p.Total != 0 {
			t.Errorf("%s: new results before deliverAt: %v", name, p.ids())
		}
	}
	if time.Now().After(deliverAt) {
		t.Fatalf("the checks before deliverAt ended %s after it", time.Since(deliverAt))
	}
	deadline := deliverAt.Add(30 * time.Second)
	for name, sub := range subs {
		for !e.needView(e.keyA, sub) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: callback never said needView", name)
			}
			time.Sleep(50 * time.Millisecond) // polling the route until deliverAt passes
		}
		if time.Now().Before(deliverAt) {
			t.Fatalf("%s: needView before deliverAt", name)
		}
		waitPast(t, gancho.IDFloor(gancho.PrefixEvent, deliverAt))
		if p := e.results(e.keyA, sub, "", ""); !slices.Equal(p.ids(), []string{ev.ID}) || p.Total != 1 {
			t.Errorf("%s: new results after deliverAt = %v total %d, want [%s]", name, p.ids(), p.Total, ev.ID)
		}
		if p := e.results(e.keyA, sub, "", ""); p.Total != 0 {
			t.Errorf("%s: the event came twice: %v", name, p.ids())
		}
		if e.needView(e.keyA, sub) {
			t.Errorf("%s: needView after reading everything", name)
		}
		if p := e.results(e.keyA, sub, "?all=true", ""); !slices.Equal(p.ids(), []string{ev.ID}) {
			t.Errorf("%s: all results after deliverAt = %v", name, p.ids())
		}
	}
}
