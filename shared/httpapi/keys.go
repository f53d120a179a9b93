package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// KeyAdminStore is what the API-key routes need from storage.
type KeyAdminStore interface {
	CreateAPIKey(ctx context.Context, k gancho.APIKey, hash string) error
	GetAPIKey(ctx context.Context, tenant, id string) (gancho.APIKey, error)
	ListAPIKeys(ctx context.Context, tenant, owner string, p gancho.Page) ([]gancho.APIKey, string, error)
	RevokeAPIKey(ctx context.Context, tenant, id string) error
}

// keyInput is the body of POST /v1/api-keys.
type keyInput struct {
	Name    *string   `json:"name"`
	Scopes  *[]string `json:"scopes"`
	OwnerID *string   `json:"ownerId"`
}

// createdKey is a new key with its value, shown this once.
type createdKey struct {
	gancho.APIKey
	Key string `json:"key"`
}

// newKey validates in and checks it against the caller: a key never holds a scope
// its creator lacks, and an owner-bound creator only makes keys of its own owner
// (the default when ownerId is omitted). Malformed input is 422; asking for more
// than the caller has is 403.
func newKey(in keyInput, caller gancho.Principal) (gancho.APIKey, error) {
	var errs []gancho.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, gancho.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	var k gancho.APIKey
	if in.Name == nil {
		bad("name", "is required")
	} else {
		k.Name = strings.TrimSpace(*in.Name)
		if n := utf8.RuneCountInString(k.Name); n < 1 || n > gancho.MaxNameLength {
			bad("name", "must be 1-%d characters", gancho.MaxNameLength)
		}
	}
	switch {
	case in.Scopes == nil:
		bad("scopes", "is required: a non-empty list of scopes")
	case len(*in.Scopes) == 0:
		bad("scopes", "must list at least one scope")
	}
	if in.Scopes != nil {
		seen := map[string]bool{}
		for i, s := range *in.Scopes {
			if !gancho.IsTenantScope(s) {
				bad(fmt.Sprintf("scopes[%d]", i), "must be one of %s", strings.Join(gancho.AllTenantScopes, ", "))
				continue
			}
			if !seen[s] {
				seen[s] = true
				k.Scopes = append(k.Scopes, s)
			}
		}
	}
	if in.OwnerID != nil {
		if msg := checkOwnerID(*in.OwnerID); msg != "" {
			bad("ownerId", "%s", msg)
		}
		k.OwnerID = *in.OwnerID
	}
	if len(errs) > 0 {
		return gancho.APIKey{}, gancho.Invalid(errs...)
	}

	var beyond []string
	for _, s := range k.Scopes {
		if !caller.Has(s) {
			beyond = append(beyond, s)
		}
	}
	if len(beyond) > 0 {
		return gancho.APIKey{}, &gancho.Error{Kind: gancho.KindForbidden,
			Detail: "a key cannot grant scopes its creator lacks: " + strings.Join(beyond, ", "),
			Fields: []gancho.FieldError{{Field: "scopes", Message: "must be within the caller's own scopes; not held: " + strings.Join(beyond, ", ")}}}
	}
	if caller.OwnerID != "" {
		if in.OwnerID != nil && *in.OwnerID != caller.OwnerID {
			return gancho.APIKey{}, &gancho.Error{Kind: gancho.KindForbidden,
				Detail: "an owner-bound credential can only create keys for its own owner",
				Fields: []gancho.FieldError{{Field: "ownerId", Message: "must be the caller's own owner"}}}
		}
		k.OwnerID = caller.OwnerID
	}
	return k, nil
}

// checkOwnerID is the rule for owner ids: 1-200 characters, no control characters or '#'.
func checkOwnerID(v string) string {
	if v == "" || len(v) > 200 {
		return "must be 1-200 characters"
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '#' }) {
		return "must not contain control characters or '#'"
	}
	return ""
}

func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var in keyInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	k, err := newKey(in, p)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	k, raw, err := a.storeNewKey(r.Context(), p, k, a.now().UTC())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/api-keys/"+k.ID)
	writeJSON(w, http.StatusCreated, createdKey{APIKey: k, Key: raw})
}

// storeNewKey mints k's secret, made by p at now, and stores the key (only the
// secret's hash); it returns the key and the secret, shown once.
func (a *API) storeNewKey(ctx context.Context, p gancho.Principal, k gancho.APIKey, now time.Time) (gancho.APIKey, string, error) {
	raw := auth.NewAPIKey()
	k.ID = gancho.NewID(gancho.PrefixKey, now)
	k.TenantID = p.TenantID
	k.MaskedKey = gancho.Mask(raw)
	k.CreatedBy = p.KeyID
	k.CreatedAt = now
	if err := a.store.CreateAPIKey(ctx, k, auth.HashKey(raw)); err != nil {
		return k, "", err
	}
	return k, raw, nil
}

// loadKey reads the {id} key, hiding other tenants' and other owners' keys behind
// the same 404.
func (a *API) loadKey(r *http.Request) (gancho.APIKey, error) {
	p := principal(r)
	id := r.PathValue("id")
	k, err := a.store.GetAPIKey(r.Context(), p.TenantID, id)
	if errors.Is(err, gancho.ErrNotFound) || err == nil && (k.TenantID != p.TenantID || p.OwnerID != "" && k.OwnerID != p.OwnerID) {
		return k, gancho.NotFound("api key " + id)
	}
	return k, err
}

func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	limit, cursor, err := page(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	owner := r.URL.Query().Get("ownerId")
	if p.OwnerID != "" {
		owner = p.OwnerID
	}
	keys, next, err := a.store.ListAPIKeys(r.Context(), p.TenantID, owner, gancho.Page{Limit: limit, Cursor: cursor})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(keys, next))
}

func (a *API) getAPIKey(w http.ResponseWriter, r *http.Request) {
	k, err := a.loadKey(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func (a *API) deleteAPIKey(w http.ResponseWriter, r *http.Request) {
	k, err := a.loadKey(r)
	if err == nil {
		err = a.store.RevokeAPIKey(r.Context(), k.TenantID, k.ID)
		if errors.Is(err, gancho.ErrNotFound) {
			err = gancho.NotFound("api key " + k.ID)
		}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.auth.Revoked(k.TenantID, k.ID)
	w.WriteHeader(http.StatusNoContent)
}
