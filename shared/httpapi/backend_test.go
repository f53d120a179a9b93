package httpapi_test

import (
	"context"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// testStore is what the tests use of a store: the API's and the publisher's
// interfaces, and the writes a consumer would make, which tests make directly.
type testStore interface {
	httpapi.Store
	publish.Store
	RecordAttempt(ctx context.Context, d gancho.Delivery, a gancho.Attempt, status string, next *time.Time, park bool) error
	SetDeliveryStatus(ctx context.Context, d gancho.Delivery, status string) error
	ReadInbox(ctx context.Context, tenant, subID string, q gancho.InboxQuery) (gancho.InboxPage, error)
	PutAPIKey(ctx context.Context, k gancho.APIKey, hash string) error
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]gancho.Delivery, error)
	PendingEvents(ctx context.Context, olderThan time.Time, limit int) ([]gancho.Event, error)
}

// backend is where a test's API keeps its data and sends its messages. Under
// `make test` it is DynamoDB Local and the SQS emulator; without them (or with
// -short) it is the in-memory store and queue, which behave the same through every
// interface (shared/storetest holds both stores to one table). Test bodies are
// written once against it and run on both.
type backend struct {
	store  testStore
	queue  publish.Queue
	policy gancho.TargetPolicy
	settle func(time.Duration) // sets the store's fan-out settle time

	// emulated is set on the emulators: tests of the stored bytes themselves
	// (sealing at rest) read the table through it.
	emulated *emulators
}

type emulators struct {
	cfg     config.Config
	clients config.Clients
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	if cfg, clients, ok := testenv.Emulated(t); ok {
		return &backend{store: clients.Store, queue: clients.Queue,
			policy:   gancho.TargetPolicy{AllowInsecure: cfg.AllowInsecure},
			settle:   func(d time.Duration) { clients.Store.WithFanOutSettle(d) },
			emulated: &emulators{cfg: cfg, clients: clients}}
	}
	st, q := memstore.New(), &testenv.Queue{}
	// Like testenv.Config for the emulators: tests' receivers are on loopback.
	return &backend{store: st, queue: q, policy: gancho.TargetPolicy{AllowInsecure: true},
		settle: func(d time.Duration) { st.WithFanOutSettle(d) }}
}

// publisher is a publisher on the backend with clock now (nil: time.Now).
func (b *backend) publisher(now func() time.Time) *publish.Publisher {
	if now == nil {
		now = time.Now
	}
	return publish.New(b.store, b.queue, now)
}

// api is an API on the backend; c's Store, Publisher (nil: b.publisher(c.Now)) and
// Log are filled in when empty. Policy is c's: tests of the secure default leave it
// zero.
func (b *backend) api(t *testing.T, c httpapi.Config) *httpapi.API {
	t.Helper()
	if c.Store == nil {
		c.Store = b.store
	}
	if c.Publisher == nil {
		c.Publisher = b.publisher(c.Now)
	}
	if c.Log == nil {
		c.Log = testenv.Logger(t)
	}
	return httpapi.New(c)
}

// needEmulators returns the emulators, skipping the test without them (failing in
// CI): it checks what only the real services show, such as the bytes stored.
func (b *backend) needEmulators(t *testing.T) *emulators {
	t.Helper()
	if b.emulated == nil {
		cfg, clients := testenv.Clients(t) // skips, or fails in CI
		return &emulators{cfg: cfg, clients: clients}
	}
	return b.emulated
}
