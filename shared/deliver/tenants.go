package deliver

import (
	"context"
	"errors"
	"time"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// TenantStore reads tenants (their signature header, default secret and public URL).
type TenantStore interface {
	GetTenant(ctx context.Context, id string) (gancho.Tenant, error)
}

// tenantTTL bounds how long a consumer uses a tenant's settings after a change
// (the documented 60 s for tenant settings).
const tenantTTL = 60 * time.Second

const maxCachedTenants = 10000

// tenantCache keeps tenants, and "no such tenant", for tenantTTL, so a batch costs
// no tenant reads when warm and concurrent deliveries of a tenant share one read.
type tenantCache struct {
	store TenantStore
	cache *cache.Cache[string, gancho.Tenant]
}

func newTenantCache(store TenantStore, now func() time.Time) *tenantCache {
	return &tenantCache{store: store, cache: cache.New[string, gancho.Tenant](cache.Options[gancho.Tenant]{
		TTL: tenantTTL, MaxEntries: maxCachedTenants, Now: now,
		Negative: func(err error) (time.Duration, bool) { return tenantTTL, errors.Is(err, gancho.ErrNotFound) },
	})}
}

// get returns the tenant, from the cache when fresh.
func (c *tenantCache) get(ctx context.Context, id string) (gancho.Tenant, error) {
	return c.cache.Get(ctx, id, func(ctx context.Context) (gancho.Tenant, error) {
		return c.store.GetTenant(ctx, id)
	})
}
