package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// publishKeyTTL is how long a publish idempotency key is remembered.
const publishKeyTTL = 24 * time.Hour

var publishCases = []Case{
	{"claim many keys: taken ones return the existing claim, expired ones are free", func(t *testing.T, e Env) {
		tenant := e.Tenant
		now := time.Now().UTC().Truncate(time.Millisecond)
		const n = 150
		taken := map[int]bool{}
		for i := 0; i < n; i += 3 {
			at := now
			if i%2 == 0 {
				at = now.Add(-publishKeyTTL - time.Minute) // expired: free again
			} else {
				taken[i] = true
			}
			if _, fresh, err := e.St.ClaimPublishKey(e.Ctx, tenant, fmt.Sprint("k", i), gancho.PublishClaim{EventID: fmt.Sprint("evt_old", i), Hash: "old", ClaimedAt: at}); err != nil || !fresh {
				t.Fatalf("seed claim %d: %v %v", i, fresh, err)
			}
		}
		reqs := make([]gancho.KeyClaim, n)
		for i := range reqs {
			reqs[i] = gancho.KeyClaim{Tenant: tenant, Key: fmt.Sprint("k", i), Claim: gancho.PublishClaim{EventID: fmt.Sprint("evt_new", i), Hash: "new", ClaimedAt: now}}
		}
		for i, res := range e.St.ClaimPublishKeys(e.Ctx, reqs) {
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
		got, fresh, err := e.St.ClaimPublishKey(e.Ctx, tenant, "k1", gancho.PublishClaim{EventID: "evt_x", Hash: "x", ClaimedAt: now})
		if err != nil || fresh || got.EventID != "evt_new1" {
			t.Errorf("claiming k1 again: %+v fresh=%v %v; want the batch's claim", got, fresh, err)
		}
	}},
}
