package gancho

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeJSON reads one JSON object from body into v, refusing unknown fields, with
// errors that name the offending field: 400 for what is not JSON, 422 for a member
// of the wrong type or an unknown one. Every request body and every merged patch is
// read through it.
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return Errorf(KindBadRequest, "request body must be a JSON object")
	}
	if !utf8.Valid(body) {
		// encoding/json would keep invalid bytes in a RawMessage (a payload), stored
		// and served back as JSON that is not JSON, and replace them elsewhere.
		return Errorf(KindBadRequest, "request body must be valid UTF-8 (JSON text is UTF-8)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return Errorf(KindBadRequest, "request body must hold one JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return Errorf(KindBadRequest, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return Errorf(KindBadRequest, "request body must be a JSON object")
		}
		return Invalid(FieldError{Field: field, Message: fmt.Sprintf("must be %s", jsonKind(typ.Type.Kind().String()))})
	case errors.Is(err, io.ErrUnexpectedEOF):
		return Errorf(KindBadRequest, "malformed JSON: unexpected end of input")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if field == "" {
			// No field has an empty name, and a field error naming "" names nothing.
			return Errorf(KindBadRequest, "malformed JSON: a member has an empty name")
		}
		return Invalid(FieldError{Field: field, Message: "is not a known field"})
	}
	return Errorf(KindBadRequest, "malformed JSON")
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
