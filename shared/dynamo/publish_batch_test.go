package dynamo_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestClaimPublishKeys claims more keys than one transaction takes, some of them
// claimed before (live or expired): each gets what ClaimPublishKey would have said.
func TestClaimPublishKeys(t *testing.T) {
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	now := time.Now().UTC().Truncate(time.Millisecond)
	const n = 150
	taken := map[int]bool{}
	for i := 0; i < n; i += 3 {
		at := now
		if i%2 == 0 {
			at = now.Add(-dynamo.PublishKeyTTL - time.Minute) // expired: free again
		} else {
			taken[i] = true
		}
		if _, fresh, err := e.st.ClaimPublishKey(e.ctx, tenant, fmt.Sprint("k", i), dynamo.PublishClaim{EventID: fmt.Sprint("evt_old", i), Hash: "old", ClaimedAt: at}); err != nil || !fresh {
			t.Fatalf("seed claim %d: %v %v", i, fresh, err)
		}
	}
	reqs := make([]dynamo.KeyClaim, n)
	for i := range reqs {
		reqs[i] = dynamo.KeyClaim{Tenant: tenant, Key: fmt.Sprint("k", i), Claim: dynamo.PublishClaim{EventID: fmt.Sprint("evt_new", i), Hash: "new", ClaimedAt: now}}
	}
	for i, res := range e.st.ClaimPublishKeys(e.ctx, reqs) {
		switch {
		case res.Err != nil:
			t.Errorf("key %d: %v", i, res.Err)
		case taken[i] && (res.Fresh || res.Claim.EventID != fmt.Sprint("evt_old", i) || res.Claim.Hash != "old"):
			t.Errorf("key %d, claimed before: %+v; want the existing claim", i, res)
		case !taken[i] && (!res.Fresh || res.Claim.EventID != fmt.Sprint("evt_new", i)):
			t.Errorf("key %d, free: %+v; want it claimed", i, res)
		}
	}
	// The batch's claims are ordinary claims.
	got, fresh, err := e.st.ClaimPublishKey(e.ctx, tenant, "k1", dynamo.PublishClaim{EventID: "evt_x", Hash: "x", ClaimedAt: now})
	if err != nil || fresh || got.EventID != "evt_new1" {
		t.Errorf("claiming k1 again: %+v fresh=%v %v; want the batch's claim", got, fresh, err)
	}
}
