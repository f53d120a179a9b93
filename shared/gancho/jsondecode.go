package gancho

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
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
		return decodeError(err, v)
	}
	if dec.More() {
		return Errorf(KindBadRequest, "request body must hold one JSON object")
	}
	return nil
}

// timeMessage is what a date-time member that does not parse is told.
const timeMessage = "must be an RFC 3339 date-time string, such as 2026-12-01T09:00:00Z"

func decodeError(err error, v any) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var parse *time.ParseError
	switch {
	case errors.As(err, &parse) || strings.HasPrefix(err.Error(), "Time.UnmarshalJSON: "):
		// encoding/json does not say which member a time came from: the body's type
		// has one date-time member (an event's deliverAt), which is it. (Go 1.26's
		// time.Time refuses a JSON value that is no string with a plain error; 1.27
		// gives an UnmarshalTypeError, below.)
		if field := timeField(v); field != "" {
			return Invalid(FieldError{Field: field, Message: timeMessage})
		}
		return Errorf(KindBadRequest, "a date-time %s", timeMessage)
	case errors.As(err, &typ) && typ.Type == reflect.TypeFor[time.Time]() && typ.Field != "":
		return Invalid(FieldError{Field: typ.Field, Message: timeMessage})
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

// timeField is the JSON name of the one date-time member of the struct v points to,
// or "" when it has none or several.
func timeField(v any) string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return ""
	}
	found := ""
	for f := range t.Fields() {
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if ft != reflect.TypeFor[time.Time]() || name == "" || name == "-" {
			continue
		}
		if found != "" {
			return ""
		}
		found = name
	}
	return found
}
