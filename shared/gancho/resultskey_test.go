package gancho_test

import (
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// A scheduled event's results key sorts among event ids at its deliverAt (or its
// fan-out, if later), and gives back its event id.
func TestScheduledResultsKey(t *testing.T) {
	created := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	deliverAt := created.Add(3 * time.Hour)
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, created), DeliverAt: &deliverAt}
	cases := []struct {
		name          string
		queuedAt, due time.Time
	}{
		{"fanned out before deliverAt", deliverAt.Add(-13 * time.Minute), deliverAt},
		{"fanned out late", deliverAt.Add(time.Minute), deliverAt.Add(time.Minute)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key, ok := gancho.ScheduledResultsKey(ev, tc.queuedAt)
			if !ok {
				t.Fatal("no key for a scheduled event")
			}
			before := gancho.NewID(gancho.PrefixEvent, tc.due.Add(-time.Millisecond))
			after := gancho.NewID(gancho.PrefixEvent, tc.due.Add(time.Millisecond))
			if !(before < key && key < after && gancho.ResultsFloor(tc.due) <= key && key < gancho.ResultsFloor(tc.due)+"~") {
				t.Errorf("key %s does not sort at %s (between %s and %s)", key, tc.due, before, after)
			}
			if id, ok := gancho.ScheduledResultsEvent(key); !ok || id != ev.ID {
				t.Errorf("event of key = %q, %v; want %s", id, ok, ev.ID)
			}
		})
	}
	if _, ok := gancho.ScheduledResultsKey(gancho.Event{ID: ev.ID}, created); ok {
		t.Error("a key for an event that is not scheduled")
	}
	for _, notKey := range []string{ev.ID, gancho.DeliveryID(ev.ID, gancho.NewID(gancho.PrefixSubscription, created)), ""} {
		if _, ok := gancho.ScheduledResultsEvent(notKey); ok {
			t.Errorf("%q taken for a results key", notKey)
		}
	}
}
