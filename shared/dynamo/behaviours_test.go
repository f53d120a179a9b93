package dynamo_test

import (
	"testing"

	"github.com/gancho-dev/gancho/shared/storetest"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestBehaviours runs the store behaviour table against DynamoDB Local; the in-memory
// store (package memstore) passes the same table.
func TestBehaviours(t *testing.T) {
	testenv.Config(t) // one skip without the emulators, not one per case
	storetest.Run(t, func(t *testing.T) storetest.Store {
		_, c := testenv.Clients(t)
		return c.Store.WithFanOutSettle(0)
	})
}
