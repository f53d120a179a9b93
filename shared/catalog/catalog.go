// Package catalog is a tenant's event-type catalog as the API uses it: listing it
// with the built-in types, changing it, and checking subscriptions' patterns and
// published events against it, with the per-process caches that keep those checks
// off the store.
//
// Caching. A publish or a new subscription checks the tenant's catalog, so each
// process keeps the catalogs and compiled schemas it read for at most CacheTTL: a
// type archived, or a schema changed, in another process (another route's Lambda)
// takes effect there within that time, the bound README and OpenAPI state. (The
// process that made the change also drops its copy of the catalog; that is cheap,
// but only a convenience.) A check that fails against a cached catalog older than
// recheckAfter reads it again before refusing, so a type just added elsewhere is
// usable immediately, while a client repeating a refused request costs at most one
// read per second.
package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Store is what the catalog needs from storage.
type Store interface {
	PutEventType(ctx context.Context, et gancho.EventType) (gancho.EventType, bool, error)
	GetEventType(ctx context.Context, tenant, name string) (gancho.EventType, error)
	ListEventTypes(ctx context.Context, tenant, after string, limit int) ([]gancho.EventType, bool, error)
	EventTypeCatalog(ctx context.Context, tenant string) ([]gancho.EventType, error)
	ArchiveEventType(ctx context.Context, tenant, name string, at time.Time) error
	GetTenant(ctx context.Context, id string) (gancho.Tenant, error)
}

// Cache bounds.
const (
	CacheTTL              = 30 * time.Second
	recheckAfter          = time.Second
	maxCachedCatalogs     = 1000
	maxCachedSchemaBytes  = 16 << 20 // of schema JSON; compiled forms are a few times larger
	maxCachedSchemaValues = 5000
	// schemaLoadTimeout bounds a shared schema load.
	schemaLoadTimeout = 10 * time.Second
)

// Service is the catalog of every tenant, for one process.
type Service struct {
	store    Store
	now      func() time.Time
	catalogs *cache.Cache[string, cachedCatalog]
	// schemas are keyed by revision: a changed schema is a new key, and concurrent
	// publishes of a type share one read and compile of its revision.
	schemas *cache.Cache[schemaKey, cachedSchema]
	compile func(json.RawMessage) (*gancho.Schema, error)
}

type cachedCatalog struct {
	cat    *gancho.Catalog
	loaded time.Time
}

type schemaKey struct {
	tenant, name string
	rev          int64
}

type cachedSchema struct {
	schema *gancho.Schema
	cost   *gancho.SchemaCostError // the schema is refused as too costly to check
	size   int
}

// New returns the catalog service on store.
func New(store Store, now func() time.Time) *Service {
	return &Service{
		store: store, now: now, compile: gancho.CompileStoredSchema,
		catalogs: cache.New[string, cachedCatalog](cache.Options[cachedCatalog]{
			TTL: CacheTTL, MaxEntries: maxCachedCatalogs, Now: now,
		}),
		schemas: cache.New[schemaKey, cachedSchema](cache.Options[cachedSchema]{
			TTL: CacheTTL, MaxEntries: maxCachedSchemaValues, Now: now,
			MaxCost: maxCachedSchemaBytes, Cost: func(cs cachedSchema) int { return cs.size },
			LoadTimeout: schemaLoadTimeout,
		}),
	}
}

// List returns a page of tenant's catalog in name order after the name after, the
// built-in types at their place, and whether more follow.
func (s *Service) List(ctx context.Context, tenant, after string, limit int) ([]gancho.EventType, bool, error) {
	ets, more, err := s.store.ListEventTypes(ctx, tenant, after, limit)
	if err != nil {
		return nil, false, err
	}
	// Built-in types sit at their place in name order, on the page that covers it.
	for _, b := range gancho.BuiltInEventTypes() {
		if b.Name <= after || more && b.Name > ets[len(ets)-1].Name {
			continue
		}
		i, _ := slices.BinarySearchFunc(ets, b.Name, func(et gancho.EventType, name string) int {
			return strings.Compare(et.Name, name)
		})
		ets = slices.Insert(ets, i, b)
	}
	if len(ets) > limit {
		ets, more = ets[:limit], true
	}
	return ets, more, nil
}

