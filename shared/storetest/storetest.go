// Package storetest is the behaviour table every store must pass: the DynamoDB store
// (against DynamoDB Local, package dynamo's tests) and the in-memory one (package
// memstore's tests, always). A behaviour the services rely on belongs here, once, so
// the two stores cannot drift apart; what only one store has (DynamoDB's encoding,
// capacity and cost, sealing at rest) stays in that store's own tests.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// Store is everything the services ask of a store: the interfaces of publish, deliver
// and sweeper, and the API's (spelled out here so that this package does not depend on
// the HTTP layer's packaging).
type Store interface {
	publish.Store
	publish.BatchStore
	publish.Inbox
	publish.BatchLoader
	deliver.Store
	deliver.RateLimiter
	deliver.NoticeSettler
	sweeper.Store

	// The API's KeyStore, TenantStore, IssuerStore and KeyAdminStore.
	LookupAPIKey(ctx context.Context, hash string) (gancho.APIKey, error)
	CreateTenant(ctx context.Context, t gancho.Tenant, first gancho.APIKey, keyHash string) error
	UpdateTenant(ctx context.Context, before, after gancho.Tenant) error
	TenantByIssuer(ctx context.Context, issuer string) (gancho.Tenant, error)
	CreateAPIKey(ctx context.Context, k gancho.APIKey, hash string) error
	GetAPIKey(ctx context.Context, tenant, id string) (gancho.APIKey, error)
	ListAPIKeys(ctx context.Context, tenant, owner string, p gancho.Page) ([]gancho.APIKey, string, error)
	RevokeAPIKey(ctx context.Context, tenant, id string) error
	// EventTypeStore.
	PutEventType(ctx context.Context, et gancho.EventType) (gancho.EventType, bool, error)
	GetEventType(ctx context.Context, tenant, name string) (gancho.EventType, error)
	ListEventTypes(ctx context.Context, tenant, after string, limit int) ([]gancho.EventType, bool, error)
	EventTypeCatalog(ctx context.Context, tenant string) ([]gancho.EventType, error)
	ArchiveEventType(ctx context.Context, tenant, name string, at time.Time) error
	// IdempotencyStore.
	BeginIdempotent(ctx context.Context, rec gancho.IdempotencyRecord, now time.Time) (gancho.IdempotencyRecord, bool, error)
	FinishIdempotent(ctx context.Context, rec gancho.IdempotencyRecord) error
	ReleaseIdempotent(ctx context.Context, rec gancho.IdempotencyRecord) error
	// SubscriptionStore.
	CreateSubscription(ctx context.Context, sub gancho.Subscription) error
	GetSubscription(ctx context.Context, tenant, id string) (gancho.Subscription, error)
	ListSubscriptions(ctx context.Context, tenant string, f gancho.SubscriptionFilter, p gancho.Page) ([]gancho.Subscription, string, error)
	UpdateSubscription(ctx context.Context, old, sub gancho.Subscription) error
	DeleteSubscription(ctx context.Context, sub gancho.Subscription) error
	// DeliveryStore.
	GetDelivery(ctx context.Context, tenant, id string) (gancho.Delivery, error)
	ListDeliveries(ctx context.Context, tenant string, bySubscription bool, id string, f gancho.DeliveryFilter, p gancho.Page) ([]gancho.Delivery, string, error)
	ListEvents(ctx context.Context, tenant string, f gancho.EventFilter, p gancho.Page) ([]gancho.Event, string, error)
	// ResultsStore.
	ReadInbox(ctx context.Context, tenant, subID string, q gancho.InboxQuery) (gancho.InboxPage, error)
	HasUnseen(ctx context.Context, tenant, subID string) (bool, error)
	MarkSeen(ctx context.Context, tenant, subID string, eventIDs []string) error
	MarkViewed(ctx context.Context, tenant, subID string, at time.Time, clearNeedView bool, lastUpdateAt *time.Time) error
	GetEvents(ctx context.Context, tenant string, ids []string) ([]gancho.Event, error)
	ResultsCursor(ctx context.Context, tenant, subID string) (string, error)
	ReadDelivered(ctx context.Context, tenant, subID, cursor string, q gancho.InboxQuery) (gancho.InboxPage, error)
	HasDelivered(ctx context.Context, tenant, subID string) (bool, error)
	AdvanceResultsCursor(ctx context.Context, tenant, subID, from, to string) error
}

// Env is one case's view of a store: a tenant of its own, so cases sharing one table
// never see each other's data.
type Env struct {
	Ctx    context.Context
	St     Store
	Tenant string
}

