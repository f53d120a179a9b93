package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": gancho.Version})
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

type listResponse[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func newList[T any](data []T, next string) listResponse[T] {
	if data == nil {
		data = []T{}
	}
	l := listResponse[T]{Data: data}
	if next != "" {
		l.NextCursor = &next
	}
	return l
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

type publishResponse struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"createdAt"`
	Deliveries int       `json:"deliveries"`
}

func (a *API) publishEvent(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var in gancho.EventInput
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
	ev, err := gancho.NewEvent(p.TenantID, in, a.now())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	n, err := a.publisher.Publish(r.Context(), ev)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/events/"+ev.ID)
	writeJSON(w, http.StatusAccepted, publishResponse{ID: ev.ID, Type: ev.Type, CreatedAt: ev.CreatedAt, Deliveries: n})
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	id := r.PathValue("id")
	d, err := a.store.GetDelivery(r.Context(), p.TenantID, id)
	if errors.Is(err, gancho.ErrNotFound) || err == nil && p.OwnerID != "" && d.OwnerID != p.OwnerID {
		err = gancho.NotFound("delivery " + id)
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
