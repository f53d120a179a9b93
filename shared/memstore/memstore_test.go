package memstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/storetest"
)

// TestBehaviours runs the store behaviour table, which the DynamoDB store passes too.
func TestBehaviours(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return memstore.New().WithFanOutSettle(0) })
}

// Expiry follows the store's clock, so tests can move past the retention without
// waiting or writing items from the past.
func TestExpiryFollowsTheClock(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	st := memstore.New().WithClock(func() time.Time { return now }).WithRetention(time.Hour)
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: "ten_1", Type: "a.b", CreatedAt: now,
		Payload: json.RawMessage(`{}`)}
	if err := st.CreateEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if err := st.PutInbox(ctx, ev, []string{"sub_1"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEvent(ctx, "ten_1", ev.ID); err != nil {
		t.Fatalf("within retention: %v", err)
	}
	now = now.Add(time.Hour)
	if _, err := st.GetEvent(ctx, "ten_1", ev.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("past retention: %v, want ErrNotFound", err)
	}
	if has, err := st.HasUnseen(ctx, "ten_1", "sub_1"); err != nil || has {
		t.Errorf("inbox past retention: unseen %v, %v", has, err)
	}
}
