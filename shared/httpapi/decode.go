package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// maxBody bounds request bodies: a 256 KiB payload plus its envelope.
const maxBody = gancho.MaxPayloadBytes + 16<<10

// decode reads a JSON object body into v, rejecting unknown fields, with errors that
// name the offending field.
func decode(r *http.Request, v any) error { return decodeLimit(r, v, maxBody) }

// decodeLimit is decode for a route whose bodies may be up to limit bytes.
func decodeLimit(r *http.Request, v any, limit int) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return gancho.Errorf(gancho.KindUnsupported, "Content-Type must be application/json")
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		return gancho.Errorf(gancho.KindBadRequest, "could not read the request body")
	}
	if len(body) > limit {
		return gancho.Errorf(gancho.KindTooLarge, "request body must be at most %d bytes", limit)
	}
	return decodeBytes(body, v)
}

// decodeBytes is decode for a body already read.
func decodeBytes(body []byte, v any) error { return gancho.DecodeJSON(body, v) }

// page reads ?limit= and ?cursor=.
func page(r *http.Request) (int, string, error) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return 0, "", &gancho.Error{Kind: gancho.KindBadRequest, Detail: "limit must be an integer from 1 to 100",
				Fields: []gancho.FieldError{{Field: "limit", Message: "must be an integer from 1 to 100"}}}
		}
		limit = n
	}
	return limit, r.URL.Query().Get("cursor"), nil
}
