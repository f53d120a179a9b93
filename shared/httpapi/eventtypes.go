package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// EventTypeStore is what the event-type catalog needs from storage.
type EventTypeStore interface {
	PutEventType(ctx context.Context, et gancho.EventType) (gancho.EventType, bool, error)
	GetEventType(ctx context.Context, tenant, name string) (gancho.EventType, error)
	ListEventTypes(ctx context.Context, tenant, after string, limit int) ([]gancho.EventType, bool, error)
	EventTypeCatalog(ctx context.Context, tenant string) ([]gancho.EventType, error)
	ArchiveEventType(ctx context.Context, tenant, name string, at time.Time) error
}

func (a *API) listEventTypes(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	limit, cursor, err := page(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	after, err := decodeNameCursor(cursor)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	ets, more, err := a.store.ListEventTypes(r.Context(), p.TenantID, after, limit)
	if err != nil {
		writeError(w, r, a.log, err)
		return
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
	next := ""
	if more {
		next = base64.RawURLEncoding.EncodeToString([]byte(ets[len(ets)-1].Name))
	}
	writeJSON(w, http.StatusOK, newList(ets, next))
}

// decodeNameCursor reads a catalog cursor: the last name of the previous page.
func decodeNameCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	name := string(b)
	if err != nil || !gancho.IsBuiltInEventType(name) && gancho.CheckEventTypeName(name) != nil {
		return "", &gancho.Error{Kind: gancho.KindBadRequest, Detail: "cursor is not valid for this list",
			Fields: []gancho.FieldError{{Field: "cursor", Message: "is not valid for this list"}}}
	}
	return name, nil
}

// errOwnerCatalog refuses catalog changes through owner-bound keys: the catalog is
// the tenant's, shared by all its owners.
var errOwnerCatalog = gancho.Errorf(gancho.KindForbidden, "an owner-bound API key cannot change the tenant's event-type catalog")

func (a *API) putEventType(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	name := r.PathValue("name")
	if p.OwnerID != "" {
		writeError(w, r, a.log, errOwnerCatalog)
		return
	}
	if gancho.IsBuiltInEventType(name) {
		writeError(w, r, a.log, gancho.CheckEventTypeName(name))
		return
	}
	var in gancho.EventTypeInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	et, sch, err := gancho.NewEventType(name, in)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := a.checkCatalogRoom(r.Context(), p.TenantID, name); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	et.TenantID, et.UpdatedAt = p.TenantID, a.now().UTC()
	stored, created, err := a.store.PutEventType(r.Context(), et)
	if errors.Is(err, gancho.ErrConflict) {
		err = &gancho.Error{Kind: gancho.KindConflict, Detail: "event type " + name + " is being changed by another request; retry", Err: err}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.forgetCatalog(p.TenantID)
	if sch != nil {
		a.catalog.ready(a.now).schemas.Set(schemaKey{p.TenantID, name, stored.Rev}, cachedSchema{schema: sch, size: len(stored.Schema)}, 0)
	}
	if !created {
		writeJSON(w, http.StatusOK, stored)
		return
	}
	w.Header().Set("Location", "/v1/event-types/"+url.PathEscape(name))
	writeJSON(w, http.StatusCreated, stored)
}

// checkCatalogRoom refuses a new type when the tenant's catalog is full. Concurrent
// creates may overshoot the limit by a few; it bounds the catalog, it is no quota.
func (a *API) checkCatalogRoom(ctx context.Context, tenant, name string) error {
	ets, err := a.store.EventTypeCatalog(ctx, tenant)
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

func (a *API) deleteEventType(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	name := r.PathValue("name")
	if p.OwnerID != "" {
		writeError(w, r, a.log, errOwnerCatalog)
		return
	}
	if gancho.IsBuiltInEventType(name) {
		writeError(w, r, a.log, gancho.CheckEventTypeName(name))
		return
	}
	var err error = gancho.NotFound("event type " + name)
	if gancho.CheckEventTypeName(name) == nil {
		err = a.store.ArchiveEventType(r.Context(), p.TenantID, name, a.now())
		if errors.Is(err, gancho.ErrNotFound) {
			err = gancho.NotFound("event type " + name)
		}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.forgetCatalog(p.TenantID)
	w.WriteHeader(http.StatusNoContent)
}

// checkEventPatterns verifies that a subscription's patterns name catalog types,
// "prefix.*" of catalog types, or "*"; errors name the field events[i].
func (a *API) checkEventPatterns(ctx context.Context, tenant string, patterns []string) error {
	cat, err := a.catalogFor(ctx, tenant, func(c *gancho.Catalog) bool { return len(c.CheckPatterns(patterns)) == 0 })
	if err != nil {
		return err
	}
	if errs := cat.CheckPatterns(patterns); len(errs) > 0 {
		return gancho.Invalid(errs...)
	}
	return nil
}

// checkPublishType verifies that ev's type is an active catalog type and that its
// payload matches the type's schema, if it has one.
func (a *API) checkPublishType(ctx context.Context, ev gancho.Event) error {
	cat, err := a.catalogFor(ctx, ev.TenantID, func(c *gancho.Catalog) bool { return c.CheckPublishType(ev.Type) == "" })
	if err != nil {
		return err
	}
	if msg := cat.CheckPublishType(ev.Type); msg != "" {
		return gancho.Invalid(gancho.FieldError{Field: "type", Message: msg})
	}
	et, _ := cat.Lookup(ev.Type)
	if !et.HasSchema {
		return nil
	}
	sch, err := a.schemaFor(ctx, et)
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

// Catalog caching. A publish or a new subscription checks the tenant's catalog, so
// each process keeps the catalogs and compiled schemas it read for at most
// CatalogCacheTTL: a type archived, or a schema changed, in another process (another
// route's Lambda) takes effect there within that time, the bound README and OpenAPI
// state. (The process that made the change also drops its copy of the catalog; that
// is cheap, but only a convenience.) A check that fails against a cached catalog
// older than catalogRecheckAfter reads it again before refusing, so a type just
// added elsewhere is usable immediately, while a client repeating a refused request
// costs at most one read per second.
const (
	CatalogCacheTTL       = 30 * time.Second
	catalogRecheckAfter   = time.Second
	maxCachedCatalogs     = 1000
	maxCachedSchemaBytes  = 16 << 20 // of schema JSON; compiled forms are a few times larger
	maxCachedSchemaValues = 5000
)

// schemaLoadTimeout bounds a shared schema load.
const schemaLoadTimeout = 10 * time.Second

// catalogCache is usable as its zero value.
type catalogCache struct {
	once     sync.Once
	catalogs *cache.Cache[string, cachedCatalog]
	// schemas are keyed by revision: a changed schema is a new key, and concurrent
	// publishes of a type share one read and compile of its revision.
	schemas *cache.Cache[schemaKey, cachedSchema]
	// compile compiles a stored schema; nil is gancho.CompileStoredSchema.
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

func (c *catalogCache) ready(now func() time.Time) *catalogCache {
	c.once.Do(func() {
		c.catalogs = cache.New[string, cachedCatalog](cache.Options[cachedCatalog]{
			TTL: CatalogCacheTTL, MaxEntries: maxCachedCatalogs, Now: now,
		})
		c.schemas = cache.New[schemaKey, cachedSchema](cache.Options[cachedSchema]{
			TTL: CatalogCacheTTL, MaxEntries: maxCachedSchemaValues, Now: now,
			MaxCost: maxCachedSchemaBytes, Cost: func(cs cachedSchema) int { return cs.size },
			LoadTimeout: schemaLoadTimeout,
		})
	})
	return c
}

// forgetCatalog drops what this process cached of tenant's catalog.
func (a *API) forgetCatalog(tenant string) {
	a.catalog.ready(a.now).catalogs.Delete(tenant)
}

// catalogFor returns tenant's catalog, cached when fresh. When ok refuses a cached
// catalog that is older than catalogRecheckAfter, the catalog is read again.
func (a *API) catalogFor(ctx context.Context, tenant string, ok func(*gancho.Catalog) bool) (*gancho.Catalog, error) {
	c := a.catalog.ready(a.now).catalogs
	load := func(ctx context.Context) (cachedCatalog, error) {
		loaded := a.now()
		ets, err := a.store.EventTypeCatalog(ctx, tenant)
		if err != nil {
			return cachedCatalog{}, fmt.Errorf("read event-type catalog: %w", err)
		}
		t, err := a.store.GetTenant(ctx, tenant)
		if err != nil && !errors.Is(err, gancho.ErrNotFound) {
			return cachedCatalog{}, fmt.Errorf("read tenant settings: %w", err)
		}
		// A tenant that turned allowedEventTypesOnly off may use types outside the catalog.
		return cachedCatalog{cat: gancho.NewCatalog(ets).Opened(err == nil && !t.AllowedEventTypesOnly), loaded: loaded}, nil
	}
	cc, err := c.Get(ctx, tenant, load)
	if err != nil || ok(cc.cat) || a.now().Sub(cc.loaded) < catalogRecheckAfter {
		return cc.cat, err
	}
	c.Delete(tenant)
	cc, err = c.Get(ctx, tenant, load)
	return cc.cat, err
}

// schemaFor returns the compiled schema of et, a catalog entry, reading and
// compiling it when the cache has no copy of et's revision; concurrent callers
// share one read and compile. It returns nil when the stored type turns out to
// have no schema any more.
func (a *API) schemaFor(ctx context.Context, et gancho.EventType) (*gancho.Schema, error) {
	k := schemaKey{et.TenantID, et.Name, et.Rev}
	cs, err := a.catalog.ready(a.now).schemas.GetTTL(ctx, k, func(ctx context.Context) (cachedSchema, time.Duration, error) {
		return a.loadSchema(ctx, et)
	})
	switch {
	case err != nil:
		return nil, err
	case cs.cost != nil:
		return nil, cs.cost
	}
	return cs.schema, nil
}

// waiters counts the callers waiting for a running load of a schema revision.
func (a *API) schemaWaiters(tenant, name string, rev int64) int {
	return a.catalog.ready(a.now).schemas.Waiters(schemaKey{tenant, name, rev})
}

// loadSchema reads and compiles the schema of et. A schema too costly to check is
// remembered like a compiled one, so that publishes do not retry it; one whose
// stored revision is not et's is used but not kept.
func (a *API) loadSchema(ctx context.Context, et gancho.EventType) (cachedSchema, time.Duration, error) {
	stored, err := a.store.GetEventType(ctx, et.TenantID, et.Name)
	if err != nil {
		return cachedSchema{}, 0, fmt.Errorf("read schema of %s: %w", et.Name, err)
	}
	var ttl time.Duration // the cache's
	if stored.Rev != et.Rev {
		// The cached catalog is behind the store; read it again next time.
		a.forgetCatalog(et.TenantID)
		ttl = -1
	}
	if len(stored.Schema) == 0 {
		return cachedSchema{}, ttl, nil
	}
	compile := a.catalog.compile
	if compile == nil {
		compile = gancho.CompileStoredSchema
	}
	sch, err := compile(stored.Schema)
	if ce := (*gancho.SchemaCostError)(nil); errors.As(err, &ce) {
		return cachedSchema{cost: ce, size: len(stored.Schema)}, ttl, nil
	}
	if err != nil {
		return cachedSchema{}, 0, fmt.Errorf("compile stored schema of %s: %w", et.Name, err)
	}
	return cachedSchema{schema: sch, size: len(stored.Schema)}, ttl, nil
}
