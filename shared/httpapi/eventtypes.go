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
	a.catalog.forget(p.TenantID, name)
	if sch != nil {
		a.catalog.putSchema(p.TenantID, name, stored.Rev, sch, len(stored.Schema), a.now())
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
	a.catalog.forget(p.TenantID, name)
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
// CatalogCacheTTL: a type archived, or a schema changed, by another process takes
// effect there within that time, and at once in the process that changed it. A check
// that fails against a cached catalog older than catalogRecheckAfter reads it again
// before refusing, so a type just added elsewhere is usable immediately, while a
// client repeating a refused request costs at most one read per second.
const (
	CatalogCacheTTL       = 30 * time.Second
	catalogRecheckAfter   = time.Second
	maxCachedCatalogs     = 1000
	maxCachedSchemaBytes  = 16 << 20 // of schema JSON; compiled forms are a few times larger
	maxCachedSchemaValues = 5000
)

// catalogCache is usable as its zero value.
type catalogCache struct {
	mu          sync.Mutex
	catalogs    map[string]cachedCatalog
	schemas     map[schemaKey]cachedSchema
	schemaBytes int
	// loads are the schemas being read and compiled: concurrent publishes of a
	// type share one compile of its revision instead of each compiling it.
	loads map[loadKey]*schemaLoad
	// compile compiles a stored schema; nil is gancho.CompileStoredSchema.
	compile func(json.RawMessage) (*gancho.Schema, error)
}

type loadKey struct {
	schemaKey
	rev int64
}

// schemaLoad is one read and compile of a schema revision, shared by the callers
// that want it while it runs; sch and err are set before done is closed.
type schemaLoad struct {
	done    chan struct{}
	sch     *gancho.Schema
	err     error
	sharers int // callers waiting for it besides the one running it
}

type cachedCatalog struct {
	cat    *gancho.Catalog
	loaded time.Time
}

type schemaKey struct{ tenant, name string }

type cachedSchema struct {
	rev    int64
	schema *gancho.Schema
	cost   *gancho.SchemaCostError // the schema is refused as too costly to check
	size   int
	loaded time.Time
}

func (c *catalogCache) getCatalog(tenant string, now time.Time) (cachedCatalog, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, ok := c.catalogs[tenant]
	if !ok || now.Sub(cc.loaded) >= CatalogCacheTTL || now.Before(cc.loaded) {
		return cachedCatalog{}, false
	}
	return cc, true
}

func (c *catalogCache) putCatalog(tenant string, cat *gancho.Catalog, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.catalogs == nil || len(c.catalogs) >= maxCachedCatalogs {
		c.catalogs = map[string]cachedCatalog{}
	}
	c.catalogs[tenant] = cachedCatalog{cat: cat, loaded: now}
}

// schemaOrLoad returns the cached revision rev of a schema if it is fresh, or else
// the load that reads and compiles it; run is true when the caller must run that
// load, and false when another caller runs it.
func (c *catalogCache) schemaOrLoad(tenant, name string, rev int64, now time.Time) (cached *cachedSchema, load *schemaLoad, run bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, ok := c.schemas[schemaKey{tenant, name}]
	if ok && cs.rev == rev && now.Sub(cs.loaded) < CatalogCacheTTL && !now.Before(cs.loaded) {
		return &cs, nil, false
	}
	k := loadKey{schemaKey{tenant, name}, rev}
	if l, ok := c.loads[k]; ok {
		l.sharers++
		return nil, l, false
	}
	if c.loads == nil {
		c.loads = map[loadKey]*schemaLoad{}
	}
	l := &schemaLoad{done: make(chan struct{})}
	c.loads[k] = l
	return nil, l, true
}

// endLoad publishes a load's result to the callers sharing it.
func (c *catalogCache) endLoad(tenant, name string, rev int64, l *schemaLoad) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.loads, loadKey{schemaKey{tenant, name}, rev})
	close(l.done)
}

// sharers counts the callers waiting for a running load of a schema revision.
func (c *catalogCache) sharers(tenant, name string, rev int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l, ok := c.loads[loadKey{schemaKey{tenant, name}, rev}]; ok {
		return l.sharers
	}
	return 0
}

func (c *catalogCache) putSchema(tenant, name string, rev int64, sch *gancho.Schema, size int, now time.Time) {
	c.putCached(tenant, name, cachedSchema{rev: rev, schema: sch, size: size, loaded: now})
}

