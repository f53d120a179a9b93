package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// SubscriptionStore is what the subscription routes need from storage.
type SubscriptionStore interface {
	CreateSubscription(ctx context.Context, sub gancho.Subscription) error
	GetSubscription(ctx context.Context, tenant, id string) (gancho.Subscription, error)
	ListSubscriptions(ctx context.Context, tenant string, f gancho.SubscriptionFilter, p gancho.Page) ([]gancho.Subscription, string, error)
	UpdateSubscription(ctx context.Context, old, sub gancho.Subscription) error
	DeleteSubscription(ctx context.Context, sub gancho.Subscription) error
}

// buildSubscription validates a subscription input for principal p: the owner of an
// owner-bound key is forced, and event patterns must name the tenant's catalog. On an
// update, patterns the stored subscription already has are not checked again, so an
// archived type keeps working for subscriptions that had it.
func (a *API) buildSubscription(ctx context.Context, p gancho.Principal, in gancho.SubscriptionInput, stored *gancho.Subscription) (gancho.Subscription, error) {
	if p.OwnerID != "" {
		if in.OwnerID != nil && *in.OwnerID != p.OwnerID {
			return gancho.Subscription{}, gancho.Invalid(gancho.FieldError{Field: "ownerId", Message: "must be this API key's owner"})
		}
		in.OwnerID = &p.OwnerID
	}
	sub, err := gancho.NewSubscription(in, a.policy)
	if err != nil {
		return sub, err
	}
	if in.Events == nil {
		return sub, nil
	}
	// The client's own list, so errors name events[i] as sent; known ones become "*",
	// which always passes, keeping the indexes.
	patterns := append([]string(nil), *in.Events...)
	if stored != nil {
		for i, pat := range patterns {
			if slices.Contains(stored.Events, pat) {
				patterns[i] = "*"
			}
		}
	}
	if err := a.catalog.CheckPatterns(ctx, p.TenantID, patterns); err != nil {
		return sub, err
	}
	return sub, nil
}

func (a *API) createSubscription(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var in gancho.SubscriptionInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	sub, err := a.buildSubscription(r.Context(), p, in, nil)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	now := a.now().UTC()
	sub.ID = gancho.NewID(gancho.PrefixSubscription, now)
	sub.TenantID = p.TenantID
	sub = sub.WithNewSecret(now)
	sub.CreatedAt, sub.UpdatedAt = now, now
	if err := a.store.CreateSubscription(r.Context(), sub); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := sub.Redacted()
	if sub.SignatureScheme() == gancho.SchemeHMAC {
		out.Secret = sub.Secret // shown once, here; an ed25519 key pair shows its public key
	}
	w.Header().Set("Location", "/v1/subscriptions/"+sub.ID)
	writeJSON(w, http.StatusCreated, out)
}

// loadSubscription reads the {id} subscription, hiding other tenants' and other
// owners' subscriptions behind the same 404.
func (a *API) loadSubscription(r *http.Request) (gancho.Subscription, error) {
	return loadOwned(r, "subscription", a.store.GetSubscription, func(s gancho.Subscription) string { return s.OwnerID })
}

// loadOwned reads the {id} object of the caller's tenant with get; a missing one, or
// one of another owner when the caller is owner-bound, is the same 404.
func loadOwned[T any](r *http.Request, what string, get func(ctx context.Context, tenant, id string) (T, error), owner func(T) string) (T, error) {
	p := principal(r)
	id := r.PathValue("id")
	v, err := get(r.Context(), p.TenantID, id)
	if errors.Is(err, gancho.ErrNotFound) || err == nil && p.OwnerID != "" && owner(v) != p.OwnerID {
		return v, gancho.NotFound(what + " " + id)
	}
	return v, err
}

func (a *API) getSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sub.Redacted())
}

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	limit, cursor, err := page(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	q := r.URL.Query()
	f := gancho.SubscriptionFilter{OwnerID: q.Get("ownerId"), Event: q.Get("event")}
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
	subs, next, err := a.store.ListSubscriptions(r.Context(), p.TenantID, f, gancho.Page{Limit: limit, Cursor: cursor})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	for i := range subs {
		subs[i] = subs[i].Redacted()
	}
	writeJSON(w, http.StatusOK, newList(subs, next))
}

