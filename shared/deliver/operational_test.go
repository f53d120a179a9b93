package deliver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

type opsRecorder struct {
	mu  sync.Mutex
	ops []gancho.Operational
}

func (r *opsRecorder) PublishOperational(_ context.Context, op gancho.Operational) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
	return nil
}

func (r *opsRecorder) summary() []string {
	var out []string
	for _, op := range r.ops {
		out = append(out, op.Event.Type)
	}
	return out
}

func TestStatusEvents(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	since := t0.Add(-time.Hour)
	fail := gancho.Attempt{Outcome: gancho.OutcomeFailure, StatusCode: 500}
	ok := gancho.Attempt{Outcome: gancho.OutcomeSuccess, StatusCode: 200}
	at := func(a gancho.Attempt, s int) gancho.Attempt { a.At = t0.Add(time.Duration(s) * time.Second); return a }
	tests := []struct {
		name     string
		before   int
		failing  bool // the block has failingSince
		attempts []gancho.Attempt
		want     []string
		wantKeys int // distinct keys among them
	}{
		{"below the first threshold", 3, true, []gancho.Attempt{at(fail, 1)}, nil, 0},
		{"reaching 5", 3, true, []gancho.Attempt{at(fail, 1), at(fail, 2)}, []string{"failing 5"}, 1},
		{"past 5 and 20 in one batch", 4, true, slices.Repeat([]gancho.Attempt{at(fail, 1)}, 17), []string{"failing 5", "failing 20"}, 2},
		{"a first run from nothing", 0, false, slices.Repeat([]gancho.Attempt{at(fail, 1)}, 5), []string{"failing 5"}, 1},
		{"recovered after reaching 5", 7, true, []gancho.Attempt{at(ok, 1)}, []string{"recovered"}, 1},
		{"a success below the threshold is no recovery", 2, true, []gancho.Attempt{at(ok, 1)}, nil, 0},
		{"recovered, then a new run reaches 5", 7, true, append([]gancho.Attempt{at(ok, 1)}, slices.Repeat([]gancho.Attempt{at(fail, 2)}, 5)...), []string{"recovered", "failing 5"}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &opsRecorder{}
			h := &Handler{ops: rec, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			sub := gancho.Subscription{ID: "sub_1", TenantID: "t1"}
			sub.ConsecutiveFailures = tc.before
			if tc.failing {
				sub.FailingSince = &since
			}
			var o gancho.Outcome
			for _, a := range tc.attempts {
				o.Add(a)
			}
			h.statusEvents(context.Background(), sub, o)
			var got []string
			keys := map[string]bool{}
			for _, op := range rec.ops {
				keys[op.Key] = true
				switch op.Event.Type {
				case gancho.TypeSubscriptionFailing:
					var p struct{ ConsecutiveFailures int }
					_ = json.Unmarshal(op.Event.Payload, &p)
					got = append(got, "failing "+strconv.Itoa(p.ConsecutiveFailures))
				case gancho.TypeSubscriptionRecovered:
					got = append(got, "recovered")
				default:
					got = append(got, op.Event.Type)
				}
				if op.Event.AboutSubscriptionID != "sub_1" {
					t.Errorf("%s is about %q", op.Event.Type, op.Event.AboutSubscriptionID)
				}
			}
			if !slices.Equal(got, tc.want) || len(keys) != tc.wantKeys {
				t.Fatalf("events %v (%d keys), want %v (%d)", rec.summary(), len(keys), tc.want, tc.wantKeys)
			}
			// Another consumer that read the same block and saw the same batch sends
			// the same keys: the publisher makes them once.
			again := &opsRecorder{}
			h.ops = again
			h.statusEvents(context.Background(), sub, o)
			for i := range rec.ops {
				if again.ops[i].Key != rec.ops[i].Key {
					t.Fatalf("keys differ between consumers: %s, %s", rec.ops[i].Key, again.ops[i].Key)
				}
			}
		})
	}
}
