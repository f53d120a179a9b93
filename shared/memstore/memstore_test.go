package memstore_test

import (
	"testing"

	"github.com/gancho-dev/gancho/shared/memstore"
	"github.com/gancho-dev/gancho/shared/storetest"
)

// TestBehaviours runs the store behaviour table, which the DynamoDB store passes too.
func TestBehaviours(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return memstore.New().WithFanOutSettle(0) })
}
