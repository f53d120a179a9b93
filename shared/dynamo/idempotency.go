package dynamo

// Idempotency records (the API contract, "Conventions", Idempotency-Key):
//
//	tenant key space   T#<tenant>#I#<sha256 of credential, owner and key>  / I
//	operator's space   A#I#<sha256 of credential, owner and key>           / I
//
// A key is the credential's own (the API contract, "Idempotency is per credential"): another
// key or token of the same tenant that sends the same value makes an independent
// request and never sees the first one's stored response. Records written before the
// credential was part of the key are simply not found again; they expire within 24 h.
//
// A record is created "running" by the first request that carries a key and becomes
// "done" with that request's response, whose body is sealed (responses can hold
// subscription secrets and API keys). Records carry expiresAt for the table's TTL and
// reads check it, since DynamoDB deletes expired items late (DynamoDB Local never).

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Idempotency record states.
const (
	IdempotencyRunning = gancho.IdempotencyRunning
	IdempotencyDone    = gancho.IdempotencyDone
)

type IdempotencyRecord = gancho.IdempotencyRecord

func idempotencyKey(rec IdempotencyRecord) map[string]av {
	h := sha256.New()
	for _, part := range []string{rec.Credential, rec.Owner, rec.Key} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if rec.Tenant == "" {
		return key("A#I#"+sum, "I")
	}
	return key("T#"+rec.Tenant+"#I#"+sum, "I")
}

// BeginIdempotent claims rec's key for a new run: it stores rec as running unless a
// live record holds the key. It returns (rec, true, nil) when the caller now holds
// the key, and (the existing record, false, nil) otherwise. Expired records count as
// absent, and so does a running record whose lease has passed when the same request
// comes again (its run died before finishing).
func (st *Store) BeginIdempotent(ctx context.Context, rec IdempotencyRecord, now time.Time) (IdempotencyRecord, bool, error) {
	k := idempotencyKey(rec)
	it := map[string]av{
		"pk": k["pk"], "sk": k["sk"],
		"ownerId":     s(rec.Owner),
		"route":       s(rec.Route),
		"requestHash": s(rec.RequestHash),
		"state":       s(IdempotencyRunning),
		"lock":        s(rec.Lock),
		"leaseUntil":  n(rec.LeaseUntil.Unix()),
		"createdAt":   s(rec.CreatedAt.UTC().Format(time.RFC3339Nano)),
		"expiresAt":   n(rec.ExpiresAt.Unix()),
	}
	if rec.Tenant != "" {
		it["tenantId"] = s(rec.Tenant)
	}
	for attempt := 0; attempt < 3; attempt++ {
		_, err := st.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &st.table,
			Item:      it,
			ConditionExpression: aws.String("attribute_not_exists(pk) OR expiresAt <= :now" +
				" OR (#state = :running AND leaseUntil <= :now AND requestHash = :hash)"),
			ExpressionAttributeNames: map[string]string{"#state": "state"},
			ExpressionAttributeValues: map[string]av{
				":now": n(now.Unix()), ":running": s(IdempotencyRunning), ":hash": s(rec.RequestHash),
			},
		})
		if err == nil {
			rec.State = IdempotencyRunning
			return rec, true, nil
		}
		if !conditionFailed(err) {
			return IdempotencyRecord{}, false, fmt.Errorf("begin idempotent request: %w", err)
		}
		res, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &st.table, Key: k, ConsistentRead: aws.Bool(true)})
		if err != nil {
			return IdempotencyRecord{}, false, fmt.Errorf("get idempotency record: %w", err)
		}
		if res.Item == nil || expired(res.Item, now) {
			continue // released or expired in between: try to claim it again
		}
		got, err := st.decodeIdempotency(res.Item)
		if err != nil {
			return IdempotencyRecord{}, false, err
		}
		got.Tenant, got.Credential, got.Key = rec.Tenant, rec.Credential, rec.Key
		return got, false, nil
	}
	return IdempotencyRecord{}, false, fmt.Errorf("begin idempotent request: key kept changing: %w", gancho.ErrConflict)
}

