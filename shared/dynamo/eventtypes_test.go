package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// etEnv is one test's catalog store with a tenant of its own.
type etEnv struct {
	ctx    context.Context
	st     *dynamo.Store
	tenant string
}

func newETEnv(t *testing.T) etEnv {
	t.Helper()
	_, c := testenv.Clients(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return etEnv{ctx: ctx, st: c.Store, tenant: testenv.TenantID()}
}

func (e etEnv) put(t *testing.T, name, description, schema string, at time.Time) (gancho.EventType, bool) {
	t.Helper()
	in := gancho.EventTypeInput{Description: &description}
	if schema != "" {
		in.Schema = json.RawMessage(schema)
	}
	et, _, err := gancho.NewEventType(name, in)
	if err != nil {
		t.Fatal(err)
	}
	et.TenantID, et.UpdatedAt = e.tenant, at
	stored, created, err := e.st.PutEventType(e.ctx, et)
	if err != nil {
		t.Fatalf("put %s: %v", name, err)
	}
	return stored, created
}

func etNames(ets []gancho.EventType) []string {
	var out []string
	for _, et := range ets {
		out = append(out, et.Name)
	}
	return out
}

func TestPutEventTypeCreateThenUpdate(t *testing.T) {
	e := newETEnv(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	t1 := t0.Add(time.Minute)
	const schema = `{"type":"object","required":["id"]}`

	created, isNew := e.put(t, "crm.lead.created", "a lead", schema, t0)
	if !isNew || created.Rev != 1 || !created.CreatedAt.Equal(t0) || !created.UpdatedAt.Equal(t0) || string(created.Schema) != schema {
		t.Fatalf("create = %+v, created %v", created, isNew)
	}
	got, err := e.st.GetEventType(e.ctx, e.tenant, "crm.lead.created")
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "a lead" || string(got.Schema) != schema || !got.HasSchema || got.Rev != 1 || got.TenantID != e.tenant {
		t.Fatalf("get = %+v", got)
	}

	updated, isNew := e.put(t, "crm.lead.created", "a new lead", "", t1)
	if isNew || updated.Rev != 2 || !updated.CreatedAt.Equal(t0) || !updated.UpdatedAt.Equal(t1) {
		t.Fatalf("update = %+v, created %v", updated, isNew)
	}
	got, err = e.st.GetEventType(e.ctx, e.tenant, "crm.lead.created")
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "a new lead" || len(got.Schema) != 0 || got.HasSchema || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after a PUT without schema = %+v, want the schema removed", got)
	}
}

func TestArchiveEventType(t *testing.T) {
	e := newETEnv(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	e.put(t, "a.b", "", `true`, t0)

	if err := e.st.ArchiveEventType(e.ctx, e.tenant, "a.b", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.GetEventType(e.ctx, e.tenant, "a.b")
	if err != nil || !got.Archived || !got.UpdatedAt.Equal(t0.Add(time.Second)) || string(got.Schema) != "true" {
		t.Fatalf("archived = %+v, %v", got, err)
	}
	// Archiving again changes nothing.
	if err := e.st.ArchiveEventType(e.ctx, e.tenant, "a.b", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.st.GetEventType(e.ctx, e.tenant, "a.b"); !got.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("second archive moved updatedAt to %s", got.UpdatedAt)
	}
	// A PUT un-archives.
	if et, isNew := e.put(t, "a.b", "", "", t0.Add(2*time.Hour)); isNew || et.Archived {
		t.Fatalf("put after archive = %+v, created %v", et, isNew)
	}
	if got, _ := e.st.GetEventType(e.ctx, e.tenant, "a.b"); got.Archived {
		t.Fatal("still archived after a PUT")
	}
	for _, name := range []string{"a.unknown", "a"} {
		if err := e.st.ArchiveEventType(e.ctx, e.tenant, name, t0); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("archive %s: %v, want ErrNotFound", name, err)
		}
	}
	if _, err := e.st.GetEventType(e.ctx, e.tenant, "a.unknown"); !errors.Is(err, gancho.ErrNotFound) {
		t.Errorf("get unknown: %v", err)
	}
}

func TestListEventTypes(t *testing.T) {
	e := newETEnv(t)
	now := time.Now().UTC()
	// Stored out of order; "a-z" sorts before "a.b" ('-' < '.').
	names := []string{"order.paid", "a.b", "crm.lead.created", "a-z", "crm.lead", "zeta", "B.upper"}
	for i, n := range names {
		schema := ""
		if i%2 == 0 {
			schema = fmt.Sprintf(`{"title":%q}`, n)
		}
		e.put(t, n, "", schema, now)
	}
	want := slices.Clone(names)
	slices.Sort(want)

	for _, limit := range []int{1, 2, 3, 7, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > len(names) {
					t.Fatal("paging does not end")
				}
				page, more, err := e.st.ListEventTypes(e.ctx, e.tenant, after, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || more && len(page) != limit {
					t.Fatalf("page of %d with more=%v at limit %d", len(page), more, limit)
				}
				for _, et := range page {
					i := slices.Index(names, et.Name)
					if wantSchema := i%2 == 0; et.HasSchema != wantSchema || (len(et.Schema) > 0) != wantSchema {
						t.Errorf("%s: schema %q", et.Name, et.Schema)
					}
					if et.HasSchema && string(et.Schema) != fmt.Sprintf(`{"title":%q}`, et.Name) {
						t.Errorf("%s carries the schema %s", et.Name, et.Schema)
					}
				}
				got = append(got, etNames(page)...)
				if !more {
					break
				}
				after = page[len(page)-1].Name
			}
			if !slices.Equal(got, want) {
				t.Fatalf("listed %v, want %v", got, want)
			}
		})
	}

	cat, err := e.st.EventTypeCatalog(e.ctx, e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(etNames(cat), want) {
		t.Fatalf("catalog %v, want %v", etNames(cat), want)
	}
	for _, et := range cat {
		if len(et.Schema) != 0 || et.Rev != 1 || et.TenantID != e.tenant {
			t.Errorf("catalog entry %+v: want no schema loaded, rev 1", et)
		}
	}
}

func TestEventTypesAreIsolatedByTenant(t *testing.T) {
	a, b := newETEnv(t), newETEnv(t)
	now := time.Now().UTC()
	a.put(t, "a.b", "A's", `{"title":"A"}`, now)

	if _, err := b.st.GetEventType(b.ctx, b.tenant, "a.b"); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("B reads A's type: %v", err)
	}
	if err := b.st.ArchiveEventType(b.ctx, b.tenant, "a.b", now); !errors.Is(err, gancho.ErrNotFound) {
		t.Fatalf("B archives A's type: %v", err)
	}
	if ets, _, err := b.st.ListEventTypes(b.ctx, b.tenant, "", 100); err != nil || len(ets) != 0 {
		t.Fatalf("B lists %v, %v", etNames(ets), err)
	}
	if ets, err := b.st.EventTypeCatalog(b.ctx, b.tenant); err != nil || len(ets) != 0 {
		t.Fatalf("B's catalog %v, %v", etNames(ets), err)
	}
	// B creating the same name makes its own type.
	if _, isNew := b.put(t, "a.b", "B's", "", now); !isNew {
		t.Fatal("B's PUT updated A's type")
	}
	got, err := a.st.GetEventType(a.ctx, a.tenant, "a.b")
	if err != nil || got.Description != "A's" || string(got.Schema) != `{"title":"A"}` || got.Archived {
		t.Fatalf("A's type after B's writes = %+v, %v", got, err)
	}
}

