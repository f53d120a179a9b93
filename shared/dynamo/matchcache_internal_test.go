package dynamo

import (
	"fmt"
	"testing"
	"time"
)

func TestMatchCacheIsBounded(t *testing.T) {
	c := &matchCache{ttl: time.Minute}
	now := time.Now()
	for i := range 3 * matchCacheSize {
		c.put(matchCacheKey(fmt.Sprint("t", i), "p", ""), nil, now)
		if len(c.entries) > matchCacheSize {
			t.Fatalf("%d entries after %d puts", len(c.entries), i+1)
		}
	}
	c.put(matchCacheKey("a", "p", ""), []matchEntry{{SubID: "s"}}, now)
	c.put(matchCacheKey("ab", "p", ""), []matchEntry{{SubID: "s"}}, now)
	if _, ok := c.get(matchCacheKey("a", "p", ""), now.Add(time.Minute)); ok {
		t.Fatal("an entry outlived its time")
	}
	c.forget("a")
	if _, ok := c.get(matchCacheKey("a", "p", ""), now); ok {
		t.Fatal("forget kept the tenant's entry")
	}
	if _, ok := c.get(matchCacheKey("ab", "p", ""), now); !ok {
		t.Fatal("forget dropped another tenant's entry")
	}
}
