package httpapi

import (
	"net/http"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": gancho.Version})
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
	if err := a.checkPublishType(r.Context(), ev); err != nil {
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
