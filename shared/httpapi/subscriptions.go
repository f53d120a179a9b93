package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

// SubscriptionStore is what the subscription routes need from storage.
type SubscriptionStore interface {
	CreateSubscription(ctx context.Context, sub gancho.Subscription) error
	GetSubscription(ctx context.Context, tenant, id string) (gancho.Subscription, error)
	ListSubscriptions(ctx context.Context, tenant string, f dynamo.SubscriptionFilter, p dynamo.Page) ([]gancho.Subscription, string, error)
	DeleteSubscription(ctx context.Context, sub gancho.Subscription) error
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var in gancho.SubscriptionInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if p.OwnerID != "" {
		if in.OwnerID != nil && *in.OwnerID != p.OwnerID {
			writeError(w, r, a.log, gancho.Invalid(gancho.FieldError{Field: "ownerId", Message: "must be this API key's owner"}))
			return
		}
		in.OwnerID = &p.OwnerID
	}
	sub, err := gancho.NewSubscription(in, a.policy)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	now := a.now().UTC()
	sub.ID = gancho.NewID(gancho.PrefixSubscription, now)
	sub.TenantID = p.TenantID
	sub.Secret = signature.NewSecret()
	sub.CreatedAt, sub.UpdatedAt = now, now
	if err := a.store.CreateSubscription(r.Context(), sub); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/subscriptions/"+sub.ID)
	writeJSON(w, http.StatusCreated, sub)
}

// loadSubscription reads the {id} subscription, hiding other tenants' and other
// owners' subscriptions behind the same 404.
func (a *API) loadSubscription(r *http.Request) (gancho.Subscription, error) {
	p := principal(r)
	id := r.PathValue("id")
	sub, err := a.store.GetSubscription(r.Context(), p.TenantID, id)
	if errors.Is(err, gancho.ErrNotFound) || err == nil && p.OwnerID != "" && sub.OwnerID != p.OwnerID {
		return sub, gancho.NotFound("subscription " + id)
	}
	return sub, err
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	sub.Secret = ""
	writeJSON(w, http.StatusOK, sub)
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	limit, cursor, err := page(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	q := r.URL.Query()
	f := dynamo.SubscriptionFilter{OwnerID: q.Get("ownerId"), Event: q.Get("event")}
	if p.OwnerID != "" {
		f.OwnerID = p.OwnerID
	}
	if v := q.Get("isActive"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, r, a.log, &gancho.Error{Kind: gancho.KindBadRequest, Detail: "isActive must be true or false",
				Fields: []gancho.FieldError{{Field: "isActive", Message: "must be true or false"}}})
			return
		}
		f.IsActive = &b
	}
	subs, next, err := a.store.ListSubscriptions(r.Context(), p.TenantID, f, dynamo.Page{Limit: limit, Cursor: cursor})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	for i := range subs {
		subs[i].Secret = ""
	}
	writeJSON(w, http.StatusOK, newList(subs, next))
}

func (a *API) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err == nil {
		err = a.store.DeleteSubscription(r.Context(), sub)
		if errors.Is(err, gancho.ErrNotFound) {
			err = gancho.NotFound("subscription " + sub.ID)
		}
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) replaceSubscription(w http.ResponseWriter, r *http.Request)      { notYet(w) }
func (a *API) updateSubscription(w http.ResponseWriter, r *http.Request)       { notYet(w) }
func (a *API) getSubscriptionSecret(w http.ResponseWriter, r *http.Request)    { notYet(w) }
func (a *API) rotateSubscriptionSecret(w http.ResponseWriter, r *http.Request) { notYet(w) }
