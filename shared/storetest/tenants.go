package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// KeyFor returns a key of tenant, with a fresh id, and a fake hash.
func KeyFor(tenant, owner string, at time.Time) (gancho.APIKey, string) {
	id := gancho.NewID(gancho.PrefixKey, at)
	return gancho.APIKey{ID: id, TenantID: tenant, Name: "k", Scopes: []string{gancho.ScopeKeysRead}, OwnerID: owner, CreatedAt: at.UTC()},
		"hash-" + id
}

// newTenant creates a tenant of its own (not e.Tenant) with its first key.
func (e Env) newTenant(t *testing.T, change func(*gancho.Tenant)) (gancho.Tenant, gancho.APIKey) {
	t.Helper()
	now := time.Now().UTC()
	ten := gancho.Tenant{ID: TenantID(), Name: "T", AllowedEventTypesOnly: true, Secret: "whsec_" + strings.Repeat("A", 43) + "=",
		CreatedAt: now, UpdatedAt: now}
	if change != nil {
		change(&ten)
	}
	k, hash := KeyFor(ten.ID, "", now)
	if err := e.St.CreateTenant(e.Ctx, ten, k, hash); err != nil {
		t.Fatal(err)
	}
	return ten, k
}

var tenantCases = []Case{
	{"a portal link's key keeps its expiry and mark, by hash and by id", func(t *testing.T, e Env) {
		ten, _ := e.newTenant(t, nil)
		now := time.Now().UTC()
		k, hash := KeyFor(ten.ID, "alice", now)
		expires := now.Add(time.Hour).Truncate(time.Second)
		k.ExpiresAt, k.Portal = &expires, true
		if err := e.St.CreateAPIKey(e.Ctx, k, hash); err != nil {
			t.Fatal(err)
		}
		byHash, err := e.St.LookupAPIKey(e.Ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		byID, err := e.St.GetAPIKey(e.Ctx, ten.ID, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		for what, got := range map[string]gancho.APIKey{"by hash": byHash, "by id": byID} {
			if got.ExpiresAt == nil || !got.ExpiresAt.Equal(expires) || !got.Portal || got.OwnerID != "alice" {
				t.Errorf("%s: %+v, want expiresAt %v and portal", what, got, expires)
			}
		}
		plain, h2 := KeyFor(ten.ID, "", now)
		if err := e.St.CreateAPIKey(e.Ctx, plain, h2); err != nil {
			t.Fatal(err)
		}
		if got, err := e.St.LookupAPIKey(e.Ctx, h2); err != nil || got.ExpiresAt != nil || got.Portal {
			t.Errorf("a key without expiry: %+v %v", got, err)
		}
	}},
	{"round trip with every setting; unknown and existing tenants", func(t *testing.T, e Env) {
		jwtSecret := "jwt-secret-" + strings.Repeat("q", 30)
		until := time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
		ten, first := e.newTenant(t, func(ten *gancho.Tenant) {
			ten.SignatureHeader = "X-JuriChat-Signature"
			ten.PublicBaseURL = "https://hooks.example"
			ten.PreviousSecret, ten.PreviousSecretValidUntil = "whsec_previous-secret-value", &until
			ten.JWT = &gancho.JWTSettings{Issuer: "https://idp.example/" + ten.ID, Audience: "gancho", Algorithm: "HS256", Secret: jwtSecret}
		})
		got, err := e.St.GetTenant(e.Ctx, ten.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Secret != ten.Secret || got.PreviousSecret != ten.PreviousSecret || got.JWT == nil || *got.JWT != *ten.JWT ||
			got.SignatureHeader != ten.SignatureHeader || got.PublicBaseURL != ten.PublicBaseURL || !got.AllowedEventTypesOnly ||
			!got.PreviousSecretValidUntil.Equal(until) || !got.UpdatedAt.Equal(ten.UpdatedAt) {
			t.Fatalf("read back %+v (jwt %+v), stored %+v", got, got.JWT, ten)
		}
		if k, err := e.St.GetAPIKey(e.Ctx, ten.ID, first.ID); err != nil || k.ID != first.ID {
			t.Fatalf("first key: %+v %v", k, err)
		}
		if _, err := e.St.GetTenant(e.Ctx, TenantID()); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("unknown tenant: %v", err)
		}
		k2, h2 := KeyFor(ten.ID, "", time.Now())
		if err := e.St.CreateTenant(e.Ctx, gancho.Tenant{ID: ten.ID, Name: "again"}, k2, h2); !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("creating an existing tenant: %v", err)
		}
	}},
	{"update is optimistic on updatedAt", func(t *testing.T, e Env) {
		ten, _ := e.newTenant(t, nil)
		after := ten
		after.Name, after.UpdatedAt = "renamed", ten.UpdatedAt.Add(time.Millisecond)
		if err := e.St.UpdateTenant(e.Ctx, ten, after); err != nil {
			t.Fatal(err)
		}
		stale := ten
		stale.Name, stale.UpdatedAt = "lost", ten.UpdatedAt.Add(2*time.Millisecond)
		if err := e.St.UpdateTenant(e.Ctx, ten, stale); !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("update from a stale read: %v, want conflict", err)
		}
		if got, _ := e.St.GetTenant(e.Ctx, ten.ID); got.Name != "renamed" {
			t.Fatalf("name = %q after a lost race", got.Name)
		}
		ghost := gancho.Tenant{ID: TenantID(), Name: "x"}
		if err := e.St.UpdateTenant(e.Ctx, ghost, ghost); !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("update of a missing tenant: %v", err)
		}
		// Tenants stored before updatedAt existed can be updated too.
		legacy := gancho.Tenant{ID: TenantID(), Name: "legacy"}
		k, h := KeyFor(legacy.ID, "", time.Now())
		if err := e.St.CreateTenant(e.Ctx, legacy, k, h); err != nil {
			t.Fatal(err)
		}
		next := legacy
		next.Name, next.UpdatedAt = "updated", time.Now().UTC()
		if err := e.St.UpdateTenant(e.Ctx, legacy, next); err != nil {
			t.Fatalf("update of a tenant without updatedAt: %v", err)
		}
	}},
	{"issuer index: one tenant per issuer, moved and released by updates", func(t *testing.T, e Env) {
		a, _ := e.newTenant(t, nil)
		b, _ := e.newTenant(t, nil)
		iss := "https://idp.example/" + a.ID
		hs := func(issuer string) *gancho.JWTSettings {
			return &gancho.JWTSettings{Issuer: issuer, Audience: "gancho", Algorithm: "HS256", Secret: strings.Repeat("s", 32)}
		}
		update := func(before gancho.Tenant, change func(*gancho.Tenant)) (gancho.Tenant, error) {
			after := before
			change(&after)
			after.UpdatedAt = before.UpdatedAt.Add(time.Millisecond)
			return after, e.St.UpdateTenant(e.Ctx, before, after)
		}

		if _, err := e.St.TenantByIssuer(e.Ctx, iss); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("unclaimed issuer: %v", err)
		}
		a, err := update(a, func(t *gancho.Tenant) { t.JWT = hs(iss) })
		if err != nil {
			t.Fatal(err)
		}
		if got, err := e.St.TenantByIssuer(e.Ctx, iss); err != nil || got.ID != a.ID || got.JWT.Secret != a.JWT.Secret {
			t.Fatalf("by issuer: %+v %v", got, err)
		}
		// Re-saving A with the same issuer keeps its claim.
		if a, err = update(a, func(t *gancho.Tenant) { t.Name = "A2" }); err != nil {
			t.Fatal(err)
		}
		// B cannot take A's issuer, and B is left unchanged.
		if _, err := update(b, func(t *gancho.Tenant) { t.Name = "B2"; t.JWT = hs(iss) }); !errors.Is(err, gancho.ErrIssuerTaken) {
			t.Fatalf("B claiming A's issuer: %v", err)
		}
		if got, _ := e.St.GetTenant(e.Ctx, b.ID); got.Name != b.Name || got.JWT != nil {
			t.Fatalf("B after a refused claim: %+v", got)
		}
		// A moves to a new issuer: the old one is free for B.
		iss2 := iss + "/v2"
		if a, err = update(a, func(t *gancho.Tenant) { t.JWT = hs(iss2) }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.TenantByIssuer(e.Ctx, iss); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("released issuer: %v", err)
		}
		if b, err = update(b, func(t *gancho.Tenant) { t.JWT = hs(iss) }); err != nil {
			t.Fatalf("B claiming a released issuer: %v", err)
		}
		if got, err := e.St.TenantByIssuer(e.Ctx, iss); err != nil || got.ID != b.ID {
			t.Fatalf("by issuer after the move: %+v %v", got, err)
		}
		// Clearing the settings releases the issuer.
		if _, err = update(a, func(t *gancho.Tenant) { t.JWT = nil }); err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.TenantByIssuer(e.Ctx, iss2); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("cleared issuer: %v", err)
		}
		// A tenant created with JWT settings claims its issuer too.
		c, _ := e.newTenant(t, func(t *gancho.Tenant) { t.JWT = hs(iss2) })
		if got, err := e.St.TenantByIssuer(e.Ctx, iss2); err != nil || got.ID != c.ID {
			t.Fatalf("issuer of a created tenant: %+v %v", got, err)
		}
		k, h := KeyFor("x", "", time.Now())
		dup := gancho.Tenant{ID: TenantID(), Name: "dup", JWT: hs(iss2)}
		k.TenantID = dup.ID
		if err := e.St.CreateTenant(e.Ctx, dup, k, h); !errors.Is(err, gancho.ErrIssuerTaken) {
			t.Fatalf("creating a tenant with a taken issuer: %v", err)
		}
		if _, err := e.St.GetTenant(e.Ctx, dup.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("the refused tenant was stored: %v", err)
		}
	}},
	{"api keys: list newest first by owner, foreign ids and cursors refused, revoke", func(t *testing.T, e Env) {
		ten, first := e.newTenant(t, nil)
		other, otherKey := e.newTenant(t, nil)
		at := time.Now()
		var want []string
		for i, owner := range []string{"", "alice", "alice", "bob"} {
			k, h := KeyFor(ten.ID, owner, at.Add(time.Duration(i+1)*time.Millisecond))
			if err := e.St.CreateAPIKey(e.Ctx, k, h); err != nil {
				t.Fatal(err)
			}
			want = append([]string{k.ID}, want...)
			if got, err := e.St.LookupAPIKey(e.Ctx, h); err != nil || got.ID != k.ID || got.OwnerID != owner {
				t.Fatalf("lookup: %+v %v", got, err)
			}
		}
		want = append(want, first.ID)
		// Paging, newest first.
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			keys, next, err := e.St.ListAPIKeys(e.Ctx, ten.ID, "", gancho.Page{Limit: 2, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				got = append(got, k.ID)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
		alice, _, err := e.St.ListAPIKeys(e.Ctx, ten.ID, "alice", gancho.Page{Limit: 10})
		if err != nil || len(alice) != 2 || alice[0].OwnerID != "alice" || alice[1].OwnerID != "alice" {
			t.Fatalf("alice's keys: %+v %v", alice, err)
		}
		// Another tenant's cursor and ids are refused.
		_, next, _ := e.St.ListAPIKeys(e.Ctx, ten.ID, "", gancho.Page{Limit: 1})
		if _, _, err := e.St.ListAPIKeys(e.Ctx, other.ID, "", gancho.Page{Limit: 1, Cursor: next}); gancho.KindOf(err) != gancho.KindBadRequest {
			t.Fatalf("foreign cursor: %v", err)
		}
		if _, err := e.St.GetAPIKey(e.Ctx, other.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("foreign get: %v", err)
		}
		if err := e.St.RevokeAPIKey(e.Ctx, other.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("foreign revoke: %v", err)
		}
		// Revocation removes the key for lookup, get and list.
		if err := e.St.RevokeAPIKey(e.Ctx, ten.ID, first.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.St.LookupAPIKey(e.Ctx, "hash-"+first.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("lookup after revoke: %v", err)
		}
		if _, err := e.St.GetAPIKey(e.Ctx, ten.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("get after revoke: %v", err)
		}
		if err := e.St.RevokeAPIKey(e.Ctx, ten.ID, first.ID); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("second revoke: %v", err)
		}
		keys, _, _ := e.St.ListAPIKeys(e.Ctx, ten.ID, "", gancho.Page{Limit: 10})
		for _, k := range keys {
			if k.ID == first.ID {
				t.Fatal("a revoked key is listed")
			}
		}
		if _, err := e.St.LookupAPIKey(e.Ctx, "hash-"+otherKey.ID); err != nil {
			t.Fatalf("the other tenant's key after a foreign revoke: %v", err)
		}
		dupKey, dupHash := KeyFor(ten.ID, "", time.Now())
		if err := e.St.CreateAPIKey(e.Ctx, dupKey, dupHash); err != nil {
			t.Fatal(err)
		}
		if err := e.St.CreateAPIKey(e.Ctx, dupKey, dupHash); !errors.Is(err, gancho.ErrConflict) {
			t.Fatalf("creating a key twice: %v", err)
		}
	}},
	{"a tenant is stored as given: its secret, or none (written before every tenant had one)", func(t *testing.T, e Env) {
		secret := gancho.NewSecret()
		with, _ := e.newTenant(t, func(tn *gancho.Tenant) { tn.Secret = secret })
		if got, err := e.St.GetTenant(e.Ctx, with.ID); err != nil || got.Secret != secret {
			t.Errorf("secret %q, %v; want the one given", got.Secret, err)
		}
		without, _ := e.newTenant(t, func(tn *gancho.Tenant) { tn.Secret = "" })
		if got, err := e.St.GetTenant(e.Ctx, without.ID); err != nil || got.Secret != "" {
			t.Errorf("secret %q, %v; want none: the store mints no secret", got.Secret, err)
		}
	}},
	{"a cursor is bound to its list", func(t *testing.T, e Env) {
		c := NewClock()
		for range 3 {
			k, hash := KeyFor(e.Tenant, "", c.Tick())
			if err := e.St.CreateAPIKey(e.Ctx, k, hash); err != nil {
				t.Fatal(err)
			}
		}
		_, cursor, err := e.St.ListAPIKeys(e.Ctx, e.Tenant, "", gancho.Page{Limit: 1})
		if err != nil || cursor == "" {
			t.Fatalf("first page: cursor %q, %v", cursor, err)
		}
		_, _, err = e.St.ListAPIKeys(e.Ctx, TenantID(), "", gancho.Page{Limit: 1, Cursor: cursor})
		wantKind(t, err, gancho.KindBadRequest)
		_, _, err = e.St.ListSubscriptions(e.Ctx, e.Tenant, gancho.SubscriptionFilter{}, gancho.Page{Limit: 1, Cursor: cursor})
		wantKind(t, err, gancho.KindBadRequest)
		for _, bad := range []string{"!!", "e30", fmt.Sprint("x", cursor)} {
			_, _, err = e.St.ListAPIKeys(e.Ctx, e.Tenant, "", gancho.Page{Limit: 1, Cursor: bad})
			wantKind(t, err, gancho.KindBadRequest)
		}
	}},
}
