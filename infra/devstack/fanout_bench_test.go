package devstack_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// BenchmarkPublishFanOut measures POST /v1/events against the emulators with 1, 100
// and 1,000 matching subscriptions: the publish response time (ms/publish) and the
// time until every delivery is written and queued (ms-to-queued; above the inline
// limit of 50 the fan-out finishes in the consumer). Run: make bench.
func BenchmarkPublishFanOut(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("subscriptions=%d", n), func(b *testing.B) {
			d := startDev(b)
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
			b.Cleanup(rcv.Close)
			c := client{t: b, base: d.URL, key: d.APIKey}
			ctx := context.Background()
			now := time.Now().UTC()
			for i := 0; i < n; i++ {
				sub := gancho.Subscription{ID: gancho.NewID(gancho.PrefixSubscription, now), TenantID: d.TenantID, Name: "bench",
					URL: rcv.URL, Method: "POST", Events: []string{"order.*"}, Headers: map[string]string{},
					Auth: gancho.Auth{Type: gancho.AuthNone}, Mode: gancho.ModePush, Format: "envelope", IsActive: true,
					TimeoutSeconds: 15, RetrySchedule: gancho.DefaultRetrySchedule(), Secret: gancho.NewSecret(), CreatedAt: now, UpdatedAt: now}
				if err := d.App.Clients.Store.CreateSubscription(ctx, sub); err != nil {
					b.Fatal(err)
				}
			}
			var publish, queued time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var pub struct {
					ID         string
					Deliveries int
					FanOut     string
				}
				if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"i": i}}, &pub); code != 202 {
					b.Fatalf("publish: %d", code)
				}
				publish += time.Since(start)
				for {
					ev, err := d.App.Clients.Store.GetEvent(ctx, d.TenantID, pub.ID)
					if err == nil && ev.QueuedAt != nil {
						if ev.DeliveryCount != n {
							b.Fatalf("queued %d deliveries, want %d", ev.DeliveryCount, n)
						}
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				queued += time.Since(start)
			}
			b.StopTimer()
			b.ReportMetric(float64(publish.Milliseconds())/float64(b.N), "ms/publish")
			b.ReportMetric(float64(queued.Milliseconds())/float64(b.N), "ms-to-queued")
		})
	}
}
