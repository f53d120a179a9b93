package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

type idemEnv struct {
	Env
	now time.Time
}

func newIdemEnv(e Env) idemEnv { return idemEnv{Env: e, now: time.Now().UTC().Truncate(time.Second)} }

// record is a fresh running record of tenant for key, made at e.now.
func (e idemEnv) record(tenant, owner, key, hash, lock string) gancho.IdempotencyRecord {
	return gancho.IdempotencyRecord{
		Tenant: tenant, Credential: "key_test", Owner: owner, Key: key, Route: "create-subscription", RequestHash: hash, Lock: lock,
		CreatedAt: e.now, LeaseUntil: e.now.Add(time.Minute), ExpiresAt: e.now.Add(24 * time.Hour),
	}
}

func (e idemEnv) begin(t *testing.T, rec gancho.IdempotencyRecord, now time.Time) (gancho.IdempotencyRecord, bool) {
	t.Helper()
	got, started, err := e.St.BeginIdempotent(e.Ctx, rec, now)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	return got, started
}

// as makes mk's records the credential's.
func (e idemEnv) as(credential string, mk func(string) gancho.IdempotencyRecord) func(string) gancho.IdempotencyRecord {
	return func(tenant string) gancho.IdempotencyRecord {
		rec := mk(tenant)
		rec.Credential = credential
		return rec
	}
}

// r returns a maker of records of the case's tenant; keys are unique to the tenant,
// so the operator's space can be tried with the same key.
func (e idemEnv) r(owner, key, hash string) func(string) gancho.IdempotencyRecord {
	return func(tenant string) gancho.IdempotencyRecord {
		return e.record(tenant, owner, key+"-"+tenant, hash, "l-"+owner+key+hash)
	}
}