func (c *catalogCache) putCached(tenant, name string, cs cachedSchema) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := schemaKey{tenant, name}
	if old, ok := c.schemas[k]; ok {
		c.schemaBytes -= old.size
		delete(c.schemas, k)
	}
	if c.schemas == nil || len(c.schemas) >= maxCachedSchemaValues || c.schemaBytes+cs.size > maxCachedSchemaBytes {
		c.schemas, c.schemaBytes = map[schemaKey]cachedSchema{}, 0
	}
	c.schemas[k] = cs
	c.schemaBytes += cs.size
}

// forget drops what this process cached of tenant's catalog and of one type's schema.
func (c *catalogCache) forget(tenant, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.catalogs, tenant)
	k := schemaKey{tenant, name}
	if old, ok := c.schemas[k]; ok {
		c.schemaBytes -= old.size
		delete(c.schemas, k)
	}
}

// catalogFor returns tenant's catalog, cached when fresh. When ok refuses a cached
// catalog that is older than catalogRecheckAfter, the catalog is read again.
func (a *API) catalogFor(ctx context.Context, tenant string, ok func(*gancho.Catalog) bool) (*gancho.Catalog, error) {
	if cc, hit := a.catalog.getCatalog(tenant, a.now()); hit {
		if ok(cc.cat) || a.now().Sub(cc.loaded) < catalogRecheckAfter {
			return cc.cat, nil
		}
	}
	ets, err := a.store.EventTypeCatalog(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("read event-type catalog: %w", err)
	}
	t, err := a.store.GetTenant(ctx, tenant)
	if err != nil && !errors.Is(err, gancho.ErrNotFound) {
		return nil, fmt.Errorf("read tenant settings: %w", err)
	}
	// A tenant that turned allowedEventTypesOnly off may use types outside the catalog.
	cat := gancho.NewCatalog(ets).Opened(err == nil && !t.AllowedEventTypesOnly)
	a.catalog.putCatalog(tenant, cat, a.now())
	return cat, nil
}

// schemaLoadTimeout bounds a shared schema load, which no single caller's
// cancellation stops.
const schemaLoadTimeout = 10 * time.Second

// schemaFor returns the compiled schema of et, a catalog entry, reading and
// compiling it when the cache has no copy of et's revision; concurrent callers
// share one read and compile. It returns nil when the stored type turns out to
// have no schema any more.
func (a *API) schemaFor(ctx context.Context, et gancho.EventType) (*gancho.Schema, error) {
	cached, l, run := a.catalog.schemaOrLoad(et.TenantID, et.Name, et.Rev, a.now())
	switch {
	case cached != nil && cached.cost != nil:
		return nil, cached.cost
	case cached != nil:
		return cached.schema, nil
	}
	if run {
		func() {
			defer a.catalog.endLoad(et.TenantID, et.Name, et.Rev, l)
			// The load serves every caller sharing it, so one caller's cancellation
			// must not fail the others.
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), schemaLoadTimeout)
			defer cancel()
			l.sch, l.err = a.loadSchema(lctx, et)
		}()
	}
	select {
	case <-l.done:
		return l.sch, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loadSchema reads and compiles the schema of et and caches it.
func (a *API) loadSchema(ctx context.Context, et gancho.EventType) (*gancho.Schema, error) {
	stored, err := a.store.GetEventType(ctx, et.TenantID, et.Name)
	if err != nil {
		return nil, fmt.Errorf("read schema of %s: %w", et.Name, err)
	}
	if stored.Rev != et.Rev {
		// The cached catalog is behind the store; read it again next time.
		a.catalog.forget(et.TenantID, et.Name)
	}
	if len(stored.Schema) == 0 {
		return nil, nil
	}
	compile := a.catalog.compile
	if compile == nil {
		compile = gancho.CompileStoredSchema
	}
	sch, err := compile(stored.Schema)
	if ce := (*gancho.SchemaCostError)(nil); errors.As(err, &ce) {
		// Remembered like a compiled schema, so that publishes do not retry it.
		a.catalog.putCached(et.TenantID, et.Name, cachedSchema{rev: stored.Rev, cost: ce, size: len(stored.Schema), loaded: a.now()})
	}
	if err != nil {
		return nil, fmt.Errorf("compile stored schema of %s: %w", et.Name, err)
	}
	a.catalog.putSchema(et.TenantID, et.Name, stored.Rev, sch, len(stored.Schema), a.now())
	return sch, nil
}
