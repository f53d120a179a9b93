package httpapi

import "net/http"

// TenantStore is what the tenant and API-key routes need from storage.
type TenantStore interface{}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request)       { notYet(w) }
func (a *API) getTenant(w http.ResponseWriter, r *http.Request)          { notYet(w) }
func (a *API) updateTenant(w http.ResponseWriter, r *http.Request)       { notYet(w) }
func (a *API) getTenantSecret(w http.ResponseWriter, r *http.Request)    { notYet(w) }
func (a *API) rotateTenantSecret(w http.ResponseWriter, r *http.Request) { notYet(w) }
func (a *API) createAPIKey(w http.ResponseWriter, r *http.Request)       { notYet(w) }
func (a *API) listAPIKeys(w http.ResponseWriter, r *http.Request)        { notYet(w) }
func (a *API) getAPIKey(w http.ResponseWriter, r *http.Request)          { notYet(w) }
func (a *API) deleteAPIKey(w http.ResponseWriter, r *http.Request)       { notYet(w) }