var idempotencyCases = []Case{
	{"record lifecycle: running, done with its response, release", func(t *testing.T, e Env) {
		ie := newIdemEnv(e)
		tenant := e.Tenant
		rec := ie.record(tenant, "", "key-1", "hash-a", "lock-1")

		if _, started := ie.begin(t, rec, ie.now); !started {
			t.Fatal("a new key was not claimed")
		}
		got, started := ie.begin(t, ie.record(tenant, "", "key-1", "hash-a", "lock-2"), ie.now)
		if started || got.State != gancho.IdempotencyRunning || got.RequestHash != "hash-a" || got.Lock != "lock-1" {
			t.Fatalf("second begin: started=%v record=%+v, want the first run's running record", started, got)
		}

		secret := "whsec_" + strings.Repeat("s", 40)
		rec.Status = 201
		rec.Header = map[string]string{"Content-Type": "application/json", "Location": "/v1/subscriptions/sub_1"}
		rec.Body = []byte(`{"id":"sub_1","secret":"` + secret + `"}`)
		if err := e.St.FinishIdempotent(e.Ctx, rec); err != nil {
			t.Fatalf("finish: %v", err)
		}
		got, started = ie.begin(t, ie.record(tenant, "", "key-1", "hash-a", "lock-3"), ie.now.Add(time.Hour))
		if started || got.State != gancho.IdempotencyDone || got.Status != 201 || string(got.Body) != string(rec.Body) ||
			got.Header["Location"] != "/v1/subscriptions/sub_1" || got.Header["Content-Type"] != "application/json" || got.Route != "create-subscription" {
			t.Fatalf("after finish: started=%v record=%+v", started, got)
		}

		// Finishing again, or by a run that does not hold the key, is a conflict.
		if err := e.St.FinishIdempotent(e.Ctx, rec); !errors.Is(err, gancho.ErrConflict) {
			t.Errorf("second finish: %v, want ErrConflict", err)
		}
		other := rec
		other.Lock = "lock-x"
		if err := e.St.ReleaseIdempotent(e.Ctx, other); err != nil {
			t.Errorf("release by another run: %v", err)
		}
		if _, started := ie.begin(t, ie.record(tenant, "", "key-1", "hash-a", "lock-4"), ie.now); started {
			t.Fatal("a release by a run that does not hold the key deleted the record")
		}
		if err := e.St.ReleaseIdempotent(e.Ctx, rec); err != nil {
			t.Fatalf("release: %v", err)
		}
		if _, started := ie.begin(t, ie.record(tenant, "", "key-1", "hash-b", "lock-5"), ie.now); !started {
			t.Fatal("a released key was not claimed again")
		}
	}},
	{"claims: key spaces, expiry and lease takeover", func(t *testing.T, e Env) {
		ie := newIdemEnv(e)
		tests := []struct {
			name string
			// first is claimed (and finished when done) at ie.now; then second is tried at now.
			first, second func(tenant string) gancho.IdempotencyRecord
			done          bool
			now           time.Duration
			want          bool
		}{
			{name: "same key, same tenant", first: ie.r("", "k", "h"), second: ie.r("", "k", "h"), want: false},
			{name: "other tenant", first: ie.r("", "k", "h"), second: func(tenant string) gancho.IdempotencyRecord {
				return ie.record(TenantID(), "", "k-"+tenant, "h", "l2")
			}, want: true},
			{name: "owner-bound key has its own space", first: ie.r("", "k", "h"), second: ie.r("alice", "k", "h"), want: true},
			{name: "another owner", first: ie.r("alice", "k", "h"), second: ie.r("bob", "k", "h"), want: true},
			{name: "the operator's space", first: ie.r("", "k", "h"), second: func(tenant string) gancho.IdempotencyRecord {
				return ie.record("", "", "k-"+tenant, "h", "l2")
			}, want: true},
			{name: "other key", first: ie.r("", "k", "h"), second: ie.r("", "k2", "h"), want: true},
			{name: "another credential of the tenant", first: ie.r("", "k", "h"), second: ie.as("key_other", ie.r("", "k", "h")), want: true},
			{name: "another credential, done record", first: ie.r("", "k", "h"), done: true, second: ie.as("key_other", ie.r("", "k", "h")), want: true},
			{name: "same subject of another issuer", first: ie.as("jwt:https://a#u", ie.r("", "k", "h")),
				second: ie.as("jwt:https://b#u", ie.r("", "k", "h")), want: true},
			{name: "the same credential", first: ie.as("jwt:https://a#u", ie.r("", "k", "h")),
				second: ie.as("jwt:https://a#u", ie.r("", "k", "h")), want: false},
			{name: "expired done record", first: ie.r("", "k", "h"), done: true, second: ie.r("", "k", "other"), now: 24*time.Hour + time.Second, want: true},
			{name: "done record within 24 h", first: ie.r("", "k", "h"), done: true, second: ie.r("", "k", "h"), now: 23 * time.Hour, want: false},
			{name: "stale running record, same request", first: ie.r("", "k", "h"), second: ie.r("", "k", "h"), now: 2 * time.Minute, want: true},
			{name: "stale running record, other request", first: ie.r("", "k", "h"), second: ie.r("", "k", "other"), now: 2 * time.Minute, want: false},
			{name: "live running record", first: ie.r("", "k", "h"), second: ie.r("", "k", "h"), now: 30 * time.Second, want: false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tenant := TenantID()
				first := tc.first(tenant)
				if _, started := ie.begin(t, first, ie.now); !started {
					t.Fatal("first claim failed")
				}
				if tc.done {
					first.Status, first.Body = 201, []byte(`{}`)
					if err := e.St.FinishIdempotent(e.Ctx, first); err != nil {
						t.Fatal(err)
					}
				}
				second := tc.second(tenant)
				second.Lock = "second"
				got, started := ie.begin(t, second, ie.now.Add(tc.now))
				if started != tc.want {
					t.Fatalf("second claim started=%v, want %v (found %+v)", started, tc.want, got)
				}
				if started {
					if tc.now > 0 && !tc.done {
						// The run that lost its lease can no longer finish.
						if err := e.St.FinishIdempotent(e.Ctx, first); !errors.Is(err, gancho.ErrConflict) {
							t.Errorf("finish by the run that lost the key: %v, want ErrConflict", err)
						}
					}
					return
				}
				if got.RequestHash != first.RequestHash || got.Lock != first.Lock {
					t.Errorf("found %+v, want the first record", got)
				}
			})
		}
	}},
}
