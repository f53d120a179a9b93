package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// gatedTypeStore serves one event type; each read waits for its gate.
type gatedTypeStore struct {
	Store   // nil: only GetEventType is used
	schema  json.RawMessage
	rev     atomic.Int64
	gate    atomic.Pointer[chan struct{}]
	reads   atomic.Int32
	waiting atomic.Int32 // reads held at the gate
}

func (s *gatedTypeStore) GetEventType(ctx context.Context, tenant, name string) (gancho.EventType, error) {
	s.reads.Add(1)
	s.waiting.Add(1)
	<-*s.gate.Load()
	s.waiting.Add(-1)
	return gancho.EventType{TenantID: tenant, Name: name, Schema: s.schema, HasSchema: true, Rev: s.rev.Load()}, nil
}

// untilTrue waits for cond, failing the test if it never holds.
func untilTrue(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never happened: %s", what)
		}
	}
}

// Concurrent publishes of a type read and compile each revision of its schema once.
func TestSchemaCompiledOncePerRevision(t *testing.T) {
	t.Parallel()
	const tenant, name = "ten_1", "order.paid"
	cases := []struct {
		name       string
		schema     string
		revs       []int64 // one round of callers per entry, each after the previous
		callers    int     // concurrent callers per round
		wantReads  int32
		wantCost   bool
		wantShared bool // every caller of a round gets the same compiled schema
	}{
		{name: "concurrent callers share one compile", schema: `{"required":["id"]}`, revs: []int64{1}, callers: 8, wantReads: 1, wantShared: true},
		{name: "a cached revision is not compiled again", schema: `{"required":["id"]}`, revs: []int64{1, 1, 1}, callers: 3, wantReads: 1, wantShared: true},
		{name: "a new revision is compiled again", schema: `{"required":["id"]}`, revs: []int64{1, 2}, callers: 4, wantReads: 2, wantShared: true},
		{name: "a schema too costly to check is refused once", schema: strings.Repeat(`{"items":`, 100) + `{}` + strings.Repeat(`}`, 100), revs: []int64{1, 1}, callers: 4, wantReads: 1, wantCost: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := &gatedTypeStore{schema: json.RawMessage(tc.schema)}
			a := New(st, time.Now)
			var compiles atomic.Int32
			a.compile = func(raw json.RawMessage) (*gancho.Schema, error) {
				compiles.Add(1)
				return gancho.CompileStoredSchema(raw)
			}
			type result struct {
				sch *gancho.Schema
				err error
			}
			for _, rev := range tc.revs {
				st.rev.Store(rev)
				gate := make(chan struct{})
				st.gate.Store(&gate)
				results := make(chan result, tc.callers)
				et := gancho.EventType{TenantID: tenant, Name: name, HasSchema: true, Rev: rev}
				for range tc.callers {
					go func() {
						sch, err := a.schemaFor(context.Background(), et)
						results <- result{sch, err}
					}()
				}
				// Every caller is done (cached) or waiting for the one load.
				untilTrue(t, "all callers waiting", func() bool {
					return len(results)+a.schemas.Waiters(schemaKey{tenant, name, rev}) == tc.callers
				})
				close(gate)
				var first *gancho.Schema
				for i := range tc.callers {
					r := <-results
					var ce *gancho.SchemaCostError
					if tc.wantCost != errors.As(r.err, &ce) || !tc.wantCost && (r.err != nil || r.sch == nil) {
						t.Fatalf("rev %d: schema %v, err %v", rev, r.sch, r.err)
					}
					if i == 0 {
						first = r.sch
					} else if tc.wantShared && r.sch != first {
						t.Fatalf("rev %d: callers got different compiled schemas", rev)
					}
				}
			}
			if r, c := st.reads.Load(), compiles.Load(); r != tc.wantReads || c != tc.wantReads {
				t.Fatalf("%d reads and %d compiles, want %d of each", r, c, tc.wantReads)
			}
		})
	}
}
