package deliver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// countingTenants answers GetTenant from a map and counts the reads.
type countingTenants struct {
	mu      sync.Mutex
	tenants map[string]gancho.Tenant
	err     error
	reads   int
}

func (s *countingTenants) GetTenant(_ context.Context, id string) (gancho.Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return gancho.Tenant{}, s.err
	}
	t, ok := s.tenants[id]
	if !ok {
		return gancho.Tenant{}, gancho.ErrNotFound
	}
	return t, nil
}

func TestTenantCache(t *testing.T) {
	errDown := errors.New("store down")
	tests := []struct {
		name      string
		tenants   map[string]gancho.Tenant
		err       error
		advance   time.Duration // between the two reads
		wantReads int
		wantErr   error
	}{
		{"a found tenant is kept", map[string]gancho.Tenant{"t1": {ID: "t1"}}, nil, 59 * time.Second, 1, nil},
		{"a found tenant is read again after the TTL", map[string]gancho.Tenant{"t1": {ID: "t1"}}, nil, tenantTTL, 2, nil},
		{"not found is remembered for the TTL", nil, nil, 59 * time.Second, 1, gancho.ErrNotFound},
		{"not found is asked again after the TTL", nil, nil, tenantTTL, 2, gancho.ErrNotFound},
		{"a failed read is not remembered", nil, errDown, 0, 2, errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			store := &countingTenants{tenants: tt.tenants, err: tt.err}
			c := newTenantCache(store, clock)
			for i := range 2 {
				if _, err := c.get(context.Background(), "t1"); !errors.Is(err, tt.wantErr) {
					t.Fatalf("read %d: err %v, want %v", i, err, tt.wantErr)
				}
				mu.Lock()
				now = now.Add(tt.advance)
				mu.Unlock()
			}
			if store.reads != tt.wantReads {
				t.Fatalf("%d store reads, want %d", store.reads, tt.wantReads)
			}
		})
	}
}
