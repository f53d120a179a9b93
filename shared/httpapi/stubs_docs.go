package httpapi

import "net/http"

// IdempotencyStore is what Idempotency-Key handling needs from storage.
type IdempotencyStore interface{}

func (a *API) help(w http.ResponseWriter, r *http.Request)    { notYet(w) }
func (a *API) openAPI(w http.ResponseWriter, r *http.Request) { notYet(w) }

// idempotent runs a POST route under its Idempotency-Key, if the request has one.
func (a *API) idempotent(rt Route, w http.ResponseWriter, r *http.Request) {
	rt.handler(a, w, r)
}
