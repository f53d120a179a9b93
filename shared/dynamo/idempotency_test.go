package dynamo_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

type idemEnv struct {
	ctx   context.Context
	st    *dynamo.Store
	db    *dynamodb.Client
	table string
	now   time.Time
}

func newIdemEnv(t *testing.T) idemEnv {
	t.Helper()
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return idemEnv{ctx: ctx, st: c.Store, db: c.DynamoDB, table: cfg.TableName, now: time.Now().UTC().Truncate(time.Second)}
}

// record is a fresh running record of tenant for key, made at e.now.
func (e idemEnv) record(tenant, owner, key, hash, lock string) dynamo.IdempotencyRecord {
	return dynamo.IdempotencyRecord{
		Tenant: tenant, Credential: "key_test", Owner: owner, Key: key, Route: "create-subscription", RequestHash: hash, Lock: lock,
		CreatedAt: e.now, LeaseUntil: e.now.Add(time.Minute), ExpiresAt: e.now.Add(24 * time.Hour),
	}
}

func (e idemEnv) begin(t *testing.T, rec dynamo.IdempotencyRecord, now time.Time) (dynamo.IdempotencyRecord, bool) {
	t.Helper()
	got, started, err := e.st.BeginIdempotent(e.ctx, rec, now)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	return got, started
}

func TestIdempotencyRecordLifecycle(t *testing.T) {
	e := newIdemEnv(t)
	tenant := testenv.TenantID()
	rec := e.record(tenant, "", "key-1", "hash-a", "lock-1")

	if _, started := e.begin(t, rec, e.now); !started {
		t.Fatal("a new key was not claimed")
	}
	got, started := e.begin(t, e.record(tenant, "", "key-1", "hash-a", "lock-2"), e.now)
	if started || got.State != dynamo.IdempotencyRunning || got.RequestHash != "hash-a" || got.Lock != "lock-1" {
		t.Fatalf("second begin: started=%v record=%+v, want the first run's running record", started, got)
	}

	secret := "whsec_" + strings.Repeat("s", 40)
	rec.Status = 201
	rec.Header = map[string]string{"Content-Type": "application/json", "Location": "/v1/subscriptions/sub_1"}
	rec.Body = []byte(`{"id":"sub_1","secret":"` + secret + `"}`)
	if err := e.st.FinishIdempotent(e.ctx, rec); err != nil {
		t.Fatalf("finish: %v", err)
	}
	got, started = e.begin(t, e.record(tenant, "", "key-1", "hash-a", "lock-3"), e.now.Add(time.Hour))
	if started || got.State != dynamo.IdempotencyDone || got.Status != 201 || string(got.Body) != string(rec.Body) ||
		got.Header["Location"] != "/v1/subscriptions/sub_1" || got.Header["Content-Type"] != "application/json" || got.Route != "create-subscription" {
		t.Fatalf("after finish: started=%v record=%+v", started, got)
	}

	// At rest, the body is sealed and nothing in the item shows the secret.
	item := e.rawItem(t, tenant)
	body, _ := item["body"].(*types.AttributeValueMemberS)
	if body == nil || !strings.HasPrefix(body.Value, "sealed:v1:") {
		t.Fatalf("stored body is not sealed: %v", item["body"])
	}
	for name, v := range item {
		if s, ok := v.(*types.AttributeValueMemberS); ok && (strings.Contains(s.Value, secret) || strings.Contains(s.Value, "whsec_")) {
			t.Errorf("attribute %s holds the secret in clear", name)
		}
	}
	if exp, ok := item["expiresAt"].(*types.AttributeValueMemberN); !ok || exp.Value != strconv.FormatInt(e.now.Add(24*time.Hour).Unix(), 10) {
		t.Errorf("expiresAt = %v, want now + 24 h", item["expiresAt"])
	}

	// Finishing again, or by a run that does not hold the key, is a conflict.
	if err := e.st.FinishIdempotent(e.ctx, rec); !errors.Is(err, gancho.ErrConflict) {
		t.Errorf("second finish: %v, want ErrConflict", err)
	}
	other := rec
	other.Lock = "lock-x"
	if err := e.st.ReleaseIdempotent(e.ctx, other); err != nil {
		t.Errorf("release by another run: %v", err)
	}
	if _, started := e.begin(t, e.record(tenant, "", "key-1", "hash-a", "lock-4"), e.now); started {
		t.Fatal("a release by a run that does not hold the key deleted the record")
	}
	if err := e.st.ReleaseIdempotent(e.ctx, rec); err != nil {
		t.Fatalf("release: %v", err)
	}
	if _, started := e.begin(t, e.record(tenant, "", "key-1", "hash-b", "lock-5"), e.now); !started {
		t.Fatal("a released key was not claimed again")
	}
}

