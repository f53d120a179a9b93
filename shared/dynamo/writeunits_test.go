package dynamo_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// writeMeter counts the write units DynamoDB reports for the writes of one client.
type writeMeter struct {
	mu    sync.Mutex
	units float64
}

func (m *writeMeter) add(cs ...types.ConsumedCapacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		m.units += aws.ToFloat64(c.CapacityUnits)
	}
}

func (m *writeMeter) take() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.units
	m.units = 0
	return u
}

// countingStore is a Store on the emulated table whose client asks DynamoDB for the
// consumed capacity of every write and adds it to the meter.
func countingStore(t *testing.T, e storeEnv) (*dynamo.Store, *writeMeter) {
	t.Helper()
	m := &writeMeter{}
	count := middleware.InitializeMiddlewareFunc("countWriteUnits", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		switch p := in.Parameters.(type) {
		case *dynamodb.PutItemInput:
			p.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		case *dynamodb.BatchWriteItemInput:
			p.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		case *dynamodb.UpdateItemInput:
			p.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		}
		out, md, err := next.HandleInitialize(ctx, in)
		switch r := out.Result.(type) {
		case *dynamodb.PutItemOutput:
			if r.ConsumedCapacity != nil {
				m.add(*r.ConsumedCapacity)
			}
		case *dynamodb.BatchWriteItemOutput:
			m.add(r.ConsumedCapacity...)
		case *dynamodb.UpdateItemOutput:
			if r.ConsumedCapacity != nil {
				m.add(*r.ConsumedCapacity)
			}
		}
		return out, md, err
	})
	db := dynamodb.New(e.db.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(count, middleware.After)
		})
	})
	return dynamo.New(db, e.table, nil), m
}

// An event with ten destinations and a payload of about 512 bytes (what make cost
// publishes) is one write unit on each path that stores it queued: its item stays
// under 1 KiB even with timestamps of nine fractional digits and ids of full length.
// The item once carried its id twice (sort key and "id"), which put it 2 bytes over
// and doubled the write.
func TestEventWithTenDestinationsIsOneWriteUnit(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	st, meter := countingStore(t, e)
	tenant := testenv.TenantID()
	// Nanoseconds with no trailing zero: the longest timestamps RFC 3339 gives.
	at := time.Now().UTC().Truncate(time.Second).Add(123456789 * time.Nanosecond)
	dests := make([]gancho.Destination, 10)
	for i := range dests {
		dests[i] = gancho.Destination{SubscriptionID: gancho.NewID(gancho.PrefixSubscription, at)}
	}
	const events = 30
	newEvents := func() []gancho.Event {
		evs := make([]gancho.Event, events)
		for i := range evs {
			payload, err := json.Marshal(map[string]any{"orderId": 90 + i%10, "note": strings.Repeat("x", 482)})
			if err != nil {
				t.Fatal(err)
			}
			evs[i] = gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, at), TenantID: tenant, Type: "order.created",
				CreatedAt: at, Payload: payload}
		}
		return evs
	}
	queued := func(evs []gancho.Event) []gancho.Event {
		out := make([]gancho.Event, len(evs))
		for i, ev := range evs {
			q := at.Add(time.Millisecond)
			ev.QueuedAt, ev.DeliveryCount, ev.Destinations = &q, len(dests), dests
			out[i] = ev
		}
		return out
	}
	for _, tc := range []struct {
		name string
		// perEvent: the item's write unit, and for MarkEventsQueued the removal of its
		// outbox index copy, a write of its own.
		perEvent float64
		write    func(t *testing.T) // stores `events` events, each queued to dests
	}{
		{"batch publish, queued first", 1, func(t *testing.T) {
			for i, err := range st.PutEvents(e.ctx, queued(newEvents()), nil) {
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
		}},
		{"single publish, queued first", 1, func(t *testing.T) {
			for _, ev := range queued(newEvents()) {
				if err := st.CreateEvent(e.ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"batch publish, marked queued after", 2, func(t *testing.T) {
			evs := newEvents()
			for i, err := range st.PutEvents(e.ctx, evs, nil) {
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
			meter.take() // the outbox item and its index copy are not what this counts
			ds := make([][]gancho.Destination, len(evs))
			for i := range ds {
				ds[i] = dests
			}
			for i, err := range st.MarkEventsQueued(e.ctx, evs, at.Add(time.Millisecond), ds) {
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meter.take()
			tc.write(t)
			if got, want := meter.take(), tc.perEvent*events; got != want {
				t.Errorf("%v write units for %d events, want %v", got, events, want)
			}
		})
	}
}
