package gancho_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

const idAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

func TestNewIDShape(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, prefix := range []string{gancho.PrefixSubscription, gancho.PrefixEvent, gancho.PrefixDelivery, gancho.PrefixKey, gancho.PrefixTenant} {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			id := gancho.NewID(prefix, now)
			rest, ok := strings.CutPrefix(id, prefix)
			if !ok {
				t.Fatalf("%q lacks prefix %q", id, prefix)
			}
			if len(rest) != 26 {
				t.Errorf("%q: %d chars after the prefix, want 26", id, len(rest))
			}
			if i := strings.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune(idAlphabet, r) }); i >= 0 {
				t.Errorf("%q: character %q outside the id alphabet", id, rest[i])
			}
		})
	}
}

func TestNewIDSortsByTime(t *testing.T) {
	t.Parallel()
	t.Run("fixed clock", func(t *testing.T) {
		t.Parallel()
		starts := []time.Time{
			time.Unix(0, 0),
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2026, 12, 31, 23, 59, 59, 999e6, time.UTC),
			time.Date(2100, 6, 1, 0, 0, 0, 0, time.UTC),
		}
		for _, start := range starts {
			for _, step := range []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Second, 24 * time.Hour} {
				for range 200 {
					a := gancho.NewID(gancho.PrefixEvent, start)
					b := gancho.NewID(gancho.PrefixEvent, start.Add(step))
					if a >= b {
						t.Fatalf("start %v step %v: %q >= %q", start, step, a, b)
					}
				}
			}
		}
	})
	t.Run("real clock 2 ms apart", func(t *testing.T) {
		t.Parallel()
		prev := gancho.NewID(gancho.PrefixSubscription, time.Now())
		for range 20 {
			time.Sleep(2 * time.Millisecond)
			next := gancho.NewID(gancho.PrefixSubscription, time.Now())
			if prev >= next {
				t.Fatalf("%q made before %q sorts after it", prev, next)
			}
			prev = next
		}
	})
}

func TestNewIDUnique(t *testing.T) {
	t.Parallel()
	const n = 10000
	now := time.Now() // the same millisecond for all: only the random part differs
	seen := make(map[string]bool, n)
	for range n {
		id := gancho.NewID(gancho.PrefixEvent, now)
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestDeliveryID(t *testing.T) {
	t.Parallel()
	now := time.Now()
	evA := gancho.NewID(gancho.PrefixEvent, now)
	evB := gancho.NewID(gancho.PrefixEvent, now)
	subA, subB := gancho.NewID(gancho.PrefixSubscription, now), gancho.NewID(gancho.PrefixSubscription, now)

	t.Run("shape", func(t *testing.T) {
		id := gancho.DeliveryID(evA, subA)
		rest, ok := strings.CutPrefix(id, gancho.PrefixDelivery)
		if !ok {
			t.Fatalf("%q lacks prefix %q", id, gancho.PrefixDelivery)
		}
		if i := strings.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune(idAlphabet, r) }); i >= 0 {
			t.Errorf("%q: character %q outside the id alphabet", id, rest[i])
		}
		if len(rest) < 26 {
			t.Errorf("%q: only %d chars after the prefix", id, len(rest))
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		for _, dest := range []string{subA, subB, "callback"} {
			if a, b := gancho.DeliveryID(evA, dest), gancho.DeliveryID(evA, dest); a != b {
				t.Errorf("destination %q: %q then %q", dest, a, b)
			}
		}
	})
	t.Run("differs per destination", func(t *testing.T) {
		if gancho.DeliveryID(evA, subA) == gancho.DeliveryID(evA, subB) {
			t.Error("same id for two subscriptions of one event")
		}
		if gancho.DeliveryID(evA, subA) == gancho.DeliveryID(evA, "callback") {
			t.Error("same id for a subscription and the callback")
		}
	})
	t.Run("differs per event", func(t *testing.T) {
		if gancho.DeliveryID(evA, subA) == gancho.DeliveryID(evB, subA) {
			t.Error("same id for two events (same millisecond) to one subscription")
		}
	})
	t.Run("no ambiguity between event and destination", func(t *testing.T) {
		if gancho.DeliveryID("evt_ab", "c") == gancho.DeliveryID("evt_a", "bc") {
			t.Error("event and destination boundary is ambiguous")
		}
	})
	t.Run("keeps the event's time prefix", func(t *testing.T) {
		id := gancho.DeliveryID(evA, subA)
		if got, want := id[len(gancho.PrefixDelivery):][:9], evA[len(gancho.PrefixEvent):][:9]; got != want {
			t.Errorf("delivery %q does not start with the event's time %q", id, want)
		}
	})
	t.Run("sorts with its event's time", func(t *testing.T) {
		start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		for i := range 500 {
			e1 := gancho.NewID(gancho.PrefixEvent, start.Add(time.Duration(i)*time.Millisecond))
			e2 := gancho.NewID(gancho.PrefixEvent, start.Add(time.Duration(i+1)*time.Millisecond))
			// Whatever the destinations, the later event's delivery sorts later.
			d1 := gancho.DeliveryID(e1, "sub_zzzzzzzz")
			d2 := gancho.DeliveryID(e2, "sub_00000000")
			if d1 >= d2 {
				t.Fatalf("delivery of %q (%q) sorts after delivery of later %q (%q)", e1, d1, e2, d2)
			}
		}
	})
}

func TestParseDeliveryID(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ev := gancho.NewID(gancho.PrefixEvent, now)
	sub := gancho.NewID(gancho.PrefixSubscription, now)
	for _, tc := range []struct {
		name, event, dest string
		ok                bool
	}{
		{"subscription", ev, sub, true},
		{"callback", ev, gancho.CallbackDestination, true},
		{"event id not made by NewID", "evt_ab", sub, false},
		{"destination not made by NewID", ev, "sub_short", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := gancho.DeliveryID(tc.event, tc.dest)
			e, d, ok := gancho.ParseDeliveryID(id)
			if ok != tc.ok {
				t.Fatalf("ParseDeliveryID(%q) ok = %v, want %v", id, ok, tc.ok)
			}
			if ok && (e != tc.event || d != tc.dest) {
				t.Errorf("ParseDeliveryID(%q) = %q, %q; want %q, %q", id, e, d, tc.event, tc.dest)
			}
		})
	}
	for _, bad := range []string{"", "dlv_", "sub_" + ev[4:] + sub[4:], "dlv_" + ev[4:], "dlv_" + ev[4:] + "x", "dlv_" + ev[4:] + sub[4:] + "0", "dlv_" + strings.ToUpper(ev[4:]) + sub[4:]} {
		if _, _, ok := gancho.ParseDeliveryID(bad); ok {
			t.Errorf("ParseDeliveryID(%q) accepted", bad)
		}
	}
}
