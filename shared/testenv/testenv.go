// Package testenv gives integration tests the emulated AWS services that `make test`
// starts (see infra/cmd/withstack), and a fresh tenant per test so tests sharing one
// table never see each other's data.
package testenv

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Config returns the configuration of the emulated stack. Without one, the test is
// skipped on a developer machine (run it through `make test`) and fails in CI, so CI
// can never pass by skipping.
func Config(t testing.TB) config.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: needs the emulators (make test)")
	}
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("integration environment missing in CI: %v", err)
		}
		t.Skipf("integration test: %v (run it through make test)", err)
	}
	cfg.AllowInsecure = true
	return cfg
}

// Clients returns AWS clients on the emulated stack.
func Clients(t testing.TB) (config.Config, config.Clients) {
	t.Helper()
	cfg := Config(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := cfg.NewClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, c
}

// TenantID returns a tenant id unique to this test run.
func TenantID() string { return gancho.NewID(gancho.PrefixTenant, time.Now()) }

// Logger returns a logger that writes to the test log only with -v.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// Queued is ev as a publish that queued deliveries ds before storing ev stores it:
// marked queued, with ds as its destinations (pending deliveries have no record until
// their first outcome).
func Queued(ev gancho.Event, ds ...gancho.Delivery) gancho.Event {
	at := ev.CreatedAt
	ev.QueuedAt, ev.DeliveryCount = &at, len(ds)
	ev.Destinations = make([]gancho.Destination, len(ds))
	for i, d := range ds {
		ev.Destinations[i] = gancho.Destination{SubscriptionID: d.SubscriptionID, OwnerID: d.OwnerID}
	}
	return ev
}

// Emulated returns the emulated stack's configuration and clients when the test can
// use them: not with -short, and only when the emulators' environment is present
// (`make test` provides it). Otherwise it reports false, and the caller runs the
// test on in-memory doubles instead, so logic tests run everywhere in milliseconds
// and on the real protocols under `make test`. In CI a run without -short must have
// the emulators: it fails rather than quietly testing the doubles alone.
func Emulated(t testing.TB) (config.Config, config.Clients, bool) {
	t.Helper()
	if testing.Short() {
		return config.Config{}, config.Clients{}, false
	}
	if _, err := config.FromEnv(os.Getenv); err != nil && os.Getenv("CI") == "" {
		return config.Config{}, config.Clients{}, false
	}
	cfg, c := Clients(t)
	return cfg, c, true
}
