package metrics

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCountersSummary(t *testing.T) {
	cases := []struct {
		name   string
		record func(*Counters)
		want   string
	}{
		{"nothing yet", func(*Counters) {},
			"stats: published 0 (fan-out 0) · delivered 0 · failed 0 · attempts 0"},
		{"published, delivered and failed", func(c *Counters) {
			c.EventsPublished(2)
			c.FanOut(3)
			c.FanOut(1)
			for _, ms := range []int{41, 40, 180} {
				c.Delivered(time.Duration(ms) * time.Millisecond)
			}
			c.Failed(ReasonHTTP5xx)
			c.Failed(ReasonTimeout)
			c.Failed(ReasonHTTP5xx)
		}, "stats: published 2 (fan-out 4) · delivered 3 · failed 3 (http_5xx 2, timeout 1) · attempts 6 · p50 41 ms p99 180 ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cs := NewCounters()
			c.record(cs)
			if got := cs.Snapshot().Summary(); got != c.want {
				t.Errorf("summary\n got %q\nwant %q", got, c.want)
			}
		})
	}
}

// TestCountersKeepLatestLatencies: the percentiles describe the latest deliveries,
// in a bounded window.
func TestCountersKeepLatestLatencies(t *testing.T) {
	c := NewCounters()
	for range latencySamples {
		c.Delivered(time.Second)
	}
	for range latencySamples {
		c.Delivered(5 * time.Millisecond)
	}
	s := c.Snapshot()
	if s.PublishToDeliveryMs != (Percentiles{P50: 5, P99: 5, Samples: latencySamples}) || s.Deliveries != 2*latencySamples {
		t.Errorf("got %+v after %d deliveries, want the latest %d only", s.PublishToDeliveryMs, s.Deliveries, latencySamples)
	}
}

// TestCountersConcurrent: recorders are called from a batch's goroutines (go test
// -race).
func TestCountersConcurrent(t *testing.T) {
	c := NewCounters()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Delivered(time.Millisecond)
				c.Failed(ReasonNetwork)
				c.EventsPublished(1)
				_ = c.Snapshot()
			}
		})
	}
	wg.Wait()
	if s := c.Snapshot(); s.Attempts != 1600 || s.FailuresByReason["network"] != 800 || s.EventsPublished != 800 {
		t.Errorf("got %+v", s)
	}
}

type flushCount struct{ n int }

func (f *flushCount) Flush() { f.n++ }

func TestFlushAfterFlushesEachInvocation(t *testing.T) {
	f := &flushCount{}
	h := FlushAfter(func(context.Context, int) (int, error) { return 0, context.Canceled }, f)
	for range 3 {
		_, _ = h(context.Background(), 1)
	}
	if f.n != 3 {
		t.Errorf("flushed %d times after 3 invocations", f.n)
	}
}

// TestForFunction: EMF on Lambda, nothing elsewhere.
func TestForFunction(t *testing.T) {
	env := func(name string) func(string) string {
		return func(k string) string {
			if k == "AWS_LAMBDA_FUNCTION_NAME" {
				return name
			}
			return ""
		}
	}
	var out strings.Builder
	s := ForFunction(FunctionDeliver, env("gancho-prod-DeliverFunction-X1"), &out)
	s.Failed(ReasonTimeout)
	s.Flush()
	if !strings.Contains(out.String(), `"Function":"deliver"`) {
		t.Errorf("on Lambda: wrote %q, want EMF lines for Function deliver", out.String())
	}
	out.Reset()
	s = ForFunction(FunctionDeliver, env(""), &out)
	s.Failed(ReasonTimeout)
	s.Flush()
	if out.Len() != 0 {
		t.Errorf("off Lambda: wrote %q", out.String())
	}
}
