// Package cache is the one in-process cache of Gancho: entries expire after a TTL,
// the least recently used go first when the cache is full, and concurrent Gets of a
// missing key share one load.
//
// Each Lambda keeps its own copy, and nothing one process drops reaches another, so
// a cache's TTL is the bound a change takes to be seen everywhere; that bound, not a
// same-process invalidation, is what README and OpenAPI promise.
package cache

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"time"
)

// Options configures a Cache. A zero MaxEntries means no entry bound.
type Options[V any] struct {
	// TTL is how long an entry stays fresh, unless its load says otherwise.
	TTL time.Duration
	// MaxEntries bounds the number of entries; beyond it the least recently
	// used ones are evicted (never the whole cache).
	MaxEntries int
	// MaxCost and Cost bound the summed cost of the entries (e.g. bytes); Cost
	// nil or MaxCost 0: no cost bound.
	MaxCost int
	Cost    func(V) int
	// Negative says which load errors are remembered, and for how long, like a
	// value: a "not found" is then not asked again on every Get. Other errors
	// are never cached.
	Negative func(error) (time.Duration, bool)
	// LoadTimeout bounds a shared load; 0: none beyond its callers' contexts.
	LoadTimeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Cache maps K to V. Its zero value is not usable; call New.
type Cache[K comparable, V any] struct {
	o Options[V]

	mu      sync.Mutex
	items   map[K]*list.Element // of *entry[K, V]
	lru     list.List           // front: most recently used
	cost    int
	flights map[K]*flight[V]
}

type entry[K comparable, V any] struct {
	key     K
	val     V
	err     error // a negative entry
	expires time.Time
	cost    int
}

// flight is one running load, shared by the Gets that wait for it; val and err
// are set before done is closed.
type flight[V any] struct {
	done   chan struct{}
	val    V
	err    error
	refs   int // callers still waiting
	cancel context.CancelFunc
}

// New returns an empty cache.
func New[K comparable, V any](o Options[V]) *Cache[K, V] {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Cache[K, V]{o: o, items: map[K]*list.Element{}, flights: map[K]*flight[V]{}}
}

// Get returns the fresh value of k, or loads it; see GetTTL.
func (c *Cache[K, V]) Get(ctx context.Context, k K, load func(context.Context) (V, error)) (V, error) {
	return c.GetTTL(ctx, k, func(ctx context.Context) (V, time.Duration, error) {
		v, err := load(ctx)
		return v, 0, err
	})
}

// GetTTL returns the fresh value of k, or loads it and keeps the result for the
// TTL load returns (0: the cache's TTL; below 0: not kept). Concurrent calls for a
// missing k share one load; a caller whose ctx ends stops waiting with ctx.Err(),
// and the load is cancelled once no caller waits for it. A failed load is not
// cached (unless Options.Negative says so).
func (c *Cache[K, V]) GetTTL(ctx context.Context, k K, load func(context.Context) (V, time.Duration, error)) (V, error) {
	c.mu.Lock()
	if e, ok := c.fresh(k); ok {
		c.mu.Unlock()
		return e.val, e.err
	}
	f, ok := c.flights[k]
	if !ok {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if c.o.LoadTimeout > 0 {
			lctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.o.LoadTimeout)
		}
		f = &flight[V]{done: make(chan struct{}), cancel: cancel}
		c.flights[k] = f
		go c.run(lctx, k, f, c.o.Now(), load)
	}
	f.refs++
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		c.mu.Lock()
		f.refs--
		if f.refs == 0 {
			f.cancel()
		}
		c.mu.Unlock()
		var zero V
		return zero, ctx.Err()
	}
}

// run runs a load; its result's TTL counts from start, so that what a cache holds
// is never older than its TTL, however long the load took.
func (c *Cache[K, V]) run(ctx context.Context, k K, f *flight[V], start time.Time, load func(context.Context) (V, time.Duration, error)) {
	defer f.cancel()
	var (
		v   V
		ttl time.Duration
		err error
	)
	func() {
		// A panicking load must not leave its waiters waiting.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("cache: load panicked: %v", r)
			}
		}()
		v, ttl, err = load(ctx)
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, k)
	f.val, f.err = v, err
	// Stored before the waiters wake, so that a Get after theirs sees it.
	keep := err == nil
	if err != nil && c.o.Negative != nil {
		ttl, keep = c.o.Negative(err)
	}
	if ttl == 0 {
		ttl = c.o.TTL
	}
	if keep && ttl > 0 {
		c.put(k, v, err, start.Add(ttl))
	}
	close(f.done)
}

// fresh returns k's entry if it has not expired, as the most recently used;
// an expired one is dropped. c.mu is held.
func (c *Cache[K, V]) fresh(k K) (*entry[K, V], bool) {
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry[K, V])
	if !c.o.Now().Before(e.expires) {
		c.remove(el)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e, true
}

// Peek returns k's fresh value without loading it (a negative entry is not ok).
func (c *Cache[K, V]) Peek(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.fresh(k); ok && e.err == nil {
		return e.val, true
	}
	var zero V
	return zero, false
}

// Set stores v for k for ttl (0: the cache's TTL).
func (c *Cache[K, V]) Set(k K, v V, ttl time.Duration) {
	if ttl == 0 {
		ttl = c.o.TTL
	}
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(k, v, nil, c.o.Now().Add(ttl))
}

// put stores an entry and evicts the least recently used beyond the bounds. c.mu is held.
func (c *Cache[K, V]) put(k K, v V, err error, expires time.Time) {
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
	e := &entry[K, V]{key: k, val: v, err: err, expires: expires}
	if c.o.Cost != nil && c.o.MaxCost > 0 && err == nil {
		e.cost = c.o.Cost(v)
		if e.cost > c.o.MaxCost {
			return // would evict everything else and still not fit
		}
	}
	c.items[k] = c.lru.PushFront(e)
	c.cost += e.cost
	for (c.o.MaxEntries > 0 && len(c.items) > c.o.MaxEntries) || (c.o.MaxCost > 0 && c.cost > c.o.MaxCost) {
		c.remove(c.lru.Back())
	}
}

func (c *Cache[K, V]) remove(el *list.Element) {
	e := c.lru.Remove(el).(*entry[K, V])
	delete(c.items, e.key)
	c.cost -= e.cost
}

// Delete drops k. A load of k already running still stores its result.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
}

// DeleteFunc drops the entries for which drop returns true.
func (c *Cache[K, V]) DeleteFunc(drop func(K, V) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if e := el.Value.(*entry[K, V]); drop(e.key, e.val) {
			c.remove(el)
		}
		el = next
	}
}

// Waiters is how many callers wait for a running load of k (0 when none runs).
func (c *Cache[K, V]) Waiters(k K) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.flights[k]; ok {
		return f.refs
	}
	return 0
}

// Len is the number of entries held, expired ones included until they are seen.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
