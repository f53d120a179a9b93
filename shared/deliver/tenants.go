package deliver

import (
	"context"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// TenantStore reads tenants (their signature header, default secret and public URL).
type TenantStore interface {
	GetTenant(ctx context.Context, id string) (gancho.Tenant, error)
}

// tenantTTL bounds how long a consumer uses a tenant's settings after a change.
const tenantTTL = 60 * time.Second

// tenantCache keeps tenants for tenantTTL, so a batch costs no tenant reads when warm.
type tenantCache struct {
	store TenantStore
	now   func() time.Time

	mu    sync.Mutex
	items map[string]cachedTenant
}

type cachedTenant struct {
	t       gancho.Tenant
	expires time.Time
}

func newTenantCache(store TenantStore, now func() time.Time) *tenantCache {
	return &tenantCache{store: store, now: now, items: map[string]cachedTenant{}}
}

// get returns the tenant, from the cache when fresh.
func (c *tenantCache) get(ctx context.Context, id string) (gancho.Tenant, error) {
	now := c.now()
	c.mu.Lock()
	it, ok := c.items[id]
	c.mu.Unlock()
	if ok && now.Before(it.expires) {
		return it.t, nil
	}
	t, err := c.store.GetTenant(ctx, id)
	if err != nil {
		return t, err
	}
	c.mu.Lock()
	if len(c.items) >= 10000 {
		clear(c.items)
	}
	c.items[id] = cachedTenant{t: t, expires: now.Add(tenantTTL)}
	c.mu.Unlock()
	return t, nil
}