// Put creates (created true) or updates the event type name of tenant.
func (s *Service) Put(ctx context.Context, tenant, name string, in gancho.EventTypeInput) (gancho.EventType, bool, error) {
	if gancho.IsBuiltInEventType(name) {
		return gancho.EventType{}, false, gancho.CheckEventTypeName(name)
	}
	et, sch, err := gancho.NewEventType(name, in)
	if err != nil {
		return gancho.EventType{}, false, err
	}
	if err := s.checkRoom(ctx, tenant, name); err != nil {
		return gancho.EventType{}, false, err
	}
	et.TenantID, et.UpdatedAt = tenant, s.now().UTC()
	stored, created, err := s.store.PutEventType(ctx, et)
	if errors.Is(err, gancho.ErrConflict) {
		err = &gancho.Error{Kind: gancho.KindConflict, Detail: "event type " + name + " is being changed by another request; retry", Err: err}
	}
	if err != nil {
		return gancho.EventType{}, false, err
	}
	s.Forget(tenant)
	if sch != nil {
		s.schemas.Set(schemaKey{tenant, name, stored.Rev}, cachedSchema{schema: sch, size: len(stored.Schema)}, 0)
	}
	return stored, created, nil
}

// checkRoom refuses a new type when the tenant's catalog is full. Concurrent creates
// may overshoot the limit by a few; it bounds the catalog, it is no quota.
func (s *Service) checkRoom(ctx context.Context, tenant, name string) error {
	ets, err := s.store.EventTypeCatalog(ctx, tenant)
	if err != nil {
		return fmt.Errorf("check catalog size: %w", err)
	}
	if len(ets) < gancho.MaxEventTypes || slices.ContainsFunc(ets, func(et gancho.EventType) bool { return et.Name == name }) {
		return nil
	}
	return &gancho.Error{Kind: gancho.KindConflict,
		Detail: fmt.Sprintf("the catalog already holds %d event types, the most a tenant may have (archived ones count)", gancho.MaxEventTypes),
		Fields: []gancho.FieldError{{Field: "name", Message: "does not fit in the full catalog"}}}
}

// Archive archives the event type name of tenant: no new subscriptions to it or
// publishes of it.
func (s *Service) Archive(ctx context.Context, tenant, name string) error {
	if gancho.IsBuiltInEventType(name) {
		return gancho.CheckEventTypeName(name)
	}
	if gancho.CheckEventTypeName(name) != nil {
		return gancho.NotFound("event type " + name)
	}
	err := s.store.ArchiveEventType(ctx, tenant, name, s.now())
	if errors.Is(err, gancho.ErrNotFound) {
		return gancho.NotFound("event type " + name)
	}
	if err != nil {
		return err
	}
	s.Forget(tenant)
	return nil
}

// Forget drops what this process cached of tenant's catalog (after a change here,
// including allowedEventTypesOnly in the tenant's settings).
func (s *Service) Forget(tenant string) {
	s.catalogs.Delete(tenant)
}

// CheckPatterns verifies that a subscription's patterns name catalog types,
// "prefix.*" of catalog types, or "*"; errors name the field events[i].
func (s *Service) CheckPatterns(ctx context.Context, tenant string, patterns []string) error {
	cat, err := s.catalogFor(ctx, tenant, func(c *gancho.Catalog) bool { return len(c.CheckPatterns(patterns)) == 0 })
	if err != nil {
		return err
	}
	if errs := cat.CheckPatterns(patterns); len(errs) > 0 {
		return gancho.Invalid(errs...)
	}
	return nil
}

// CheckPublish verifies that ev's type is an active catalog type and that its
// payload matches the type's schema, if it has one, and returns ev with its type's
// retry schedule, if it has one.
func (s *Service) CheckPublish(ctx context.Context, ev gancho.Event) (gancho.Event, error) {
	cat, err := s.catalogFor(ctx, ev.TenantID, func(c *gancho.Catalog) bool { return c.CheckPublishType(ev.Type) == "" })
	if err != nil {
		return ev, err
	}
	if msg := cat.CheckPublishType(ev.Type); msg != "" {
		return ev, gancho.Invalid(gancho.FieldError{Field: "type", Message: msg})
	}
	et, _ := cat.Lookup(ev.Type)
	ev.RetrySchedule = slices.Clone(et.RetrySchedule)
	return ev, s.checkPayload(ctx, et, ev)
}

