package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/metrics"
)

// TestPrintStats: the summary line is printed at a tick only when the figures changed
// since the last line.
func TestPrintStats(t *testing.T) {
	c := metrics.NewCounters()
	out := &syncBuffer{}
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { printStats(ctx, ticks, out, c.Snapshot); close(done) }()
	tick := func() { ticks <- time.Now() } // unbuffered: returns once the loop took it

	tick() // nothing happened yet
	c.EventsPublished(1)
	c.FanOut(2)
	c.Delivered(41 * time.Millisecond)
	c.Failed(metrics.ReasonHTTP5xx)
	tick()
	tick() // nothing changed: no second line
	c.Delivered(180 * time.Millisecond)
	tick()
	cancel() // done closes after the loop wrote the last tick's line
	<-done

	want := "stats: published 1 (fan-out 2) · delivered 1 · failed 1 (http_5xx 1) · attempts 2 · p50 41 ms p99 41 ms\n" +
		"stats: published 1 (fan-out 2) · delivered 2 · failed 1 (http_5xx 1) · attempts 3 · p50 41 ms p99 180 ms\n"
	if got := out.String(); got != want {
		t.Errorf("printed\n%s\nwant\n%s", got, want)
	}
	if strings.ContainsAny(out.String(), "{}") {
		t.Error("the summary line holds JSON")
	}
}
