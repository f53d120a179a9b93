package gancho_test

import (
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// The signing overlap is one rule for subscriptions and tenants.
func TestSecretRotationOverlap(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	end := at.Add(gancho.PreviousSecretLifetime)
	type view struct {
		signing []string
		until   *time.Time
	}
	sub := func(s gancho.Subscription, now time.Time) view {
		return view{s.SigningSecrets(now), s.PreviousValidUntil(now)}
	}
	ten := func(tn gancho.Tenant, now time.Time) view {
		return view{tn.SigningSecrets(now), tn.PreviousValidUntil(now)}
	}
	rotatedSub := gancho.Subscription{Secret: "old"}.Rotate("new", at)
	rotatedTenant := gancho.Tenant{Secret: "old"}.Rotate("new", at)
	for _, tc := range []struct {
		name string
		got  view
		want view
	}{
		{"subscription, during the overlap", sub(rotatedSub, at.Add(time.Hour)), view{[]string{"new", "old"}, &end}},
		{"subscription, at its end", sub(rotatedSub, end), view{[]string{"new"}, nil}},
		{"tenant, during the overlap", ten(rotatedTenant, at.Add(time.Hour)), view{[]string{"new", "old"}, &end}},
		{"tenant, after its end", ten(rotatedTenant, end.Add(time.Second)), view{[]string{"new"}, nil}},
		{"tenant without a secret before", ten(gancho.Tenant{}.Rotate("first", at), at), view{[]string{"first"}, nil}},
		{"no secret at all", sub(gancho.Subscription{}, at), view{nil, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !slices.Equal(tc.got.signing, tc.want.signing) {
				t.Errorf("signing %v, want %v", tc.got.signing, tc.want.signing)
			}
			if (tc.got.until == nil) != (tc.want.until == nil) || (tc.got.until != nil && !tc.got.until.Equal(*tc.want.until)) {
				t.Errorf("previous valid until %v, want %v", tc.got.until, tc.want.until)
			}
		})
	}
}
