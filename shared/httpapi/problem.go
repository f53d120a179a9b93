package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []gancho.FieldError `json:"errors,omitempty" doc:"the invalid fields, when the problem is about fields"`
}

// statusOf is the one place that maps error kinds to HTTP statuses.
func statusOf(k gancho.Kind) int {
	switch k {
	case gancho.KindBadRequest:
		return http.StatusBadRequest
	case gancho.KindUnauthorized:
		return http.StatusUnauthorized
	case gancho.KindForbidden:
		return http.StatusForbidden
	case gancho.KindNotFound:
		return http.StatusNotFound
	case gancho.KindConflict:
		return http.StatusConflict
	case gancho.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case gancho.KindUnsupported:
		return http.StatusUnsupportedMediaType
	case gancho.KindInvalid:
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

var slugs = map[int]string{
	400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
	409: "conflict", 413: "payload-too-large", 415: "unsupported-media-type", 422: "validation-failed",
	429: "too-many-requests", 500: "internal", 503: "service-unavailable",
}

// writeError writes err as problem+json. Internal errors are logged and shown only as
// a generic message: no AWS error text or stack ever reaches the client.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ge *gancho.Error
	if !errors.As(err, &ge) {
		ge = &gancho.Error{Kind: gancho.KindInternal, Err: err}
	}
	status := statusOf(ge.Kind)
	detail := ge.Detail
	if status == http.StatusInternalServerError {
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		detail = "an internal error occurred; it has been logged"
	}
	writeProblem(w, status, detail, ge.Fields)
}

func writeProblem(w http.ResponseWriter, status int, detail string, fields []gancho.FieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{
		Type:   "https://gancho.dev/problems/" + slugs[status],
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Errors: fields,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
