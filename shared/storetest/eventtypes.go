package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func (e Env) putType(t *testing.T, name, description, schema string, at time.Time) (gancho.EventType, bool) {
	t.Helper()
	in := gancho.EventTypeInput{Description: &description}
	if schema != "" {
		in.Schema = json.RawMessage(schema)
	}
	et, _, err := gancho.NewEventType(name, in)
	if err != nil {
		t.Fatal(err)
	}
	et.TenantID, et.UpdatedAt = e.Tenant, at
	stored, created, err := e.St.PutEventType(e.Ctx, et)
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

var eventTypeCases = []Case{
	{"create then update: rev, createdAt kept, schema replaced or removed", func(t *testing.T, e Env) {
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		t1 := t0.Add(time.Minute)
		const schema = `{"type":"object","required":["id"]}`

		created, isNew := e.putType(t, "crm.lead.created", "a lead", schema, t0)
		if !isNew || created.Rev != 1 || !created.CreatedAt.Equal(t0) || !created.UpdatedAt.Equal(t0) || string(created.Schema) != schema {
			t.Fatalf("create = %+v, created %v", created, isNew)
		}
		got, err := e.St.GetEventType(e.Ctx, e.Tenant, "crm.lead.created")
		if err != nil {
			t.Fatal(err)
		}
		if got.Description != "a lead" || string(got.Schema) != schema || !got.HasSchema || got.Rev != 1 || got.TenantID != e.Tenant {
			t.Fatalf("get = %+v", got)
		}

		updated, isNew := e.putType(t, "crm.lead.created", "a new lead", "", t1)
		if isNew || updated.Rev != 2 || !updated.CreatedAt.Equal(t0) || !updated.UpdatedAt.Equal(t1) {
			t.Fatalf("update = %+v, created %v", updated, isNew)
		}
		got, err = e.St.GetEventType(e.Ctx, e.Tenant, "crm.lead.created")
		if err != nil {
			t.Fatal(err)
		}
		if got.Description != "a new lead" || len(got.Schema) != 0 || got.HasSchema || !got.CreatedAt.Equal(t0) {
			t.Fatalf("after a PUT without schema = %+v, want the schema removed", got)
		}
	}},
	{"a type's retry schedule is kept, listed in the catalog and removed by a PUT without it", func(t *testing.T, e Env) {
		at := time.Now().UTC().Truncate(time.Millisecond)
		schedule := []int{1, 60, 3600}
		et, _, err := gancho.NewEventType("billing.invoice.paid", gancho.EventTypeInput{RetrySchedule: &schedule})
		if err != nil {
			t.Fatal(err)
		}
		et.TenantID, et.UpdatedAt = e.Tenant, at
		if stored, _, err := e.St.PutEventType(e.Ctx, et); err != nil || !slices.Equal(stored.RetrySchedule, schedule) {
			t.Fatalf("put: %+v, %v", stored, err)
		}
		cat, err := e.St.EventTypeCatalog(e.Ctx, e.Tenant)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(cat, func(et gancho.EventType) bool { return et.Name == "billing.invoice.paid" })
		if i < 0 || !slices.Equal(cat[i].RetrySchedule, schedule) {
			t.Fatalf("catalog = %+v", cat)
		}
		e.putType(t, "billing.invoice.paid", "", "", at.Add(time.Second))
		if got, err := e.St.GetEventType(e.Ctx, e.Tenant, "billing.invoice.paid"); err != nil || got.RetrySchedule != nil {
			t.Fatalf("after a PUT without a schedule: %+v, %v", got, err)
		}
	}},
	{"archive: idempotent, a PUT un-archives, unknown is not found", func(t *testing.T, e Env) {
		t0 := time.Now().UTC().Truncate(time.Millisecond)
		e.putType(t, "a.b", "", `true`, t0)

		if err := e.St.ArchiveEventType(e.Ctx, e.Tenant, "a.b", t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := e.St.GetEventType(e.Ctx, e.Tenant, "a.b")
		if err != nil || !got.Archived || !got.UpdatedAt.Equal(t0.Add(time.Second)) || string(got.Schema) != "true" {
			t.Fatalf("archived = %+v, %v", got, err)
		}
		// Archiving again changes nothing.
		if err := e.St.ArchiveEventType(e.Ctx, e.Tenant, "a.b", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.St.GetEventType(e.Ctx, e.Tenant, "a.b"); !got.UpdatedAt.Equal(t0.Add(time.Second)) {
			t.Errorf("second archive moved updatedAt to %s", got.UpdatedAt)
		}
		// A PUT un-archives.
		if et, isNew := e.putType(t, "a.b", "", "", t0.Add(2*time.Hour)); isNew || et.Archived {
			t.Fatalf("put after archive = %+v, created %v", et, isNew)
		}
		if got, _ := e.St.GetEventType(e.Ctx, e.Tenant, "a.b"); got.Archived {
			t.Fatal("still archived after a PUT")
		}
		for _, name := range []string{"a.unknown", "a"} {
			if err := e.St.ArchiveEventType(e.Ctx, e.Tenant, name, t0); !errors.Is(err, gancho.ErrNotFound) {
				t.Errorf("archive %s: %v, want ErrNotFound", name, err)
			}
		}
		if _, err := e.St.GetEventType(e.Ctx, e.Tenant, "a.unknown"); !errors.Is(err, gancho.ErrNotFound) {
			t.Errorf("get unknown: %v", err)
		}
	}},
	{"list pages in name order with schemas; the catalog without", func(t *testing.T, e Env) {
		now := time.Now().UTC()
		// Stored out of order; "a-z" sorts before "a.b" ('-' < '.').
		names := []string{"order.paid", "a.b", "crm.lead.created", "a-z", "crm.lead", "zeta", "B.upper"}
		for i, n := range names {
			schema := ""
			if i%2 == 0 {
				schema = fmt.Sprintf(`{"title":%q}`, n)
			}
			e.putType(t, n, "", schema, now)
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
					page, more, err := e.St.ListEventTypes(e.Ctx, e.Tenant, after, limit)
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

		cat, err := e.St.EventTypeCatalog(e.Ctx, e.Tenant)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(etNames(cat), want) {
			t.Fatalf("catalog %v, want %v", etNames(cat), want)
		}
		for _, et := range cat {
			if len(et.Schema) != 0 || et.Rev != 1 || et.TenantID != e.Tenant {
				t.Errorf("catalog entry %+v: want no schema loaded, rev 1", et)
			}
		}
	}},
	{"isolated by tenant", func(t *testing.T, e Env) {
		a, b := e, e
		b.Tenant = TenantID()
		now := time.Now().UTC()
		a.putType(t, "a.b", "A's", `{"title":"A"}`, now)

		if _, err := b.St.GetEventType(b.Ctx, b.Tenant, "a.b"); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("B reads A's type: %v", err)
		}
		if err := b.St.ArchiveEventType(b.Ctx, b.Tenant, "a.b", now); !errors.Is(err, gancho.ErrNotFound) {
			t.Fatalf("B archives A's type: %v", err)
		}
		if ets, _, err := b.St.ListEventTypes(b.Ctx, b.Tenant, "", 100); err != nil || len(ets) != 0 {
			t.Fatalf("B lists %v, %v", etNames(ets), err)
		}
		if ets, err := b.St.EventTypeCatalog(b.Ctx, b.Tenant); err != nil || len(ets) != 0 {
			t.Fatalf("B's catalog %v, %v", etNames(ets), err)
		}
		// B creating the same name makes its own type.
		if _, isNew := b.putType(t, "a.b", "B's", "", now); !isNew {
			t.Fatal("B's PUT updated A's type")
		}
		got, err := a.St.GetEventType(a.Ctx, a.Tenant, "a.b")
		if err != nil || got.Description != "A's" || string(got.Schema) != `{"title":"A"}` || got.Archived {
			t.Fatalf("A's type after B's writes = %+v, %v", got, err)
		}
	}},
	{"concurrent PUTs: one create, rev counts the successful writes", func(t *testing.T, e Env) {
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
				et.TenantID, et.UpdatedAt = e.Tenant, now
				_, isNew, err := e.St.PutEventType(e.Ctx, et)
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
		got, err := e.St.GetEventType(e.Ctx, e.Tenant, "a.b")
		if err != nil {
			t.Fatal(err)
		}
		if creates != 1 || int(got.Rev) != ok {
			t.Fatalf("%d writes succeeded (%d creates, %d conflicts), rev %d: want one create and rev = successful writes", ok, creates, conflicts, got.Rev)
		}
		if _, err := gancho.CompileSchema(got.Schema); err != nil || !got.HasSchema {
			t.Fatalf("stored schema %s: %v", got.Schema, err)
		}
	}},
}