func (st *Store) decodeIdempotency(it map[string]av) (IdempotencyRecord, error) {
	var rec IdempotencyRecord
	str := func(name string) string {
		v, _ := it[name].(*types.AttributeValueMemberS)
		if v == nil {
			return ""
		}
		return v.Value
	}
	num := func(name string) int64 {
		v, _ := it[name].(*types.AttributeValueMemberN)
		if v == nil {
			return 0
		}
		i, _ := strconv.ParseInt(v.Value, 10, 64)
		return i
	}
	rec.Owner = str("ownerId")
	rec.Route = str("route")
	rec.RequestHash = str("requestHash")
	rec.State = str("state")
	rec.Lock = str("lock")
	rec.LeaseUntil = time.Unix(num("leaseUntil"), 0).UTC()
	rec.ExpiresAt = time.Unix(num("expiresAt"), 0).UTC()
	if c := str("createdAt"); c != "" {
		t, err := time.Parse(time.RFC3339Nano, c)
		if err != nil {
			return rec, fmt.Errorf("idempotency record createdAt: %w", err)
		}
		rec.CreatedAt = t
	}
	rec.Status = int(num("status"))
	if h, ok := it["header"].(*types.AttributeValueMemberM); ok {
		rec.Header = make(map[string]string, len(h.Value))
		for name, v := range h.Value {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				rec.Header[name] = sv.Value
			}
		}
	}
	body, err := st.sealer.Open(str("body"))
	if err != nil {
		return rec, fmt.Errorf("idempotency record body: %w", err)
	}
	if body != "" {
		rec.Body = []byte(body)
	}
	return rec, nil
}

// FinishIdempotent stores rec's response and marks it done, if rec's run still holds
// the key; otherwise it reports gancho.ErrConflict.
func (st *Store) FinishIdempotent(ctx context.Context, rec IdempotencyRecord) error {
	body, err := st.sealer.Seal(string(rec.Body))
	if err != nil {
		return fmt.Errorf("seal idempotent response: %w", err)
	}
	header := make(map[string]av, len(rec.Header))
	for name, v := range rec.Header {
		header[name] = s(v)
	}
	_, err = st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &st.table,
		Key:                 idempotencyKey(rec),
		UpdateExpression:    aws.String("SET #state = :done, #status = :status, #header = :header, #body = :body REMOVE leaseUntil"),
		ConditionExpression: aws.String("#lock = :lock AND #state = :running"),
		ExpressionAttributeNames: map[string]string{
			"#state": "state", "#status": "status", "#header": "header", "#body": "body", "#lock": "lock",
		},
		ExpressionAttributeValues: map[string]av{
			":done": s(IdempotencyDone), ":running": s(IdempotencyRunning), ":lock": s(rec.Lock),
			":status": n(int64(rec.Status)), ":header": &types.AttributeValueMemberM{Value: header}, ":body": s(body),
		},
	})
	if conditionFailed(err) {
		return fmt.Errorf("finish idempotent request: the key is no longer held: %w", gancho.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("finish idempotent request: %w", err)
	}
	return nil
}

// ReleaseIdempotent deletes rec's record if rec's run still holds it, so the same
// key can run again (used when the response is not to be remembered).
func (st *Store) ReleaseIdempotent(ctx context.Context, rec IdempotencyRecord) error {
	_, err := st.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 &st.table,
		Key:                       idempotencyKey(rec),
		ConditionExpression:       aws.String("#lock = :lock"),
		ExpressionAttributeNames:  map[string]string{"#lock": "lock"},
		ExpressionAttributeValues: map[string]av{":lock": s(rec.Lock)},
	})
	if err != nil && !conditionFailed(err) {
		return fmt.Errorf("release idempotent request: %w", err)
	}
	return nil
}
