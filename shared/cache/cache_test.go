package cache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func value(v string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return v, nil }
}

func TestConcurrentGetsShareOneLoad(t *testing.T) {
	c := New[string, string](Options[string]{TTL: time.Minute})
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(context.Context) (string, error) {
		loads.Add(1)
		<-release
		return "v", nil
	}
	const n = 10
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = c.Get(context.Background(), "k", load)
		}()
	}
	waitUntil(t, func() bool { return c.Waiters("k") == n })
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads, want 1", loads.Load())
	}
	for i, v := range got {
		if v != "v" {
			t.Fatalf("caller %d got %q", i, v)
		}
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestExpiry(t *testing.T) {
	clk := newClock()
	tests := []struct {
		name      string
		loadTTL   time.Duration // returned by the load; 0: the cache's
		advance   time.Duration
		wantLoads int
	}{
		{"fresh within the cache TTL", 0, 59 * time.Second, 1},
		{"expired at the cache TTL", 0, 60 * time.Second, 2},
		{"per-entry TTL longer", 2 * time.Minute, 90 * time.Second, 1},
		{"per-entry TTL shorter", 10 * time.Second, 10 * time.Second, 2},
		{"negative TTL: not kept", -1, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New[string, int](Options[int]{TTL: time.Minute, Now: clk.now})
			loads := 0
			load := func(context.Context) (int, time.Duration, error) { loads++; return loads, tt.loadTTL, nil }
			if _, err := c.GetTTL(context.Background(), "k", load); err != nil {
				t.Fatal(err)
			}
			clk.add(tt.advance)
			if _, err := c.GetTTL(context.Background(), "k", load); err != nil {
				t.Fatal(err)
			}
			if loads != tt.wantLoads {
				t.Fatalf("%d loads, want %d", loads, tt.wantLoads)
			}
		})
	}
}

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options[string]
		touch   []string // Gets after a, b, c were stored, in order
		put     string
		want    []string // keys still held
		evicted []string
	}{
		{"oldest goes", Options[string]{MaxEntries: 3}, nil, "d", []string{"b", "c", "d"}, []string{"a"}},
		{"a read keeps an entry", Options[string]{MaxEntries: 3}, []string{"a"}, "d", []string{"a", "c", "d"}, []string{"b"}},
		{"cost bound evicts as many as needed",
			Options[string]{MaxCost: 3, Cost: func(s string) int { return len(s) }}, nil, "dd",
			[]string{"c", "dd"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.TTL = time.Minute
			c := New[string, string](tt.opts)
			ctx := context.Background()
			for _, k := range []string{"a", "b", "c"} {
				c.Set(k, k, 0)
			}
			for _, k := range tt.touch {
				c.Peek(k)
			}
			c.Set(tt.put, tt.put, 0)
			for _, k := range tt.want {
				if _, ok := c.Peek(k); !ok {
					t.Errorf("%s was evicted", k)
				}
			}
			for _, k := range tt.evicted {
				v, _ := c.Get(ctx, k, value("reloaded"))
				if v != "reloaded" {
					t.Errorf("%s was kept", k)
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	errNotFound := errors.New("not found")
	errDown := errors.New("down")
	tests := []struct {
		name      string
		err       error
		wantLoads int
	}{
		{"a failure is not cached", errDown, 2},
		{"a negative result is cached", errNotFound, 1},
		{"a wrapped negative result is cached", fmt.Errorf("read: %w", errNotFound), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New[string, string](Options[string]{TTL: time.Minute, Negative: func(err error) (time.Duration, bool) {
				return 5 * time.Second, errors.Is(err, errNotFound)
			}})
			loads := 0
			load := func(context.Context) (string, error) { loads++; return "", tt.err }
			for range 2 {
				if _, err := c.Get(context.Background(), "k", load); !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
			}
			if loads != tt.wantLoads {
				t.Fatalf("%d loads, want %d", loads, tt.wantLoads)
			}
			if _, ok := c.Peek("k"); ok {
				t.Fatal("Peek reports a failed load as a value")
			}
		})
	}
}

func TestNegativeEntryExpires(t *testing.T) {
	clk := newClock()
	errNotFound := errors.New("not found")
	c := New[string, string](Options[string]{TTL: time.Minute, Now: clk.now,
		Negative: func(err error) (time.Duration, bool) { return 5 * time.Second, errors.Is(err, errNotFound) }})
	c.Get(context.Background(), "k", func(context.Context) (string, error) { return "", errNotFound })
	clk.add(5 * time.Second)
	if v, err := c.Get(context.Background(), "k", value("now there")); err != nil || v != "now there" {
		t.Fatalf("got %q, %v after the negative TTL", v, err)
	}
}

func TestWaiterContext(t *testing.T) {
	c := New[string, string](Options[string]{TTL: time.Minute})
	release := make(chan struct{})
	var loadCtx context.Context
	started := make(chan struct{})
	load := func(ctx context.Context) (string, error) {
		loadCtx = ctx
		close(started)
		select {
		case <-release:
			return "v", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	res1 := make(chan error, 1)
	go func() { _, err := c.Get(ctx1, "k", load); res1 <- err }()
	<-started
	res2 := make(chan string, 1)
	go func() { v, _ := c.Get(context.Background(), "k", load); res2 <- v }()
	waitUntil(t, func() bool { return c.Waiters("k") == 2 })

	cancel1()
	if err := <-res1; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter got %v", err)
	}
	if loadCtx.Err() != nil {
		t.Fatal("the load was cancelled while another caller still waits")
	}
	close(release)
	if v := <-res2; v != "v" {
		t.Fatalf("second waiter got %q", v)
	}
}

func TestLoadCancelledWhenNobodyWaits(t *testing.T) {
	c := New[string, string](Options[string]{TTL: time.Minute})
	stopped := make(chan error, 1)
	load := func(ctx context.Context) (string, error) {
		<-ctx.Done()
		stopped <- ctx.Err()
		return "", ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Get(ctx, "k", load); done <- err }()
	waitUntil(t, func() bool { return c.Waiters("k") == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Fatalf("load ended with %v", err)
	}
	// The failed load is not cached: the next Get loads again.
	waitUntil(t, func() bool { return c.Waiters("k") == 0 })
	if v, err := c.Get(context.Background(), "k", value("v")); err != nil || v != "v" {
		t.Fatalf("got %q, %v", v, err)
	}
}

func TestPanickingLoad(t *testing.T) {
	c := New[string, string](Options[string]{TTL: time.Minute})
	_, err := c.Get(context.Background(), "k", func(context.Context) (string, error) { panic("boom") })
	if err == nil {
		t.Fatal("no error from a panicking load")
	}
}

func TestDeleteFunc(t *testing.T) {
	c := New[string, int](Options[int]{TTL: time.Minute})
	for i, k := range []string{"t1/a", "t1/b", "t2/a"} {
		c.Set(k, i, 0)
	}
	c.DeleteFunc(func(k string, _ int) bool { return k[:2] == "t1" })
	if c.Len() != 1 {
		t.Fatalf("%d entries, want 1", c.Len())
	}
	if _, ok := c.Peek("t2/a"); !ok {
		t.Fatal("t2/a dropped")
	}
}

// A value is never kept longer than the TTL after its load began.
func TestTTLCountsFromTheLoadStart(t *testing.T) {
	clk := newClock()
	c := New[string, string](Options[string]{TTL: time.Minute, Now: clk.now})
	c.Get(context.Background(), "k", func(context.Context) (string, error) {
		clk.add(20 * time.Second) // a slow read
		return "old", nil
	})
	clk.add(40 * time.Second)
	if v, _ := c.Get(context.Background(), "k", value("new")); v != "new" {
		t.Fatalf("got %q a minute after the read began", v)
	}
}