func TestPutEventTypeConcurrently(t *testing.T) {
	e := newETEnv(t)
	now := time.Now().UTC()
	const writers = 8
	type result struct {
		created bool
		err     error
	}
	results := make(chan result, writers)
	for i := 0; i < writers; i++ {
		go func() {
			et, _, err := gancho.NewEventType("a.b", gancho.EventTypeInput{Schema: json.RawMessage(fmt.Sprintf(`{"title":"w%d"}`, i))})
			if err != nil {
				results <- result{err: err}
				return
			}
			et.TenantID, et.UpdatedAt = e.tenant, now
			_, isNew, err := e.st.PutEventType(e.ctx, et)
			results <- result{isNew, err}
		}()
	}
	var ok, conflicts, creates int
	for i := 0; i < writers; i++ {
		switch r := <-results; {
		case r.err == nil:
			ok++
			if r.created {
				creates++
			}
		case errors.Is(r.err, gancho.ErrConflict):
			conflicts++
		default:
			t.Fatal(r.err)
		}
	}
	got, err := e.st.GetEventType(e.ctx, e.tenant, "a.b")
	if err != nil {
		t.Fatal(err)
	}
	if creates != 1 || int(got.Rev) != ok {
		t.Fatalf("%d writes succeeded (%d creates, %d conflicts), rev %d: want one create and rev = successful writes", ok, creates, conflicts, got.Rev)
	}
	if _, err := gancho.CompileSchema(got.Schema); err != nil || !got.HasSchema {
		t.Fatalf("stored schema %s: %v", got.Schema, err)
	}
}
