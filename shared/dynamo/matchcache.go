package dynamo

import (
	"strings"
	"sync"
	"time"
)

// MatchCacheTTL is how long a publishing process reuses the match entries it read for
// one (tenant, pattern, owner) query. Subscription changes made through the same Store
// drop the tenant's entries at once; a change made by another process (another
// route's Lambda) reaches publishing within this time, plus the replication delay of
// an eventually consistent read (usually under a second): MatchCacheBound, the bound
// README and OpenAPI state.
const MatchCacheTTL = 4 * time.Second

// MatchCacheBound is the documented staleness bound: a subscription created, changed
// or deleted may miss (or still get) events published this long after, on warm
// publishing instances. A delivery to a deleted or disabled subscription ends
// cancelled; the consumer reads the subscription itself.
const MatchCacheBound = 5 * time.Second

// matchCacheSize bounds the entries kept; when full, expired entries go, and if none
// had expired, all of them.
const matchCacheSize = 4096

// matchEntry is one stored match entry, before the event's context filters it.
type matchEntry struct {
	SK, SubID, Mode, Context string
	Ordered                  bool
}

type matchCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	entries map[string]cachedMatches
}

type cachedMatches struct {
	at      time.Time
	entries []matchEntry
}

// matchCacheKey: the tenant first, so a tenant's entries share a prefix.
func matchCacheKey(tenant, pattern, prefix string) string {
	return tenant + "\x00" + pattern + "\x00" + prefix
}

func (c *matchCache) get(key string, now time.Time) ([]matchEntry, bool) {
	if c == nil || c.ttl <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) >= c.ttl || now.Before(e.at) {
		return nil, false
	}
	return e.entries, true
}

func (c *matchCache) put(key string, entries []matchEntry, at time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedMatches{}
	}
	if len(c.entries) >= matchCacheSize {
		for k, e := range c.entries {
			if at.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= matchCacheSize {
			clear(c.entries)
		}
	}
	c.entries[key] = cachedMatches{at: at, entries: entries}
}

// forget drops the tenant's entries (its subscriptions changed).
func (c *matchCache) forget(tenant string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.entries {
		if strings.HasPrefix(k, tenant+"\x00") {
			delete(c.entries, k)
		}
	}
}
