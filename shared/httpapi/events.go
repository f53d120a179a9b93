package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
)

type publishResponse struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	CreatedAt  time.Time `json:"createdAt"`
	Deliveries int       `json:"deliveries"`
	// FanOut is "queued" when a large fan-out continues in the background; then
	// Deliveries counts only what was queued before the response.
	FanOut string `json:"fanOut,omitempty"`
}

// publishEvent publishes one event. Its idempotency key, sent in the Idempotency-Key
// header or as idempotencyKey (both must agree), goes through the publish claim only
// (see ownIdempotency): a retry after a crash or a timeout gets the same event id
// wherever the key was sent, and another credential's same key publishes its own event.
func (a *API) publishEvent(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	header := ""
	if values, ok := r.Header[HeaderIdempotencyKey]; ok {
		k, err := checkIdempotencyKey(values)
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
		header = k
	}
	var in gancho.EventInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	item, err := a.prepareEvent(r.Context(), publisherOf(p), in, header, "")
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	res, err := a.publisher.Publish(r.Context(), item.Event, item.Key, item.Hash)
	if err != nil {
		if errors.Is(err, publish.ErrStillRunning) {
			w.Header().Set("Retry-After", "1")
		}
		var ge *gancho.Error
		if header != "" && errors.As(err, &ge) {
			// Name the key where the caller sent it.
			for i := range ge.Fields {
				if ge.Fields[i].Field == publish.FieldIdempotencyKey {
					ge.Fields[i].Field = HeaderIdempotencyKey
				}
			}
		}
		writeError(w, r, a.log, err)
		return
	}
	out := publishResponse{ID: res.Event.ID, Type: res.Event.Type, CreatedAt: res.Event.CreatedAt, Deliveries: res.Deliveries}
	if res.Background {
		out.FanOut = "queued"
	}
	if res.Replayed {
		w.Header().Set(HeaderIdempotentReplayed, "true")
	}
	w.Header().Set("Location", "/v1/events/"+res.Event.ID)
	writeJSON(w, http.StatusAccepted, out)
}

// eventPublisher is who publishes: the tenant, the credential that scopes its
// idempotency keys, and the owner it is bound to (every event it publishes is that
// owner's).
type eventPublisher struct {
	tenant, credential, owner string
}

func publisherOf(p gancho.Principal) eventPublisher {
	return eventPublisher{tenant: p.TenantID, credential: p.KeyID, owner: p.OwnerID}
}

// prepareEvent validates one event to publish, as POST /v1/events, the batch route
// and the ingest queue all do: the owner rules of a bound credential, the
// Idempotency-Key header (header, when set, and the body's key must agree), the
// event's fields, its type and payload against the catalog. The key's space is the
// tenant, the credential and the owner; the hash leaves the key out, so header and
// body keys replay each other. An event without a key gets implicitKey (already
// scoped), when set.
func (a *API) prepareEvent(ctx context.Context, by eventPublisher, in gancho.EventInput, header, implicitKey string) (publish.BatchItem, error) {
	if by.owner != "" {
		if in.OwnerID != nil && *in.OwnerID != by.owner {
			return publish.BatchItem{}, gancho.Invalid(gancho.FieldError{Field: "ownerId", Message: "must be this API key's owner"})
		}
		owner := by.owner
		in.OwnerID = &owner
	}
	if header != "" {
		if in.IdempotencyKey != "" && header != in.IdempotencyKey {
			return publish.BatchItem{}, gancho.Invalid(gancho.FieldError{Field: "idempotencyKey", Message: "differs from the Idempotency-Key header"})
		}
		in.IdempotencyKey = header
	}
	ev, err := gancho.NewEvent(by.tenant, in, a.now(), a.policy)
	if err != nil {
		return publish.BatchItem{}, err
	}
	if ev, err = a.catalog.CheckPublish(ctx, ev); err != nil {
		return publish.BatchItem{}, err
	}
	item := publish.BatchItem{Event: ev}
	switch {
	case in.IdempotencyKey != "":
		item.Key = publish.ScopedKey(by.credential, by.owner, in.IdempotencyKey)
	case implicitKey != "":
		item.Key = implicitKey
	default:
		return item, nil
	}
	in.IdempotencyKey = ""
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	item.Hash = hex.EncodeToString(sum[:])
	return item, nil
}

// loadEvent reads the {id} event, hiding other tenants' and owners' events.
func (a *API) loadEvent(r *http.Request) (gancho.Event, error) {
	return loadOwned(r, "event", a.store.GetEvent, func(e gancho.Event) string { return e.OwnerID })
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := a.loadEvent(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	limit, cursor, err := page(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	q := r.URL.Query()
	f := gancho.EventFilter{Type: q.Get("type"), OwnerID: q.Get("ownerId"), ReferenceID: q.Get("referenceId")}
	if p.OwnerID != "" {
		f.OwnerID = p.OwnerID
	}
	if f.Since, err = timeParam(q.Get("since"), "since"); err == nil {
		f.Until, err = timeParam(q.Get("until"), "until")
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	evs, next, err := a.store.ListEvents(r.Context(), p.TenantID, f, gancho.Page{Limit: limit, Cursor: cursor})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, newList(evs, next))
}
