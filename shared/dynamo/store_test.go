package dynamo_test

import (
	"context"
	"encoding/json"
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
	"github.com/gancho-dev/gancho/shared/signature"
	"github.com/gancho-dev/gancho/shared/storetest"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// storeEnv is one test's view of the emulated table.
type storeEnv struct {
	ctx   context.Context
	st    *dynamo.Store
	db    *dynamodb.Client
	table string
}

func newStoreEnv(t *testing.T) storeEnv {
	t.Helper()
	cfg, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return storeEnv{ctx: ctx, st: c.Store, db: c.DynamoDB, table: cfg.TableName}
}

func (e storeEnv) create(t *testing.T, subs ...gancho.Subscription) {
	t.Helper()
	for _, sub := range subs {
		if err := e.st.CreateSubscription(e.ctx, sub); err != nil {
			t.Fatalf("create %s: %v", sub.ID, err)
		}
	}
}

func strp(v string) *string       { return &v }
func listp(v ...string) *[]string { return &v }

// Subscription secrets are sealed at rest (the behaviour table, package storetest,
// reads them back).
func TestSubscriptionSecretSealedAtRest(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	sub := storetest.NewSub(t, tenant, storetest.NewClock(), gancho.SubscriptionInput{})
	e.create(t, sub)
	res, err := e.db.GetItem(e.ctx, &dynamodb.GetItemInput{TableName: &e.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "T#" + tenant + "#S#" + sub.ID},
			"sk": &types.AttributeValueMemberS{Value: "S"},
		}})
	if err != nil || res.Item == nil {
		t.Fatalf("raw item: %v", err)
	}
	stored, ok := res.Item["secret"].(*types.AttributeValueMemberS)
	if !ok || stored.Value == "" {
		t.Fatalf("no stored secret: %v", res.Item["secret"])
	}
	raw := strings.TrimPrefix(sub.Secret, signature.SecretPrefix)
	if strings.Contains(stored.Value, raw) {
		t.Errorf("the secret is stored in the clear")
	}
}

// Deleting a subscription leaves no match entry behind under any of its patterns
// (the behaviour table checks that it no longer matches).
func TestDeleteSubscriptionLeavesNoMatchEntries(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	gone := storetest.NewSub(t, tenant, storetest.NewClock(), gancho.SubscriptionInput{Events: listp("crm.lead.created", "crm.*", "*"), OwnerID: strp("o1")})
	e.create(t, gone)
	if err := e.st.DeleteSubscription(e.ctx, gone); err != nil {
		t.Fatal(err)
	}
	for _, p := range gone.Events {
		res, err := e.db.Query(e.ctx, &dynamodb.QueryInput{
			TableName:                 &e.table,
			KeyConditionExpression:    aws.String("pk = :p"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: "T#" + tenant + "#M#" + p}},
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			if sk := it["sk"].(*types.AttributeValueMemberS).Value; strings.HasSuffix(sk, gone.ID) {
				t.Errorf("match entry %s / %s left behind", p, sk)
			}
		}
	}
}

func newEvent(tenant string, now time.Time, payload string) gancho.Event {
	return gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: tenant, Type: "crm.lead.created",
		CreatedAt: now.UTC(), OwnerID: "user-7", Context: "doc", Subject: "s-1",
		Reference: &gancho.Reference{Type: "request", ID: "r-1"}, Payload: json.RawMessage(payload)}
}

func newDelivery(ev gancho.Event, subID string) gancho.Delivery {
	return gancho.Delivery{ID: gancho.DeliveryID(ev.ID, subID), TenantID: ev.TenantID, EventID: ev.ID, SubscriptionID: subID,
		EventType: ev.Type, OwnerID: ev.OwnerID, Status: gancho.StatusPending, CreatedAt: ev.CreatedAt, UpdatedAt: ev.CreatedAt}
}

func TestExpiredItemsAreNotFound(t *testing.T) {
	t.Parallel()
	e := newStoreEnv(t)
	tenant := testenv.TenantID()
	ev := newEvent(tenant, time.Now(), `{"a":1}`)
	d := newDelivery(ev, gancho.NewID(gancho.PrefixSubscription, time.Now()))
	if err := e.st.CreateEvent(e.ctx, testenv.Queued(ev, d)); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDeliveryStatus(e.ctx, d, gancho.StatusCancelled); err != nil { // writes its record
		t.Fatal(err)
	}
	if _, err := e.st.GetEvent(e.ctx, tenant, ev.ID); err != nil {
		t.Fatalf("fresh event: %v", err)
	}
	if _, err := e.st.GetDelivery(e.ctx, tenant, d.ID); err != nil {
		t.Fatalf("fresh delivery: %v", err)
	}
	// Items expire after the default retention; the store has no knob for it, so move
	// expiresAt into the past directly (keys as documented in store.go).
	keys := map[string]map[string]types.AttributeValue{
		"event":    {"pk": &types.AttributeValueMemberS{Value: "T#" + tenant + "#E"}, "sk": &types.AttributeValueMemberS{Value: ev.ID}},
		"delivery": {"pk": &types.AttributeValueMemberS{Value: "T#" + tenant + "#S#" + d.SubscriptionID + "#D"}, "sk": &types.AttributeValueMemberS{Value: d.ID}},
	}
	for what, k := range keys {
		res, err := e.db.GetItem(e.ctx, &dynamodb.GetItemInput{TableName: &e.table, Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		exp, ok := res.Item["expiresAt"].(*types.AttributeValueMemberN)
		if !ok {
			t.Fatalf("%s has no numeric expiresAt: %v", what, res.Item["expiresAt"])
		}
		sec, _ := strconv.ParseInt(exp.Value, 10, 64)
		if want := ev.CreatedAt.Add(dynamo.DefaultRetention).Unix(); sec != want {
			t.Errorf("%s expiresAt %d, want createdAt + retention %d", what, sec, want)
		}
		_, err = e.db.UpdateItem(e.ctx, &dynamodb.UpdateItemInput{
			TableName: &e.table, Key: k, UpdateExpression: aws.String("SET expiresAt = :e"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": &types.AttributeValueMemberN{Value: strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.GetEvent(e.ctx, tenant, ev.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("expired event: %v, want ErrNotFound", err)
	}
	if _, err := e.st.GetDelivery(e.ctx, tenant, d.ID); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("expired delivery: %v, want ErrNotFound", err)
	}
}

// A batch's attempts fold into one outcome: failures after the last success count.
func TestOutcomeFolding(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int, ok bool) gancho.Attempt {
		a := gancho.Attempt{At: t0.Add(time.Duration(s) * time.Second), Outcome: gancho.OutcomeFailure, StatusCode: 500}
		if ok {
			a.Outcome, a.StatusCode = gancho.OutcomeSuccess, 200
		}
		return a
	}
	var o dynamo.Outcome
	for _, a := range []gancho.Attempt{at(1, false), at(2, true), at(3, false), at(4, false)} {
		o.Add(a)
	}
	if o.LastSuccess == nil || !o.LastSuccess.Equal(t0.Add(2*time.Second)) || o.Failures != 2 ||
		!o.FirstFailure.Equal(t0.Add(3*time.Second)) || o.Last.StatusCode != 500 {
		t.Fatalf("outcome = %+v", o)
	}
}
