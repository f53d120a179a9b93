package dynamo

import (
	"context"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/cache"
)

// MatchCacheTTL is how long a publishing process reuses the match entries it read for
// one (tenant, pattern, owner) query. A subscription change made by another process
// (another route's Lambda) reaches publishing within this time, plus the replication
// delay of an eventually consistent read (usually under a second): MatchCacheBound,
// the bound README and OpenAPI state. Changes made through the same Store also drop
// the tenant's entries at once, which is cheap, but only a convenience: the bound is
// the guarantee.
const MatchCacheTTL = 4 * time.Second

// MatchCacheBound is the documented staleness bound: a subscription created, changed
// or deleted may miss (or still get) events published this long after, on warm
// publishing instances. A delivery to a deleted or disabled subscription ends
// cancelled; the consumer reads the subscription itself.
const MatchCacheBound = 5 * time.Second

// matchCacheSize bounds the entries kept; beyond it the least recently used go.
const matchCacheSize = 4096

// matchEntry is one stored match entry, before the event's context filters it.
type matchEntry struct {
	SK, SubID, Mode, Context string
	Ordered                  bool
}

// matchCache holds match entries by matchCacheKey; concurrent publishes that need
// the same entries share one read. A nil matchCache, or one with no TTL, reads
// every time.
type matchCache struct {
	c *cache.Cache[string, []matchEntry]
}

func newMatchCache(ttl time.Duration, now func() time.Time) *matchCache {
	if ttl <= 0 {
		return nil
	}
	return &matchCache{c: cache.New[string, []matchEntry](cache.Options[[]matchEntry]{
		TTL: ttl, MaxEntries: matchCacheSize, Now: now,
	})}
}

// matchCacheKey: the tenant first, so a tenant's entries share a prefix.
func matchCacheKey(tenant, pattern, prefix string) string {
	return tenant + "\x00" + pattern + "\x00" + prefix
}

// get returns the entries of key, reading them with read unless fresh ones are held.
func (c *matchCache) get(ctx context.Context, key string, read func(context.Context) ([]matchEntry, error)) ([]matchEntry, error) {
	if c == nil {
		return read(ctx)
	}
	return c.c.Get(ctx, key, read)
}

// forget drops the tenant's entries (its subscriptions changed through this Store).
func (c *matchCache) forget(tenant string) {
	if c == nil {
		return
	}
	c.c.DeleteFunc(func(k string, _ []matchEntry) bool { return strings.HasPrefix(k, tenant+"\x00") })
}
