package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// The event-type routes: the catalog itself, its caches and the checks against it
// are package catalog's; these handlers add what is the API's (cursors, owner-bound
// keys, status codes).

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
	ets, more, err := a.catalog.List(r.Context(), p.TenantID, after, limit)
	if err != nil {
		writeError(w, r, a.log, err)
		return
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
	stored, created, err := a.catalog.Put(r.Context(), p.TenantID, name, in)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if !created {
		writeJSON(w, http.StatusOK, stored)
		return
	}
	w.Header().Set("Location", "/v1/event-types/"+url.PathEscape(name))
	writeJSON(w, http.StatusCreated, stored)
}

func (a *API) deleteEventType(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p.OwnerID != "" {
		writeError(w, r, a.log, errOwnerCatalog)
		return
	}
	if err := a.catalog.Archive(r.Context(), p.TenantID, r.PathValue("name")); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
