package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

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
func decodeBytes(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return gancho.Errorf(gancho.KindBadRequest, "request body must be a JSON object")
	}
	if !utf8.Valid(body) {
		// encoding/json would keep invalid bytes in a RawMessage (a payload), stored
		// and served back as JSON that is not JSON, and replace them elsewhere.
		return gancho.Errorf(gancho.KindBadRequest, "request body must be valid UTF-8 (JSON text is UTF-8)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return gancho.Errorf(gancho.KindBadRequest, "request body must hold one JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return gancho.Errorf(gancho.KindBadRequest, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return gancho.Errorf(gancho.KindBadRequest, "request body must be a JSON object")
		}
		return gancho.Invalid(gancho.FieldError{Field: field, Message: fmt.Sprintf("must be %s", jsonKind(typ.Type.Kind().String()))})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return gancho.Errorf(gancho.KindBadRequest, "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if field == "" {
			// No field has an empty name, and a field error naming "" names nothing.
			return gancho.Errorf(gancho.KindBadRequest, "malformed JSON: a member has an empty name")
		}
		return gancho.Invalid(gancho.FieldError{Field: field, Message: "is not a known field"})
	}
	return gancho.Errorf(gancho.KindBadRequest, "malformed JSON")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	if strings.HasPrefix(goKind, "int") || strings.HasPrefix(goKind, "uint") || strings.HasPrefix(goKind, "float") {
		return "a number"
	}
	return "of another type"
}

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
