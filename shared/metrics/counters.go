package metrics

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencySamples is how many of the latest publish-to-delivery times Counters keeps
// for its percentiles: a bounded window, so a long run neither grows nor averages
// away what happens now.
const latencySamples = 1024

// Counters is an in-memory Recorder, for the local server and tests: running totals
// since the start, and percentiles of the latest publish-to-delivery times.
type Counters struct {
	published, fanOutEvents, fanOutDeliveries, delivered atomic.Int64
	failures                                             [len(Reasons)]atomic.Int64

	mu      sync.Mutex
	latency []int64 // a ring of the latest latencySamples times, in ms
	next    int     // where the next time goes once the ring is full
}

// NewCounters returns empty Counters.
func NewCounters() *Counters { return &Counters{} }

// EventsPublished implements Recorder.
func (c *Counters) EventsPublished(n int) { c.published.Add(int64(n)) }

// FanOut implements Recorder.
func (c *Counters) FanOut(deliveries int) {
	c.fanOutEvents.Add(1)
	c.fanOutDeliveries.Add(int64(deliveries))
}

// Delivered implements Recorder.
func (c *Counters) Delivered(d time.Duration) {
	c.delivered.Add(1)
	ms := max(0, d.Milliseconds())
	c.mu.Lock()
	if len(c.latency) < latencySamples {
		c.latency = append(c.latency, ms)
	} else {
		c.latency[c.next] = ms
		c.next = (c.next + 1) % latencySamples
	}
	c.mu.Unlock()
}

// Failed implements Recorder.
func (c *Counters) Failed(r Reason) { c.failures[r.index()].Add(1) }

// Flush implements Flusher: the counters are read, not written out.
func (c *Counters) Flush() {}

// Snapshot is what Counters hold at one moment (GET /local/stats on the local server).
type Snapshot struct {
	EventsPublished int64 `json:"eventsPublished"`
	// FanOut is the number of deliveries queued by fan-outs; FanOutEvents the number
	// of fan-outs (events) they came from.
	FanOut           int64            `json:"fanOut"`
	FanOutEvents     int64            `json:"fanOutEvents"`
	Deliveries       int64            `json:"deliveries"`
	DeliveryFailures int64            `json:"deliveryFailures"`
	FailuresByReason map[string]int64 `json:"failuresByReason"`
	Attempts         int64            `json:"attempts"`
	// PublishToDeliveryMs are percentiles of the latest successful deliveries.
	PublishToDeliveryMs Percentiles `json:"publishToDeliveryMs"`
}

// Percentiles summarise the latest publish-to-delivery times (Samples of them).
type Percentiles struct {
	P50     int64 `json:"p50"`
	P99     int64 `json:"p99"`
	Samples int   `json:"samples"`
}

// Snapshot reads the counters.
func (c *Counters) Snapshot() Snapshot {
	s := Snapshot{
		EventsPublished:  c.published.Load(),
		FanOut:           c.fanOutDeliveries.Load(),
		FanOutEvents:     c.fanOutEvents.Load(),
		Deliveries:       c.delivered.Load(),
		FailuresByReason: map[string]int64{},
	}
	for i, r := range Reasons {
		if n := c.failures[i].Load(); n > 0 {
			s.FailuresByReason[string(r)] = n
			s.DeliveryFailures += n
		}
	}
	s.Attempts = s.Deliveries + s.DeliveryFailures
	c.mu.Lock()
	ms := slices.Clone(c.latency)
	c.mu.Unlock()
	slices.Sort(ms)
	s.PublishToDeliveryMs = Percentiles{P50: percentile(ms, 0.50), P99: percentile(ms, 0.99), Samples: len(ms)}
	return s
}

// percentile is the nearest-rank percentile p of sorted values (0 when empty).
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Summary is s on one line for a person, e.g.
//
//	stats: published 120 (fan-out 240) · delivered 238 · failed 2 (http_5xx 2) · attempts 240 · p50 41 ms p99 180 ms
func (s Snapshot) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "stats: published %d (fan-out %d) · delivered %d · failed %d", s.EventsPublished, s.FanOut, s.Deliveries, s.DeliveryFailures)
	if s.DeliveryFailures > 0 {
		var parts []string
		for _, r := range Reasons {
			if n := s.FailuresByReason[string(r)]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", r, n))
			}
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, " · attempts %d", s.Attempts)
	if s.PublishToDeliveryMs.Samples > 0 {
		fmt.Fprintf(&b, " · p50 %d ms p99 %d ms", s.PublishToDeliveryMs.P50, s.PublishToDeliveryMs.P99)
	}
	return b.String()
}
