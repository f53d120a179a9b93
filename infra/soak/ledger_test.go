package soak

import (
	"reflect"
	"testing"
	"time"
)

func TestReconcile(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	events := []Published{{Seq: 0, EventID: "evt_a", SentAt: t0}, {Seq: 1, EventID: "evt_b", SentAt: t0}}
	got := func(seq int, ms int, n int, ids ...string) Receipt {
		if len(ids) == 0 {
			ids = []string{events[seq].EventID}
		}
		return Receipt{Count: n, First: t0.Add(time.Duration(ms) * time.Millisecond), EventIDs: ids}
	}
	all := func() map[Pair]Receipt {
		return map[Pair]Receipt{{0, 0}: got(0, 10, 1), {0, 1}: got(0, 20, 1), {1, 0}: got(1, 30, 1), {1, 1}: got(1, 40, 1)}
	}
	for _, tc := range []struct {
		name     string
		receipts func() map[Pair]Receipt
		status   map[Pair]string
		listed   map[int][]string
		want     Outcome
	}{
		{
			name:     "every pair received once",
			receipts: all,
			want:     Outcome{Published: 2, Expected: 4, Delivered: 4, P50: 20 * time.Millisecond, P99: 40 * time.Millisecond},
		},
		{
			name: "a missing pair that failed in the API is not lost",
			receipts: func() map[Pair]Receipt {
				r := all()
				delete(r, Pair{1, 1})
				return r
			},
			status: map[Pair]string{{1, 1}: "failed"},
			want:   Outcome{Published: 2, Expected: 4, Delivered: 3, Failed: 1, P50: 20 * time.Millisecond, P99: 30 * time.Millisecond},
		},
		{
			name: "a missing pair still retrying is lost",
			receipts: func() map[Pair]Receipt {
				r := all()
				delete(r, Pair{1, 1})
				return r
			},
			status: map[Pair]string{{1, 1}: "retrying"},
			want: Outcome{Published: 2, Expected: 4, Delivered: 3, Lost: 1, LostPairs: []Pair{{1, 1}},
				P50: 20 * time.Millisecond, P99: 30 * time.Millisecond},
		},
		{
			name: "a missing pair the API has never heard of is lost",
			receipts: func() map[Pair]Receipt {
				r := all()
				delete(r, Pair{0, 0})
				return r
			},
			want: Outcome{Published: 2, Expected: 4, Delivered: 3, Lost: 1, LostPairs: []Pair{{0, 0}},
				P50: 30 * time.Millisecond, P99: 40 * time.Millisecond},
		},
		{
			name: "receipts beyond the first are duplicates",
			receipts: func() map[Pair]Receipt {
				r := all()
				r[Pair{0, 1}] = got(0, 20, 3)
				return r
			},
			want: Outcome{Published: 2, Expected: 4, Delivered: 4, Duplicates: 2, Redelivered: 2, P50: 20 * time.Millisecond, P99: 40 * time.Millisecond},
		},
		{
			name: "a pair received under a second event id shows an extra event",
			receipts: func() map[Pair]Receipt {
				r := all()
				r[Pair{1, 0}] = got(1, 30, 3, "evt_b", "evt_c")
				return r
			},
			want: Outcome{Published: 2, Expected: 4, Delivered: 4, Duplicates: 2, Redelivered: 1, ExtraEvents: 1, ExtraSeqs: []int{1}, P50: 20 * time.Millisecond, P99: 40 * time.Millisecond},
		},
		{
			name:     "two events stored for one publish is an extra event",
			receipts: all,
			listed:   map[int][]string{0: {"evt_a", "evt_z"}, 1: {"evt_b"}},
			want:     Outcome{Published: 2, Expected: 4, Delivered: 4, ExtraEvents: 1, ExtraSeqs: []int{0}, P50: 20 * time.Millisecond, P99: 40 * time.Millisecond},
		},
		{
			name:     "received although the API says failed",
			receipts: all,
			status:   map[Pair]string{{0, 0}: "failed"},
			want:     Outcome{Published: 2, Expected: 4, Delivered: 4, ReceivedFailed: 1, P50: 20 * time.Millisecond, P99: 40 * time.Millisecond},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Reconcile(events, 2, tc.receipts(), tc.status, tc.listed)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Reconcile =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(4, 1, 3, 2), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.5, 5 * time.Millisecond},
	} {
		if got := percentile(tc.in, tc.q); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
}

func TestLedger(t *testing.T) {
	l := NewLedger()
	at := time.Now()
	l.Acknowledge(Pair{1, 2}, "evt_a", at)
	l.Acknowledge(Pair{1, 2}, "evt_a", at.Add(time.Second))
	l.Acknowledge(Pair{1, 2}, "evt_b", at.Add(2*time.Second))
	l.Answered(answerOK)
	l.Answered(answerOK)
	l.Answered(answerReset)
	rs, answers := l.Snapshot()
	want := Receipt{Count: 3, First: at, EventIDs: []string{"evt_a", "evt_b"}}
	if !reflect.DeepEqual(rs[Pair{1, 2}], want) || l.Received() != 1 || !l.Has(Pair{1, 2}) || l.Has(Pair{2, 1}) {
		t.Errorf("receipts = %+v", rs)
	}
	if !reflect.DeepEqual(answers, map[string]int{answerOK: 2, answerReset: 1}) {
		t.Errorf("answers = %v", answers)
	}
}

func TestResultChecks(t *testing.T) {
	ok := ProbeResult{Passed: true}
	for _, tc := range []struct {
		name   string
		r      Result
		passed bool
	}{
		{"clean", Result{Outcome: Outcome{Expected: 10, Delivered: 9, Failed: 1}, Probes: []ProbeResult{ok, ok}}, true},
		{"nothing expected proves nothing", Result{Probes: []ProbeResult{ok}}, false},
		{"lost", Result{Outcome: Outcome{Expected: 10, Lost: 1}}, false},
		{"extra event", Result{Outcome: Outcome{Expected: 10, ExtraEvents: 1}}, false},
		{"probe failed", Result{Outcome: Outcome{Expected: 10}, Probes: []ProbeResult{ok, {}}}, false},
	} {
		if got := tc.r.Passed(); got != tc.passed {
			t.Errorf("%s: Passed = %v, want %v", tc.name, got, tc.passed)
		}
	}
}