// Case is one behaviour.
type Case struct {
	Name string
	Run  func(t *testing.T, e Env)
}

// Areas are the behaviours, grouped.
var Areas = []struct {
	Name  string
	Cases []Case
}{
	{"TenantsAndKeys", tenantCases},
	{"EventTypes", eventTypeCases},
	{"Idempotency", idempotencyCases},
	{"Subscriptions", subscriptionCases},
	{"Matching", matchCases},
	{"EventsAndDeliveries", deliveryCases},
	{"Publishing", publishCases},
	{"InboxAndResults", inboxCases},
	{"ScheduledResults", scheduledCases},
	{"ScheduledResultsHorizon", scheduledHorizonCases},
	{"RateLimit", rateCases},
	{"Sweeper", sweeperCases},
}

// Run runs every case in parallel, each on a store from newStore, which must use the
// wall clock, the default retention and a fan-out settle time of 0 (see
// gancho.FanOutSettle). newStore may return the same store (on the same table) for
// several cases: each case has a tenant of its own.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	for _, area := range Areas {
		t.Run(area.Name, func(t *testing.T) {
			t.Parallel()
			for _, c := range area.Cases {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					t.Cleanup(cancel)
					c.Run(t, Env{Ctx: ctx, St: newStore(t), Tenant: TenantID()})
				})
			}
		})
	}
}

// TenantID returns a new tenant id.
func TenantID() string { return gancho.NewID(gancho.PrefixTenant, time.Now()) }

// Clock hands out strictly increasing creation times, so ids sort in creation order.
type Clock struct{ next time.Time }

// NewClock starts at the current millisecond.
func NewClock() *Clock { return &Clock{next: time.Now().UTC().Truncate(time.Millisecond)} }

// Tick returns the next creation time.
func (c *Clock) Tick() time.Time {
	c.next = c.next.Add(2 * time.Millisecond)
	return c.next
}

func strp(v string) *string       { return &v }
func listp(v ...string) *[]string { return &v }
func boolp(v bool) *bool          { return &v }

// NewSub validates in (with a default URL) and stamps it like the API does.
func NewSub(t *testing.T, tenant string, c *Clock, in gancho.SubscriptionInput) gancho.Subscription {
	t.Helper()
	if in.URL == nil {
		in.URL = strp("https://client.example/hooks")
	}
	sub, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	now := c.Tick()
	sub.ID = gancho.NewID(gancho.PrefixSubscription, now)
	sub.TenantID = tenant
	sub.Secret = gancho.NewSecret()
	sub.CreatedAt, sub.UpdatedAt = now, now
	return sub
}

func (e Env) create(t *testing.T, subs ...gancho.Subscription) {
	t.Helper()
	for _, sub := range subs {
		if err := e.St.CreateSubscription(e.Ctx, sub); err != nil {
			t.Fatalf("create %s: %v", sub.ID, err)
		}
	}
}

func (e Env) getSub(t *testing.T, id string) gancho.Subscription {
	t.Helper()
	s, err := e.St.GetSubscription(e.Ctx, e.Tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
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

// asQueued is ev as a publish that queued deliveries ds before storing ev stores it.
func asQueued(ev gancho.Event, ds ...gancho.Delivery) gancho.Event {
	at := ev.CreatedAt
	ev.QueuedAt, ev.DeliveryCount = &at, len(ds)
	ev.Destinations = make([]gancho.Destination, len(ds))
	for i, d := range ds {
		ev.Destinations[i] = gancho.Destination{SubscriptionID: d.SubscriptionID, OwnerID: d.OwnerID}
	}
	return ev
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func wantKind(t *testing.T, err error, kind gancho.Kind) {
	t.Helper()
	if gancho.KindOf(err) != kind {
		t.Errorf("err %v (kind %d), want kind %d", err, gancho.KindOf(err), kind)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func reversed(v []string) []string {
	out := slices.Clone(v)
	slices.Reverse(out)
	return out
}

// pages lists everything with page size limit, following cursors; each page is
// checked to hold at most limit items. A store may end with an empty page.
func pages[T any](t *testing.T, limit int, list func(cursor string) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for i := 0; ; i++ {
		if i > 1000 {
			t.Fatal("cursors never end")
		}
		got, next, err := list(cursor)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > limit {
			t.Fatalf("page of %d, limit %d", len(got), limit)
		}
		all = append(all, got...)
		if next == "" {
			return all
		}
		cursor = next
	}
}
