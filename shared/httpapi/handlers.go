package httpapi

import (
	"net/http"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func (a *API) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: gancho.Version})
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
