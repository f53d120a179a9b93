// Package memstore is an in-memory store with the observable behaviour of the
// DynamoDB store (package dynamo) for every interface the services define: the same
// conditional writes and errors, lists, cursors and filters, pending deliveries
// derived from events, inbox and notice claims, rate windows, parked retries and the
// outbox. It lets the services' logic be tested in milliseconds; the same behaviour
// table (package storetest) runs on both stores, so they cannot drift apart.
//
// Where the DynamoDB store's behaviour comes from DynamoDB itself (eventually
// consistent match reads, pages cut by size, one index partition per shard), this
// store does the simple correct thing and says so where it matters. Secrets are kept
// as given: sealing them at rest is not observable through the interfaces.
package memstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// DefaultRetention is how long events, deliveries and inbox entries are kept, as in
// the DynamoDB store.
const DefaultRetention = 30 * 24 * time.Hour

// PublishKeyTTL is how long a publish idempotency key is remembered.
const PublishKeyTTL = 24 * time.Hour

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	mu        sync.Mutex
	now       func() time.Time
	retention time.Duration
	settle    time.Duration

	tenants    map[string]gancho.Tenant
	issuers    map[string]string // issuer -> tenant id
	keysByHash map[string]gancho.APIKey
	keyHashes  map[string]string // tenant + "\x00" + key id -> hash
	eventTypes map[string]map[string]eventType
	idem       map[string]gancho.IdempotencyRecord
	subs       map[string]*subscription // tenant + "\x00" + id
	events     map[string]*event        // tenant + "\x00" + id
	deliveries map[string]*delivery     // tenant + "\x00" + delivery id
	claims     map[string]claim         // tenant + "\x00" + scoped key
	inbox      map[string]*inbox        // tenant + "\x00" + subscription id
	windows    map[string]int64         // tenant + "\x00" + sub + "\x00" + second
}

type eventType struct {
	et     gancho.EventType // without Schema
	schema json.RawMessage
}

// subscription is a stored subscription and what other writers keep beside it.
type subscription struct {
	sub           gancho.Subscription
	noticePending string
	noticeUntil   int64 // Unix seconds
	resultsCursor string
}

type event struct {
	ev        gancho.Event
	outbox    bool
	expiresAt int64
}

type delivery struct {
	d         gancho.Delivery
	due       *time.Time // parked for the sweeper until then
	expiresAt int64
}

type claim struct {
	c         gancho.PublishClaim
	expiresAt int64
}

type inbox struct {
	entries map[string]int64 // event id -> expiresAt
	unseen  map[string]int64
	// visibleAt holds the deliverAt of scheduled events: their entries and marks are
	// left out of every read until then.
	visibleAt map[string]time.Time
}

// New returns an empty store on the wall clock.
func New() *Store {
	return &Store{
		now: time.Now, retention: DefaultRetention, settle: gancho.FanOutSettle,
		tenants: map[string]gancho.Tenant{}, issuers: map[string]string{},
		keysByHash: map[string]gancho.APIKey{}, keyHashes: map[string]string{},
		eventTypes: map[string]map[string]eventType{}, idem: map[string]gancho.IdempotencyRecord{},
		subs: map[string]*subscription{}, events: map[string]*event{}, deliveries: map[string]*delivery{},
		claims: map[string]claim{}, inbox: map[string]*inbox{}, windows: map[string]int64{},
	}
}

// WithClock sets the clock that decides expiry and stamps updates (the DynamoDB store
// uses the wall clock for these).
func (st *Store) WithClock(now func() time.Time) *Store { st.now = now; return st }

// WithRetention sets how long events, deliveries and inbox entries are kept.
func (st *Store) WithRetention(d time.Duration) *Store {
	if d > 0 {
		st.retention = d
	}
	return st
}

// WithFanOutSettle sets the fan-out settle time (see gancho.FanOutSettle).
func (st *Store) WithFanOutSettle(d time.Duration) *Store { st.settle = d; return st }

// WithMatchCache exists for parity with the DynamoDB store, whose match entries may
// be reused for a while; this store always reads the current subscriptions.
func (st *Store) WithMatchCache(time.Duration) *Store { return st }

func k2(a, b string) string { return a + "\x00" + b }

func (st *Store) expiry(from time.Time) int64 { return from.Add(st.retention).Unix() }

// live reports whether an item with expiresAt is still readable: the DynamoDB store
// filters items whose expiresAt has passed, since DynamoDB deletes them late.
func (st *Store) live(expiresAt int64) bool { return expiresAt > st.now().Unix() }

// clone copies v through its JSON form, as the DynamoDB store keeps it: nothing the
// caller holds aliases the store, and times lose their monotonic reading.
func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("memstore: marshal %T: %v", v, err))
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("memstore: unmarshal %T: %v", v, err))
	}
	return out
}

// rawCopy keeps raw JSON as given, byte for byte, as the DynamoDB store does (the
// JSON round trip of clone would compact it).
func rawCopy(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage{}, b...)
}

func cloneSub(s gancho.Subscription) gancho.Subscription {
	out := clone(s)
	out.Metadata = rawCopy(s.Metadata)
	return out
}

func cloneEvent(ev gancho.Event) gancho.Event {
	out := clone(ev)
	out.TenantID, out.Payload = ev.TenantID, rawCopy(ev.Payload)
	if ev.Destinations != nil {
		out.Destinations = append(make([]gancho.Destination, 0, len(ev.Destinations)), ev.Destinations...)
	}
	return out
}

func cloneDelivery(d gancho.Delivery) gancho.Delivery {
	out := clone(d)
	out.TenantID, out.Recorded = d.TenantID, d.Recorded
	return out
}

func utc(t time.Time) *time.Time {
	u := t.UTC()
	return &u
}

// invalidCursor is the DynamoDB store's answer to a cursor from another list.
func invalidCursor() error {
	return &gancho.Error{Kind: gancho.KindBadRequest, Detail: "cursor is not valid for this list",
		Fields: []gancho.FieldError{{Field: "cursor", Message: "is not valid for this list"}}}
}

// A cursor is bound to the list it came from, so it cannot be replayed on another.
type cursorBody struct {
	List string `json:"l"`
	Last string `json:"k"`
}

func encodeCursor(list, last string) string {
	b, _ := json.Marshal(cursorBody{List: list, Last: last})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c, list string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", invalidCursor()
	}
	var body cursorBody
	if err := json.Unmarshal(b, &body); err != nil || body.List != list || body.Last == "" {
		return "", invalidCursor()
	}
	return body.Last, nil
}

// pageDesc cuts a page out of items sorted newest (highest key) first: those below
// the cursor's key, at most limit, and the cursor of the next page when more follow.
// (DynamoDB also returns a cursor when a page ends exactly at the last item; the
// next page is then empty. Here a cursor always means more items.)
func pageDesc[T any](items []T, keyOf func(T) string, list string, p gancho.Page) ([]T, string, error) {
	last, err := decodeCursor(p.Cursor, list)
	if err != nil {
		return nil, "", err
	}
	sort.Slice(items, func(i, j int) bool { return keyOf(items[i]) > keyOf(items[j]) })
	out := make([]T, 0)
	limit := max(p.Limit, 1)
	for _, it := range items {
		if last != "" && keyOf(it) >= last {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor(list, keyOf(out[len(out)-1])), nil
		}
		out = append(out, it)
	}
	return out, "", nil
}
