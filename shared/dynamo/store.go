// Package dynamo stores Gancho's state in one DynamoDB table whose keys start with the
// tenant, so isolation is structural.
//
// Item layout (pk / sk; gsi1pk / gsi1sk):
//
//	tenant        T#<tenant>                  / T
//	api key       K#<sha256 of key>           / K ; T#<tenant>#K / <key id>
//	subscription  T#<tenant>#S#<id>           / S ; T#<tenant>#S / <id>
//	match entry   T#<tenant>#M#<pattern>      / 0#<sub id> (no owner) or 1#<owner>#<sub id>
//	event         T#<tenant>#E                / <id>
//	delivery      T#<tenant>#S#<sub>#D        / <id>  (written at its first outcome)
//
// Events and delivery records have no index copy (an event in the outbox and a
// delivery parked for a late retry have one in gsi3 while they wait, and a scheduled
// event once queued one under T#<tenant>#SR for pull results, see inbox.go). A delivery id
// holds its event's id and its subscription's (gancho.ParseDeliveryID), so it locates
// the record; an event lists its destinations, so its deliveries are found without an
// index, the pending ones (no record yet) included.
package dynamo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/seal"
)

// Store is the DynamoDB-backed store.
type Store struct {
	db        *dynamodb.Client
	table     string
	retention time.Duration
	sealer    *seal.Sealer
	settle    time.Duration // see FanOutSettle
	matches   *matchCache
}

// DefaultRetention is how long events and deliveries are kept.
const DefaultRetention = 30 * 24 * time.Hour

// New returns a store on table; sealer encrypts secrets at rest.
func New(db *dynamodb.Client, table string, sealer *seal.Sealer) *Store {
	return &Store{db: db, table: table, retention: DefaultRetention, sealer: sealer, settle: FanOutSettle,
		matches: newMatchCache(MatchCacheTTL, time.Now)}
}

// WithMatchCache sets how long match entries are reused (0: read them every time).
func (st *Store) WithMatchCache(ttl time.Duration) *Store {
	st.matches = newMatchCache(ttl, time.Now)
	return st
}

// WithRetention sets how long events, deliveries and inbox entries are kept.
func (st *Store) WithRetention(d time.Duration) *Store {
	if d > 0 {
		st.retention = d
	}
	return st
}

type av = types.AttributeValue

func s(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }

func n(v int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(v)}
}

func key(pk, sk string) map[string]av { return map[string]av{"pk": s(pk), "sk": s(sk)} }

func marshal(v any) (map[string]av, error) {
	m, err := attributevalue.MarshalMapWithOptions(v, func(o *attributevalue.EncoderOptions) {
		o.TagKey = "json"
	})
	if err != nil {
		return nil, fmt.Errorf("marshal item: %w", err)
	}
	return m, nil
}

func unmarshal(m map[string]av, v any) error {
	if err := attributevalue.UnmarshalMapWithOptions(m, v, func(o *attributevalue.DecoderOptions) {
		o.TagKey = "json"
	}); err != nil {
		return fmt.Errorf("unmarshal item: %w", err)
	}
	return nil
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	var tc *types.TransactionCanceledException
	if errors.As(err, &ccf) {
		return true
	}
	if errors.As(err, &tc) {
		for _, r := range tc.CancellationReasons {
			if aws.ToString(r.Code) == "ConditionalCheckFailed" {
				return true
			}
		}
	}
	return false
}

type Page = gancho.Page

// cursor is the opaque form of a LastEvaluatedKey; it is bound to the partition it
// came from so it cannot be replayed against another tenant's list.
func encodeCursor(lek map[string]av) (string, error) {
	if len(lek) == 0 {
		return "", nil
	}
	plain := map[string]string{}
	for k, v := range lek {
		sv, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("cursor key %s is not a string", k)
		}
		plain[k] = sv.Value
	}
	b, err := json.Marshal(plain)
	if err != nil {
		return "", fmt.Errorf("encode cursor: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func decodeCursor(c, partitionAttr, partition string) (map[string]av, error) {
	if c == "" {
		return nil, nil
	}
	invalid := &gancho.Error{Kind: gancho.KindBadRequest, Detail: "cursor is not valid for this list",
		Fields: []gancho.FieldError{{Field: "cursor", Message: "is not valid for this list"}}}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, invalid
	}
	var plain map[string]string
	if err := json.Unmarshal(b, &plain); err != nil || plain[partitionAttr] != partition {
		return nil, invalid
	}
	// Exactly the table's key attributes, plus the index's when listing an index:
	// anything else would reach DynamoDB as an invalid start key.
	want := []string{"pk", "sk"}
	if index, ok := strings.CutSuffix(partitionAttr, "pk"); ok && index != "" {
		want = append(want, partitionAttr, index+"sk")
	}
	if len(plain) != len(want) {
		return nil, invalid
	}
	for _, k := range want {
		if plain[k] == "" {
			return nil, invalid
		}
	}
	out := map[string]av{}
	for k, v := range plain {
		out[k] = s(v)
	}
	return out, nil
}

func (st *Store) expiry(from time.Time) int64 { return from.Add(st.retention).Unix() }

// batchGet reads keys (at most 100 distinct) in one BatchGetItem, retrying unprocessed keys.
func (st *Store) batchGet(ctx context.Context, keys []map[string]av) ([]map[string]av, error) {
	var out []map[string]av
	for start := 0; start < len(keys); start += 100 {
		end := min(start+100, len(keys))
		req := map[string]types.KeysAndAttributes{st.table: {Keys: keys[start:end], ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := gancho.Sleep(ctx, backoff(attempt)); err != nil {
					return nil, err
				}
			}
			res, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("batch get: %w", err)
			}
			out = append(out, res.Responses[st.table]...)
			req = res.UnprocessedKeys
		}
	}
	return out, nil
}

// batchWrite puts items 25 at a time, up to writeParallelism batches at once,
// retrying unprocessed ones.
func (st *Store) batchWrite(ctx context.Context, items []map[string]av) error {
	var chunks [][]map[string]av
	for start := 0; start < len(items); start += 25 {
		chunks = append(chunks, items[start:min(start+25, len(items))])
	}
	if len(chunks) == 1 {
		return st.writeChunk(ctx, chunks[0])
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(chunks))
	sem := make(chan struct{}, writeParallelism)
	for _, chunk := range chunks {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			err := st.writeChunk(ctx, chunk)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range chunks {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// writeParallelism bounds concurrent BatchWriteItem calls of one write.
const writeParallelism = 8

func (st *Store) writeChunk(ctx context.Context, chunk []map[string]av) error {
	reqs := make([]types.WriteRequest, 0, len(chunk))
	for _, it := range chunk {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	pending := map[string][]types.WriteRequest{st.table: reqs}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if err := gancho.Sleep(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
		res, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("batch write: %w", err)
		}
		pending = res.UnprocessedItems
	}
	return nil
}

func backoff(attempt int) time.Duration {
	return min(time.Duration(1<<min(attempt, 6))*25*time.Millisecond, time.Second)
}
