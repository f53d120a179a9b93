package memstore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func issuerOf(t gancho.Tenant) string {
	if t.JWT == nil {
		return ""
	}
	return t.JWT.Issuer
}

// CreateTenant stores a tenant (as gancho.NewTenant made it) together with its first
// API key, atomically. A tenant with JWT settings also claims its issuer
// (gancho.ErrIssuerTaken if another has it).
func (st *Store) CreateTenant(_ context.Context, t gancho.Tenant, first gancho.APIKey, keyHash string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if iss := issuerOf(t); iss != "" {
		if holder, ok := st.issuers[iss]; ok && holder != t.ID {
			return fmt.Errorf("create tenant %s: %w", t.ID, gancho.ErrIssuerTaken)
		}
	}
	if _, ok := st.tenants[t.ID]; ok {
		return fmt.Errorf("create tenant %s: %w", t.ID, gancho.ErrConflict)
	}
	if st.keyTaken(first, keyHash) {
		return fmt.Errorf("create tenant %s: %w", t.ID, gancho.ErrConflict)
	}
	st.tenants[t.ID] = clone(t)
	st.putKey(first, keyHash)
	if iss := issuerOf(t); iss != "" {
		st.issuers[iss] = t.ID
	}
	return nil
}

// GetTenant reads a tenant.
func (st *Store) GetTenant(_ context.Context, id string) (gancho.Tenant, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	t, ok := st.tenants[id]
	if !ok {
		return gancho.Tenant{}, fmt.Errorf("tenant %s: %w", id, gancho.ErrNotFound)
	}
	return clone(t), nil
}

