package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// Delivery is a verified webhook, as the handler behind Handler gets it.
type Delivery struct {
	ID        string    // webhook-id: the same across retries of one delivery, so a key for deduplication
	Timestamp time.Time // webhook-timestamp: when this attempt was sent
	Type      string    // the event type, when the body is an envelope
	Body      []byte    // the body exactly as received and verified
	Event     *Envelope // the body decoded, when it is an event envelope; nil otherwise (raw payloads, notices)
}

// Envelope is the body Gancho sends for a subscription with format "envelope".
type Envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt time.Time       `json:"createdAt"`
	OwnerID   string          `json:"ownerId,omitempty"`
	Context   string          `json:"context,omitempty"`
	Subject   string          `json:"subject,omitempty"`
	Reference *Reference      `json:"reference,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Reference orders an event among others about the same thing.
type Reference struct {
	Type string `json:"type,omitempty"`
	ID   string `json:"id"`
}

type contextKey struct{}

// FromContext returns the verified delivery Handler put in the request's context.
func FromContext(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(contextKey{}).(Delivery)
	return d, ok
}

// Handler returns a handler that reads the body (at most the verifier's limit),
// verifies it and only then calls next, with the Delivery in the request's context
// and the body restored for reading. It answers 401 to a delivery that fails
// verification, 413 to a body over the limit and 400 to a body it cannot read, each
// with a problem+json body naming the header at fault.
func (v *Verifier) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > v.maxBodyBytes {
			writeProblem(w, http.StatusRequestEntityTooLarge, &Error{Field: "body", Err: ErrBodyTooLarge})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v.maxBodyBytes))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeProblem(w, http.StatusRequestEntityTooLarge, &Error{Field: "body", Err: ErrBodyTooLarge})
				return
			}
			writeProblem(w, http.StatusBadRequest, &Error{Field: "body", Err: errors.New("could not be read")})
			return
		}
		h := r.Header
		ts, err := v.verify(h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body)
		if err != nil {
			writeProblem(w, http.StatusUnauthorized, err)
			return
		}
		d := Delivery{ID: h.Get(HeaderID), Timestamp: ts, Body: body, Event: decodeEnvelope(body)}
		if d.Event != nil {
			d.Type = d.Event.Type
		}
		r = r.WithContext(context.WithValue(r.Context(), contextKey{}, d))
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// decodeEnvelope returns body as an envelope when it is one: a JSON object with a
// string id and type and a createdAt time, as Gancho always sends. A raw payload
// or a notice is not.
func decodeEnvelope(body []byte) *Envelope {
	var e Envelope
	if json.Unmarshal(body, &e) != nil || e.ID == "" || e.Type == "" || e.CreatedAt.IsZero() {
		return nil
	}
	return &e
}

func writeProblem(w http.ResponseWriter, status int, err error) {
	var ve *Error
	if !errors.As(err, &ve) {
		ve = &Error{Field: "body", Err: err}
	}
	slug := map[int]string{400: "bad-request", 401: "unauthorized", 413: "payload-too-large"}[status]
	type fieldError struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string       `json:"type"`
		Title  string       `json:"title"`
		Status int          `json:"status"`
		Detail string       `json:"detail"`
		Errors []fieldError `json:"errors"`
	}{
		Type: "https://gancho.dev/problems/" + slug, Title: http.StatusText(status), Status: status,
		Detail: ve.Error(), Errors: []fieldError{{Field: ve.Field, Message: ve.Err.Error()}},
	})
}
