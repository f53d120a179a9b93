package dynamo

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestMatchCache(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newMatchCache(MatchCacheTTL, func() time.Time { return now })
	ctx := context.Background()
	reads := 0
	read := func(context.Context) ([]matchEntry, error) { reads++; return []matchEntry{{SubID: "s"}}, nil }
	get := func(tenant string) { c.get(ctx, matchCacheKey(tenant, "p", ""), read) }

	// Bounded: the least recently used entries go, never all of them.
	n := 2*matchCacheSize + matchCacheSize/2
	for i := range n {
		get(fmt.Sprint("t", i))
		if c.c.Len() > matchCacheSize {
			t.Fatalf("%d entries after %d reads", c.c.Len(), i+1)
		}
	}
	reads = 0
	get(fmt.Sprint("t", n-matchCacheSize)) // the oldest that fits
	get(fmt.Sprint("t", n-1))
	if reads != 0 {
		t.Fatal("a full cache dropped more than its least recently used entries")
	}
	get("a")
	get("ab")
	reads = 0
	c.forget("a")
	get("a")
	get("ab")
	if reads != 1 {
		t.Fatalf("forget(a): %d reads, want 1 (a's entry only)", reads)
	}
	now = now.Add(MatchCacheTTL)
	get("ab")
	if reads != 2 {
		t.Fatal("an entry outlived its TTL")
	}
}