func (a *API) replaceSubscription(w http.ResponseWriter, r *http.Request) {
	old, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	var in gancho.SubscriptionInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.saveSubscription(w, r, old, in)
}

func (a *API) updateSubscription(w http.ResponseWriter, r *http.Request) {
	old, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	var patch json.RawMessage
	if err := decode(r, &patch); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	in, err := old.Patch(patch)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.saveSubscription(w, r, old, in)
}

// saveSubscription validates in as the new state of old and stores it, keeping what
// a client cannot set: id, secrets, creation time and the status block.
func (a *API) saveSubscription(w http.ResponseWriter, r *http.Request, old gancho.Subscription, in gancho.SubscriptionInput) {
	missing := in.KeepWriteOnly(old)
	if in.Signature != nil && in.Signature.Scheme != nil && *in.Signature.Scheme != old.SignatureScheme() {
		missing = append(missing, gancho.FieldError{Field: "signature.scheme",
			Message: "cannot be changed (it is " + old.SignatureScheme() + "); create a new subscription for another scheme"})
	}
	sub, err := a.buildSubscription(r.Context(), principal(r), in, &old)
	if len(missing) > 0 {
		err = withFields(err, missing)
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	sub.ID, sub.TenantID, sub.CreatedAt = old.ID, old.TenantID, old.CreatedAt
	sub.Secret, sub.PreviousSecret, sub.PreviousSecretValidUntil = old.Secret, old.PreviousSecret, old.PreviousSecretValidUntil
	sub.Signature = gancho.Signature{Scheme: old.SignatureScheme()}
	sub.Status = old.Status
	if sub.IsActive && !old.IsActive {
		// Re-enabling starts afresh; queued deliveries are not replayed (use recover).
		sub.ConsecutiveFailures, sub.FailingSince, sub.DisabledReason = 0, nil, ""
	}
	sub.UpdatedAt = a.now().UTC()
	if err := a.store.UpdateSubscription(r.Context(), old, sub); err != nil {
		if errors.Is(err, gancho.ErrConflict) {
			err = gancho.Errorf(gancho.KindConflict, "the subscription changed while this request ran; read it again and retry")
		}
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sub.Redacted())
}

// withFields is the validation error err (if any) with fields added in front; the
// fields of err that they name already are dropped, so each field is named once.
func withFields(err error, fields []gancho.FieldError) error {
	var ge *gancho.Error
	if err != nil && (!errors.As(err, &ge) || ge.Kind != gancho.KindInvalid) {
		return err
	}
	all := slices.Clone(fields)
	if ge != nil {
		for _, f := range ge.Fields {
			if !slices.ContainsFunc(fields, func(m gancho.FieldError) bool { return m.Field == f.Field }) {
				all = append(all, f)
			}
		}
	}
	return gancho.Invalid(all...)
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

// secretResponse shows what signs a subscription's deliveries: its secret (HMAC), or
// its public key and, while it still signs, the previous one (ed25519).
type secretResponse struct {
	Secret             string     `json:"secret,omitempty"`
	PublicKey          string     `json:"publicKey,omitempty"`
	PreviousPublicKey  string     `json:"previousPublicKey,omitempty"`
	PreviousValidUntil *time.Time `json:"previousValidUntil,omitempty"`
}

// newSecretResponse describes sub's signing keys at now.
func newSecretResponse(sub gancho.Subscription, now time.Time) secretResponse {
	out := secretResponse{PreviousValidUntil: sub.PreviousValidUntil(now)}
	if sub.SignatureScheme() == gancho.SchemeEd25519 {
		out.PublicKey, out.PreviousPublicKey = gancho.PublicKeyOf(sub.Secret), sub.PreviousPublicKey(now)
	} else {
		out.Secret = sub.Secret
	}
	return out
}

func (a *API) getSubscriptionSecret(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, newSecretResponse(sub, a.now()))
}

func (a *API) rotateSubscriptionSecret(w http.ResponseWriter, r *http.Request) {
	old, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	now := a.now().UTC()
	sub := old.WithNewSecret(now)
	sub.UpdatedAt = now
	if err := a.store.UpdateSubscription(r.Context(), old, sub); err != nil {
		if errors.Is(err, gancho.ErrConflict) {
			err = gancho.Errorf(gancho.KindConflict, "the subscription changed while this request ran; retry")
		}
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, newSecretResponse(sub, now))
}
