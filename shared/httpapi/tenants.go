package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// TenantStore is what the tenant, API-key and JWT code needs from storage.
type TenantStore interface {
	CreateTenant(ctx context.Context, t gancho.Tenant, first gancho.APIKey, keyHash string) error
	GetTenant(ctx context.Context, id string) (gancho.Tenant, error)
	UpdateTenant(ctx context.Context, before, after gancho.Tenant) error
	auth.IssuerStore
	KeyAdminStore
}

// tenantUpdateAttempts bounds the read-modify-write retries of a tenant change that
// lost a race with another change.
const tenantUpdateAttempts = 3

// createdTenant is the answer to POST /v1/tenants: the tenant and its first key.
type createdTenant struct {
	Tenant gancho.Tenant `json:"tenant"`
	APIKey createdKey    `json:"apiKey"`
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) {
	var in gancho.TenantInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	now := a.now().UTC()
	t, err := gancho.NewTenant(in, now)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	raw := auth.NewAPIKey()
	k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: t.ID, Name: "default",
		Scopes: append([]string(nil), gancho.AllTenantScopes...), MaskedKey: gancho.Mask(raw),
		CreatedBy: principal(r).KeyID, CreatedAt: now}
	if err := a.store.CreateTenant(r.Context(), t, k, auth.HashKey(raw)); err != nil {
		if errors.Is(err, gancho.ErrConflict) {
			err = &gancho.Error{Kind: gancho.KindConflict, Detail: "a tenant with this id already exists", Err: err,
				Fields: []gancho.FieldError{{Field: "id", Message: "is already taken"}}}
		}
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/tenant")
	writeJSON(w, http.StatusCreated, createdTenant{Tenant: t.Masked(now), APIKey: createdKey{APIKey: k, Key: raw}})
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request) {
	t, err := a.loadTenant(r.Context(), principal(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, t.Masked(a.now()))
}

// loadTenant reads the principal's tenant; a tenant deleted under a live credential
// is a credential problem, not a missing object.
func (a *API) loadTenant(ctx context.Context, p gancho.Principal) (gancho.Tenant, error) {
	t, err := a.store.GetTenant(ctx, p.TenantID)
	if errors.Is(err, gancho.ErrNotFound) {
		return t, gancho.Errorf(gancho.KindUnauthorized, "the credential's tenant no longer exists")
	}
	return t, err
}

// changeTenant reads the tenant, applies change and writes the result if nobody
// changed the tenant in between, retrying a few times when somebody did.
func (a *API) changeTenant(ctx context.Context, p gancho.Principal, change func(gancho.Tenant, time.Time) (gancho.Tenant, error)) (gancho.Tenant, error) {
	for attempt := 1; ; attempt++ {
		before, err := a.loadTenant(ctx, p)
		if err != nil {
			return before, err
		}
		now := a.now().UTC()
		if !now.After(before.UpdatedAt) {
			now = before.UpdatedAt.Add(time.Microsecond)
		}
		after, err := change(before, now)
		if err != nil {
			return before, err
		}
		after.UpdatedAt = now
		err = a.store.UpdateTenant(ctx, before, after)
		switch {
		case err == nil:
			a.auth.TenantChanged(issuers(before, after)...)
			a.catalog.Forget(after.ID) // allowedEventTypesOnly may have changed
			return after, nil
		case errors.Is(err, gancho.ErrIssuerTaken):
			return before, &gancho.Error{Kind: gancho.KindConflict, Detail: "jwt.issuer is already used by another tenant", Err: err,
				Fields: []gancho.FieldError{{Field: "jwt.issuer", Message: "is already used by another tenant"}}}
		case errors.Is(err, gancho.ErrConflict) && attempt < tenantUpdateAttempts:
			continue
		case errors.Is(err, gancho.ErrConflict):
			return before, &gancho.Error{Kind: gancho.KindConflict, Detail: "the tenant was changed concurrently; retry the request", Err: err}
		}
		return before, err
	}
}

func issuers(ts ...gancho.Tenant) []string {
	var out []string
	for _, t := range ts {
		if t.JWT != nil && t.JWT.Issuer != "" {
			out = append(out, t.JWT.Issuer)
		}
	}
	return out
}

func (a *API) updateTenant(w http.ResponseWriter, r *http.Request) {
	var patch map[string]json.RawMessage
	if err := decode(r, &patch); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if patch == nil {
		writeError(w, r, a.log, gancho.Errorf(gancho.KindBadRequest, "request body must be a JSON object"))
		return
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		writeError(w, r, a.log, fmt.Errorf("re-encode patch: %w", err))
		return
	}
	t, err := a.changeTenant(r.Context(), principal(r), func(t gancho.Tenant, _ time.Time) (gancho.Tenant, error) {
		return t.Patch(raw, a.policy)
	})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, t.Masked(a.now()))
}

type tenantSecretResponse struct {
	Secret             string     `json:"secret"`
	PreviousValidUntil *time.Time `json:"previousValidUntil,omitempty"`
}

// getTenantSecret only reads: its function has read-only table access. Every tenant
// gets a default secret when it is created; a tenant item stored without one (written
// before that rule) answers 409 and gets its secret from the rotate route, which may
// write.
func (a *API) getTenantSecret(w http.ResponseWriter, r *http.Request) {
	t, err := a.loadTenant(r.Context(), principal(r))
	if err == nil && t.Secret == "" {
		err = &gancho.Error{Kind: gancho.KindConflict,
			Detail: "the tenant has no default secret yet; POST /v1/tenant/secret/rotate creates one",
			Fields: []gancho.FieldError{{Field: "secret", Message: "is not set; POST /v1/tenant/secret/rotate creates it"}}}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, tenantSecretResponse{Secret: t.Secret, PreviousValidUntil: t.PreviousValidUntil(a.now())})
}

func (a *API) rotateTenantSecret(w http.ResponseWriter, r *http.Request) {
	if err := drainBody(r); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	t, err := a.changeTenant(r.Context(), principal(r), func(t gancho.Tenant, now time.Time) (gancho.Tenant, error) {
		return t.Rotate(gancho.NewSecret(), now), nil
	})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, tenantSecretResponse{Secret: t.Secret, PreviousValidUntil: t.PreviousValidUntil(a.now())})
}

// drainBody accepts an empty body or an empty JSON object, for POST routes that
// take no input.
func drainBody(r *http.Request) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<10))
	if err != nil {
		return gancho.Errorf(gancho.KindBadRequest, "could not read the request body")
	}
	switch string(bytes.TrimSpace(b)) {
	case "", "{}", "null":
		return nil
	}
	return gancho.Errorf(gancho.KindBadRequest, "this route takes no request body")
}