// UpdateTenant replaces before with after if the stored tenant is still before (same
// updatedAt; gancho.ErrConflict otherwise), and moves the JWT issuer index with it
// (gancho.ErrIssuerTaken if another tenant holds the new issuer).
func (st *Store) UpdateTenant(_ context.Context, before, after gancho.Tenant) error {
	if before.ID != after.ID {
		return fmt.Errorf("update tenant: id changed from %s to %s", before.ID, after.ID)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	cur, ok := st.tenants[before.ID]
	if !ok || !cur.UpdatedAt.Equal(before.UpdatedAt) {
		return fmt.Errorf("update tenant %s: %w", before.ID, gancho.ErrConflict)
	}
	oldIss, newIss := issuerOf(before), issuerOf(after)
	if oldIss != newIss {
		if holder, ok := st.issuers[oldIss]; oldIss != "" && ok && holder != before.ID {
			return fmt.Errorf("update tenant %s: %w", before.ID, gancho.ErrConflict)
		}
		if holder, ok := st.issuers[newIss]; newIss != "" && ok && holder != after.ID {
			return fmt.Errorf("update tenant %s: %w", before.ID, gancho.ErrIssuerTaken)
		}
		if oldIss != "" {
			delete(st.issuers, oldIss)
		}
		if newIss != "" {
			st.issuers[newIss] = after.ID
		}
	}
	st.tenants[after.ID] = clone(after)
	return nil
}

// TenantByIssuer finds the tenant that configured issuer for its JWTs.
func (st *Store) TenantByIssuer(_ context.Context, issuer string) (gancho.Tenant, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	id, ok := st.issuers[issuer]
	t, found := st.tenants[id]
	if !ok || !found || issuerOf(t) != issuer {
		return gancho.Tenant{}, fmt.Errorf("issuer: %w", gancho.ErrNotFound)
	}
	return clone(t), nil
}

func (st *Store) keyTaken(k gancho.APIKey, hash string) bool {
	_, byHash := st.keysByHash[hash]
	_, byID := st.keyHashes[k2(k.TenantID, k.ID)]
	return byHash || byID
}

func (st *Store) putKey(k gancho.APIKey, hash string) {
	st.keysByHash[hash] = clone(k)
	st.keyHashes[k2(k.TenantID, k.ID)] = hash
}

// LookupAPIKey finds a key by the hash of its secret value.
func (st *Store) LookupAPIKey(_ context.Context, hash string) (gancho.APIKey, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	k, ok := st.keysByHash[hash]
	if !ok {
		return gancho.APIKey{}, fmt.Errorf("api key: %w", gancho.ErrNotFound)
	}
	return clone(k), nil
}

// CreateAPIKey stores a new API key of an existing tenant (gancho.ErrConflict if its
// id or hash is taken).
func (st *Store) CreateAPIKey(_ context.Context, k gancho.APIKey, hash string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.keyTaken(k, hash) {
		return fmt.Errorf("create api key %s: %w", k.ID, gancho.ErrConflict)
	}
	st.putKey(k, hash)
	return nil
}

// PutAPIKey stores (or replaces) an API key. Replacing a key id with a new value
// removes the old value, so it stops authenticating.
func (st *Store) PutAPIKey(_ context.Context, k gancho.APIKey, hash string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if old, ok := st.keyHashes[k2(k.TenantID, k.ID)]; ok && old != hash {
		if prev, ok := st.keysByHash[old]; ok && prev.TenantID == k.TenantID {
			delete(st.keysByHash, old)
		}
	}
	st.putKey(k, hash)
	return nil
}

func (st *Store) getKey(tenant, id string) (gancho.APIKey, string, error) {
	hash, ok := st.keyHashes[k2(tenant, id)]
	k, found := st.keysByHash[hash]
	if !ok || !found || k.TenantID != tenant || k.Revoked {
		return gancho.APIKey{}, "", fmt.Errorf("api key %s: %w", id, gancho.ErrNotFound)
	}
	return k, hash, nil
}

// GetAPIKey reads one API key of tenant.
func (st *Store) GetAPIKey(_ context.Context, tenant, id string) (gancho.APIKey, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	k, _, err := st.getKey(tenant, id)
	return clone(k), err
}

// ListAPIKeys returns tenant's keys (only those of owner, when owner is set), newest
// first (by id, which starts with its creation time).
func (st *Store) ListAPIKeys(_ context.Context, tenant, owner string, p gancho.Page) ([]gancho.APIKey, string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var all []gancho.APIKey
	for _, k := range st.keysByHash {
		if k.TenantID == tenant && !k.Revoked && (owner == "" || k.OwnerID == owner) {
			all = append(all, clone(k))
		}
	}
	return pageDesc(all, func(k gancho.APIKey) string { return k.ID }, "K#"+tenant, p)
}

// RevokeAPIKey deletes tenant's key id, so it stops authenticating
// (gancho.ErrNotFound if tenant has no such key).
func (st *Store) RevokeAPIKey(_ context.Context, tenant, id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	_, hash, err := st.getKey(tenant, id)
	if err != nil {
		return err
	}
	delete(st.keysByHash, hash)
	delete(st.keyHashes, k2(tenant, id))
	return nil
}

// PutEventType creates or replaces et and un-archives it. It returns the stored
// type, with its original CreatedAt, and whether it was created.
func (st *Store) PutEventType(_ context.Context, et gancho.EventType) (gancho.EventType, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	types := st.eventTypes[et.TenantID]
	if types == nil {
		types = map[string]eventType{}
		st.eventTypes[et.TenantID] = types
	}
	old, exists := types[et.Name]
	out := gancho.EventType{TenantID: et.TenantID, Name: et.Name, Description: et.Description,
		HasSchema: len(et.Schema) > 0, RetrySchedule: slices.Clone(et.RetrySchedule), Rev: old.et.Rev + 1, CreatedAt: et.UpdatedAt.UTC(), UpdatedAt: et.UpdatedAt.UTC()}
	if exists {
		out.CreatedAt = old.et.CreatedAt
	}
	rec := eventType{et: out}
	if out.HasSchema {
		rec.schema = append([]byte(nil), et.Schema...)
	}
	types[et.Name] = rec
	out.Schema = et.Schema
	return out, !exists, nil
}

func (rec eventType) withSchema() gancho.EventType {
	et := rec.et
	if rec.et.HasSchema {
		et.Schema = append([]byte(nil), rec.schema...)
	}
	return et
}

// GetEventType reads one type of tenant with its schema.
func (st *Store) GetEventType(_ context.Context, tenant, name string) (gancho.EventType, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.eventTypes[tenant][name]
	if !ok {
		return gancho.EventType{}, fmt.Errorf("event type %s: %w", name, gancho.ErrNotFound)
	}
	return rec.withSchema(), nil
}

func (st *Store) sortedTypes(tenant string) []eventType {
	out := make([]eventType, 0, len(st.eventTypes[tenant]))
	for _, rec := range st.eventTypes[tenant] {
		out = append(out, rec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].et.Name < out[j].et.Name })
	return out
}

// ListEventTypes returns up to limit types of tenant whose names sort after after, in
// name order, with their schemas, and whether more follow.
func (st *Store) ListEventTypes(_ context.Context, tenant, after string, limit int) ([]gancho.EventType, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []gancho.EventType
	for _, rec := range st.sortedTypes(tenant) {
		if rec.et.Name <= after {
			continue
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, rec.withSchema())
	}
	return out, false, nil
}

