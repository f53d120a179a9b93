package soak

import (
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

// Pair is one expected delivery: the event published as number Seq, to subscription Sub.
type Pair struct {
	Seq int
	Sub int
}

// Published is an event the publisher got a 202 for.
type Published struct {
	Seq     int
	EventID string
	SentAt  time.Time // when its first publish request was sent
}

// Receipt is what one receiver acknowledged (answered 2xx) for one pair.
type Receipt struct {
	Count    int       // acknowledged requests, across attempts and redeliveries
	First    time.Time // first acknowledgement
	EventIDs []string  // distinct event ids the requests carried
}

// Ledger records what the receivers acknowledged. It is safe for concurrent use.
type Ledger struct {
	mu       sync.Mutex
	receipts map[Pair]*Receipt
	answers  map[string]int // receiver answers by kind (ok, 5xx, hang, reset)
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{receipts: map[Pair]*Receipt{}, answers: map[string]int{}}
}

// Acknowledge records an acknowledged request for p carrying eventID.
func (l *Ledger) Acknowledge(p Pair, eventID string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.receipts[p]
	if r == nil {
		r = &Receipt{First: at}
		l.receipts[p] = r
	}
	r.Count++
	if !slices.Contains(r.EventIDs, eventID) {
		r.EventIDs = append(r.EventIDs, eventID)
	}
}

// Answered counts one receiver answer of the given kind.
func (l *Ledger) Answered(kind string) {
	l.mu.Lock()
	l.answers[kind]++
	l.mu.Unlock()
}

// Received reports how many pairs have been acknowledged at least once.
func (l *Ledger) Received() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.receipts)
}

// Has reports whether p was acknowledged.
func (l *Ledger) Has(p Pair) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.receipts[p] != nil
}

// Snapshot copies the receipts and the answer counts.
func (l *Ledger) Snapshot() (map[Pair]Receipt, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs := make(map[Pair]Receipt, len(l.receipts))
	for p, r := range l.receipts {
		c := *r
		c.EventIDs = slices.Clone(r.EventIDs)
		rs[p] = c
	}
	answers := make(map[string]int, len(l.answers))
	for k, v := range l.answers {
		answers[k] = v
	}
	return rs, answers
}

// Outcome is the soak's verdict on the deliveries.
type Outcome struct {
	Published  int // events the publisher got a 202 for
	Expected   int // Published x subscriptions
	Delivered  int // pairs acknowledged by their receiver
	Duplicates int // acknowledgements beyond the first, summed over pairs
	// Redelivered is the part of Duplicates that is one event received again (at least
	// once delivery); the rest are other events stored for the same publish.
	Redelivered int
	Failed      int // pairs not acknowledged whose delivery the API reports failed
	Lost        int // pairs neither acknowledged nor failed: must be 0
	LostPairs   []Pair
	// ReceivedFailed counts pairs acknowledged although the API reports them failed
	// (the receiver answered, the sender did not see it in time: at-least-once).
	ReceivedFailed int
	// ExtraEvents counts events beyond one per publish: stored twice, or delivered
	// under another id than the publisher was given.
	ExtraEvents int
	ExtraSeqs   []int         // the publishes that have them
	P50, P99    time.Duration // publish (first request) to first acknowledgement
}

// Reconcile judges every expected pair: acknowledged by its receiver, or failed in the
// API (status maps a pair to its delivery's status there), or lost. listed maps a
// publish's sequence number to the ids of the events stored for it.
func Reconcile(events []Published, subs int, receipts map[Pair]Receipt, status map[Pair]string, listed map[int][]string) Outcome {
	o := Outcome{Published: len(events), Expected: len(events) * subs}
	var latencies []time.Duration
	for _, ev := range events {
		ids := map[string]bool{ev.EventID: true}
		for _, id := range listed[ev.Seq] {
			ids[id] = true
		}
		for sub := range subs {
			p := Pair{Seq: ev.Seq, Sub: sub}
			r, ok := receipts[p]
			failed := status[p] == "failed"
			switch {
			case ok:
				o.Delivered++
				o.Duplicates += r.Count - 1
				o.Redelivered += r.Count - max(len(r.EventIDs), 1)
				latencies = append(latencies, r.First.Sub(ev.SentAt))
				for _, id := range r.EventIDs {
					ids[id] = true
				}
				if failed {
					o.ReceivedFailed++
				}
			case failed:
				o.Failed++
			default:
				o.Lost++
				o.LostPairs = append(o.LostPairs, p)
			}
		}
		if len(ids) > 1 {
			o.ExtraEvents += len(ids) - 1
			o.ExtraSeqs = append(o.ExtraSeqs, ev.Seq)
		}
	}
	o.P50, o.P99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
	return o
}

// percentile returns the q-quantile (nearest rank) of ds, 0 for none.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}
