package deliver_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/memstore"
)

// testStore is the in-memory store (package memstore, which passes the same behaviour
// table as the DynamoDB store) with what the handler's tests watch: the rate-token
// takes, an injected take error, and the status-block writes.
type testStore struct {
	*memstore.Store
	tenant string

	takes   atomic.Int64 // TakeRateToken calls
	takeErr error        // returned by TakeRateToken when set

	mu       sync.Mutex
	outcomes int // RecordSubscriptionOutcome calls
}

func newTestStore() *testStore { return &testStore{Store: memstore.New()} }

func (s *testStore) TakeRateToken(ctx context.Context, tenant, subID string, at time.Time) (int64, error) {
	s.takes.Add(1)
	if s.takeErr != nil {
		return 0, s.takeErr
	}
	return s.Store.TakeRateToken(ctx, tenant, subID, at)
}

func (s *testStore) RecordSubscriptionOutcome(ctx context.Context, tenant, subID string, o gancho.Outcome) error {
	s.mu.Lock()
	s.outcomes++
	s.mu.Unlock()
	return s.Store.RecordSubscriptionOutcome(ctx, tenant, subID, o)
}

func (s *testStore) outcomeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outcomes
}

// seed stores f's tenant, subscription and events, each queued to its delivery, which
// is pending (no record) until its first outcome.
func (s *testStore) seed(t testing.TB, f benchFixture) {
	t.Helper()
	ctx := context.Background()
	s.tenant = f.sub.TenantID
	if _, err := s.GetTenant(ctx, s.tenant); err != nil {
		now := time.Now().UTC()
		key := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: s.tenant, CreatedAt: now}
		if err := s.CreateTenant(ctx, gancho.Tenant{ID: s.tenant, Name: "test", CreatedAt: now, UpdatedAt: now}, key, "hash-"+key.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateSubscription(ctx, f.sub); err != nil {
		t.Fatal(err)
	}
	for i, ev := range f.events {
		d := f.dels[i]
		at := ev.CreatedAt
		ev.QueuedAt, ev.DeliveryCount = &at, 1
		ev.Destinations = []gancho.Destination{{SubscriptionID: d.SubscriptionID, OwnerID: d.OwnerID}}
		if err := s.CreateEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
}

// putRecord gives d (seeded) the record its attempts and status describe, written as
// the consumer writes it: one recorded attempt at a time.
func (s *testStore) putRecord(t testing.TB, d gancho.Delivery) {
	t.Helper()
	ctx := context.Background()
	final, attempts := d, d.Attempts
	d.Attempts, d.Recorded = []gancho.Attempt{}, false
	if len(attempts) == 0 {
		if err := s.SetDeliveryStatus(ctx, d, final.Status); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, a := range attempts {
		status, next := gancho.StatusRetrying, (*time.Time)(nil)
		if i == len(attempts)-1 {
			status, next = final.Status, final.NextAttemptAt
		}
		if err := s.RecordAttempt(ctx, d, a, status, next, false); err != nil {
			t.Fatal(err)
		}
		d.Attempts, d.Recorded = append(d.Attempts, a), true
	}
}

// delivery reads a delivery of the seeded tenant: its record, or the pending one.
func (s *testStore) delivery(id string) gancho.Delivery {
	d, err := s.GetDelivery(context.Background(), s.tenant, id)
	if err != nil {
		panic(err)
	}
	return d
}

// sub reads a subscription of the seeded tenant.
func (s *testStore) sub(id string) gancho.Subscription {
	sub, err := s.GetSubscription(context.Background(), s.tenant, id)
	if err != nil {
		panic(err)
	}
	return sub
}