// EventTypeCatalog returns every type of tenant, in name order, without schemas.
func (st *Store) EventTypeCatalog(_ context.Context, tenant string) ([]gancho.EventType, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []gancho.EventType
	for _, rec := range st.sortedTypes(tenant) {
		out = append(out, rec.et)
	}
	return out, nil
}

// ArchiveEventType archives a type of tenant; archiving an archived type changes
// nothing, an unknown one is ErrNotFound.
func (st *Store) ArchiveEventType(_ context.Context, tenant, name string, at time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, ok := st.eventTypes[tenant][name]
	if !ok {
		return fmt.Errorf("event type %s: %w", name, gancho.ErrNotFound)
	}
	if !rec.et.Archived {
		rec.et.Archived, rec.et.UpdatedAt = true, at.UTC()
		st.eventTypes[tenant][name] = rec
	}
	return nil
}

// idemKey is a record's key space: tenant, credential, owner and key.
func idemKey(rec gancho.IdempotencyRecord) string {
	h := sha256.New()
	for _, part := range []string{rec.Tenant, rec.Credential, rec.Owner, rec.Key} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// BeginIdempotent claims rec's key for a new run unless a live record holds it: it
// returns (rec, true, nil) when the caller now holds the key, and (the existing
// record, false, nil) otherwise. Expired records count as absent, and so does a
// running record whose lease has passed when the same request comes again. Times
// are kept to the second, as the DynamoDB store keeps them.
func (st *Store) BeginIdempotent(_ context.Context, rec gancho.IdempotencyRecord, now time.Time) (gancho.IdempotencyRecord, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := idemKey(rec)
	cur, ok := st.idem[k]
	takeOver := !ok || cur.ExpiresAt.Unix() <= now.Unix() ||
		(cur.State == gancho.IdempotencyRunning && cur.LeaseUntil.Unix() <= now.Unix() && cur.RequestHash == rec.RequestHash)
	if !takeOver {
		got := cur
		got.Header = cloneHeader(cur.Header)
		got.Body = append([]byte(nil), cur.Body...)
		if len(got.Body) == 0 {
			got.Body = nil
		}
		got.Tenant, got.Credential, got.Key = rec.Tenant, rec.Credential, rec.Key
		return got, false, nil
	}
	stored := gancho.IdempotencyRecord{Owner: rec.Owner, Route: rec.Route, RequestHash: rec.RequestHash,
		State: gancho.IdempotencyRunning, Lock: rec.Lock, LeaseUntil: time.Unix(rec.LeaseUntil.Unix(), 0).UTC(),
		CreatedAt: *utc(rec.CreatedAt), ExpiresAt: time.Unix(rec.ExpiresAt.Unix(), 0).UTC()}
	st.idem[k] = stored
	rec.State = gancho.IdempotencyRunning
	return rec, true, nil
}

func cloneHeader(h map[string]string) map[string]string {
	if h == nil {
		return nil
	}
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = v
	}
	return out
}

// FinishIdempotent stores rec's response and marks it done, if rec's run still holds
// the key; otherwise it reports gancho.ErrConflict.
func (st *Store) FinishIdempotent(_ context.Context, rec gancho.IdempotencyRecord) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := idemKey(rec)
	cur, ok := st.idem[k]
	if !ok || cur.Lock != rec.Lock || cur.State != gancho.IdempotencyRunning {
		return fmt.Errorf("finish idempotent request: the key is no longer held: %w", gancho.ErrConflict)
	}
	cur.State, cur.Status = gancho.IdempotencyDone, rec.Status
	cur.Header = cloneHeader(rec.Header)
	if cur.Header == nil {
		cur.Header = map[string]string{}
	}
	cur.Body = append([]byte(nil), rec.Body...)
	cur.LeaseUntil = time.Unix(0, 0).UTC() // the DynamoDB store removes it: it reads back as 0
	st.idem[k] = cur
	return nil
}

// ReleaseIdempotent deletes rec's record if rec's run still holds it, so the same key
// can run again.
func (st *Store) ReleaseIdempotent(_ context.Context, rec gancho.IdempotencyRecord) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := idemKey(rec)
	if cur, ok := st.idem[k]; ok && cur.Lock == rec.Lock {
		delete(st.idem, k)
	}
	return nil
}