func (e idemEnv) rawItem(t *testing.T, tenant string) map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(e.db, &dynamodb.ScanInput{
		TableName:                 &e.table,
		FilterExpression:          aws.String("begins_with(pk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "T#" + tenant + "#I#"}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, page.Items...)
	}
	if len(items) != 1 {
		t.Fatalf("tenant %s has %d idempotency records, want 1", tenant, len(items))
	}
	return items[0]
}

func TestIdempotencyClaims(t *testing.T) {
	e := newIdemEnv(t)
	tests := []struct {
		name string
		// first is claimed (and finished when done) at e.now; then second is tried at now.
		first, second func(tenant string) dynamo.IdempotencyRecord
		done          bool
		now           time.Duration
		want          bool
	}{
		{name: "same key, same tenant", first: e.r("", "k", "h"), second: e.r("", "k", "h"), want: false},
		{name: "other tenant", first: e.r("", "k", "h"), second: func(tenant string) dynamo.IdempotencyRecord {
			return e.record(testenv.TenantID(), "", "k-"+tenant, "h", "l2")
		}, want: true},
		{name: "owner-bound key has its own space", first: e.r("", "k", "h"), second: e.r("alice", "k", "h"), want: true},
		{name: "another owner", first: e.r("alice", "k", "h"), second: e.r("bob", "k", "h"), want: true},
		{name: "the operator's space", first: e.r("", "k", "h"), second: func(tenant string) dynamo.IdempotencyRecord {
			return e.record("", "", "k-"+tenant, "h", "l2")
		}, want: true},
		{name: "other key", first: e.r("", "k", "h"), second: e.r("", "k2", "h"), want: true},
		{name: "another credential of the tenant", first: e.r("", "k", "h"), second: e.as("key_other", e.r("", "k", "h")), want: true},
		{name: "another credential, done record", first: e.r("", "k", "h"), done: true, second: e.as("key_other", e.r("", "k", "h")), want: true},
		{name: "same subject of another issuer", first: e.as("jwt:https://a#u", e.r("", "k", "h")),
			second: e.as("jwt:https://b#u", e.r("", "k", "h")), want: true},
		{name: "the same credential", first: e.as("jwt:https://a#u", e.r("", "k", "h")),
			second: e.as("jwt:https://a#u", e.r("", "k", "h")), want: false},
		{name: "expired done record", first: e.r("", "k", "h"), done: true, second: e.r("", "k", "other"), now: 24*time.Hour + time.Second, want: true},
		{name: "done record within 24 h", first: e.r("", "k", "h"), done: true, second: e.r("", "k", "h"), now: 23 * time.Hour, want: false},
		{name: "stale running record, same request", first: e.r("", "k", "h"), second: e.r("", "k", "h"), now: 2 * time.Minute, want: true},
		{name: "stale running record, other request", first: e.r("", "k", "h"), second: e.r("", "k", "other"), now: 2 * time.Minute, want: false},
		{name: "live running record", first: e.r("", "k", "h"), second: e.r("", "k", "h"), now: 30 * time.Second, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tenant := testenv.TenantID()
			first := tc.first(tenant)
			if _, started := e.begin(t, first, e.now); !started {
				t.Fatal("first claim failed")
			}
			if tc.done {
				first.Status, first.Body = 201, []byte(`{}`)
				if err := e.st.FinishIdempotent(e.ctx, first); err != nil {
					t.Fatal(err)
				}
			}
			second := tc.second(tenant)
			second.Lock = "second"
			got, started := e.begin(t, second, e.now.Add(tc.now))
			if started != tc.want {
				t.Fatalf("second claim started=%v, want %v (found %+v)", started, tc.want, got)
			}
			if started {
				if tc.now > 0 && !tc.done {
					// The run that lost its lease can no longer finish.
					if err := e.st.FinishIdempotent(e.ctx, first); !errors.Is(err, gancho.ErrConflict) {
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
}

// as makes mk's records the credential's.
func (e idemEnv) as(credential string, mk func(string) dynamo.IdempotencyRecord) func(string) dynamo.IdempotencyRecord {
	return func(tenant string) dynamo.IdempotencyRecord {
		rec := mk(tenant)
		rec.Credential = credential
		return rec
	}
}

// r returns a maker of records of the test's tenant; keys are unique to the tenant,
// so the operator's space can be tried with the same key.
func (e idemEnv) r(owner, key, hash string) func(string) dynamo.IdempotencyRecord {
	return func(tenant string) dynamo.IdempotencyRecord {
		return e.record(tenant, owner, key+"-"+tenant, hash, "l-"+owner+key+hash)
	}
}