// checkPayload checks ev's payload against et's schema, if it has one.
func (s *Service) checkPayload(ctx context.Context, et gancho.EventType, ev gancho.Event) error {
	if !et.HasSchema {
		return nil
	}
	sch, err := s.schemaFor(ctx, et)
	if ce := (*gancho.SchemaCostError)(nil); errors.As(err, &ce) {
		// Only a schema stored before the bounds existed can get here.
		return gancho.Invalid(gancho.FieldError{Field: "type", Message: fmt.Sprintf("has a schema that cannot be checked: it %s; change it with PUT /v1/event-types/%s", ce.Reason, ev.Type)})
	}
	if err != nil || sch == nil {
		return err
	}
	if errs := sch.Validate(ev.Payload); len(errs) > 0 {
		inv := gancho.Invalid(errs...)
		inv.Detail = fmt.Sprintf("payload does not match the schema of %s (%s: %s)", ev.Type, errs[0].Field, errs[0].Message)
		return inv
	}
	return nil
}

// catalogFor returns tenant's catalog, cached when fresh. When ok refuses a cached
// catalog that is older than recheckAfter, the catalog is read again.
func (s *Service) catalogFor(ctx context.Context, tenant string, ok func(*gancho.Catalog) bool) (*gancho.Catalog, error) {
	load := func(ctx context.Context) (cachedCatalog, error) {
		loaded := s.now()
		ets, err := s.store.EventTypeCatalog(ctx, tenant)
		if err != nil {
			return cachedCatalog{}, fmt.Errorf("read event-type catalog: %w", err)
		}
		t, err := s.store.GetTenant(ctx, tenant)
		if err != nil && !errors.Is(err, gancho.ErrNotFound) {
			return cachedCatalog{}, fmt.Errorf("read tenant settings: %w", err)
		}
		// A tenant that turned allowedEventTypesOnly off may use types outside the catalog.
		return cachedCatalog{cat: gancho.NewCatalog(ets).Opened(err == nil && !t.AllowedEventTypesOnly), loaded: loaded}, nil
	}
	cc, err := s.catalogs.Get(ctx, tenant, load)
	if err != nil || ok(cc.cat) || s.now().Sub(cc.loaded) < recheckAfter {
		return cc.cat, err
	}
	s.catalogs.Delete(tenant)
	cc, err = s.catalogs.Get(ctx, tenant, load)
	return cc.cat, err
}

// schemaFor returns the compiled schema of et, a catalog entry, reading and
// compiling it when the cache has no copy of et's revision; concurrent callers
// share one read and compile. It returns nil when the stored type turns out to
// have no schema any more.
func (s *Service) schemaFor(ctx context.Context, et gancho.EventType) (*gancho.Schema, error) {
	k := schemaKey{et.TenantID, et.Name, et.Rev}
	cs, err := s.schemas.GetTTL(ctx, k, func(ctx context.Context) (cachedSchema, time.Duration, error) {
		return s.loadSchema(ctx, et)
	})
	switch {
	case err != nil:
		return nil, err
	case cs.cost != nil:
		return nil, cs.cost
	}
	return cs.schema, nil
}

// loadSchema reads and compiles the schema of et. A schema too costly to check is
// remembered like a compiled one, so that publishes do not retry it; one whose
// stored revision is not et's is used but not kept.
func (s *Service) loadSchema(ctx context.Context, et gancho.EventType) (cachedSchema, time.Duration, error) {
	stored, err := s.store.GetEventType(ctx, et.TenantID, et.Name)
	if err != nil {
		return cachedSchema{}, 0, fmt.Errorf("read schema of %s: %w", et.Name, err)
	}
	var ttl time.Duration // the cache's
	if stored.Rev != et.Rev {
		// The cached catalog is behind the store; read it again next time.
		s.Forget(et.TenantID)
		ttl = -1
	}
	if len(stored.Schema) == 0 {
		return cachedSchema{}, ttl, nil
	}
	sch, err := s.compile(stored.Schema)
	if ce := (*gancho.SchemaCostError)(nil); errors.As(err, &ce) {
		return cachedSchema{cost: ce, size: len(stored.Schema)}, ttl, nil
	}
	if err != nil {
		return cachedSchema{}, 0, fmt.Errorf("compile stored schema of %s: %w", et.Name, err)
	}
	return cachedSchema{schema: sch, size: len(stored.Schema)}, ttl, nil
}
