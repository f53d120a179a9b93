// Package gancho holds Gancho's domain: tenants, subscriptions, events, deliveries,
// their validation rules and the error kinds every other package speaks.
package gancho

import (
	"errors"
	"fmt"
)

// Kind classifies an error for callers; the HTTP layer maps each kind to one status.
type Kind int

const (
	KindInternal     Kind = iota // anything unexpected; the detail is never shown
	KindBadRequest               // malformed JSON or parameters
	KindUnauthorized             // no or bad credentials
	KindForbidden                // missing scope
	KindNotFound                 // unknown or foreign id
	KindConflict                 // conflicting state
	KindTooLarge                 // body too large
	KindUnsupported              // not JSON
	KindInvalid                  // validation failed, see Fields
)

// FieldError names one invalid field and why.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a domain error whose Detail is safe to show to the API user.
type Error struct {
	Kind   Kind
	Detail string
	Fields []FieldError
	Err    error // cause, never shown to users
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Detail, e.Err)
	}
	return e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error of the given kind with a user-safe detail.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// NotFound reports an unknown (or foreign, which callers must not distinguish) object.
func NotFound(what string) *Error {
	return &Error{Kind: KindNotFound, Detail: what + " not found"}
}

// Invalid reports validation failures; the detail summarises the first one.
func Invalid(fields ...FieldError) *Error {
	detail := "validation failed"
	if len(fields) > 0 {
		detail = fmt.Sprintf("%s: %s", fields[0].Field, fields[0].Message)
	}
	return &Error{Kind: KindInvalid, Detail: detail, Fields: fields}
}

// KindOf returns the kind of err, KindInternal for errors that are not *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// ErrNotFound is returned by stores for a missing item; callers wrap it with what was missing.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by stores when a conditional write lost a race.
var ErrConflict = errors.New("conflict")
