package verify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
	"github.com/gancho-dev/gancho/shared/verify"
)

func TestHandler(t *testing.T) {
	secret := gancho.NewSecret()
	key, _ := signature.ParseSecret(secret)
	now := time.Now()
	envelope := `{"id":"evt_1","type":"order.created","createdAt":"2026-11-29T03:00:00Z","ownerId":"acme","reference":{"id":"o-1"},"data":{"orderId":42}}`
	signed := func(body string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
		r.Header.Set("webhook-id", "dlv_1")
		r.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		r.Header.Set("webhook-signature", key.Sign("dlv_1", now.Unix(), []byte(body)))
		return r
	}
	v, _ := verify.New(secret)
	v = v.WithMaxBodyBytes(1024)
	for _, c := range []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantField  string                                             // the field the problem names
		check      func(t *testing.T, d verify.Delivery, body []byte) // what the handler got
	}{
		{name: "envelope", req: func() *http.Request { return signed(envelope) }, wantStatus: http.StatusNoContent,
			check: func(t *testing.T, d verify.Delivery, body []byte) {
				if d.ID != "dlv_1" || d.Timestamp.Unix() != now.Unix() || d.Type != "order.created" || string(d.Body) != envelope {
					t.Errorf("delivery = %+v", d)
				}
				e := d.Event
				if e == nil || e.ID != "evt_1" || e.Type != "order.created" || e.OwnerID != "acme" ||
					!e.CreatedAt.Equal(time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)) || e.Reference == nil ||
					e.Reference.ID != "o-1" || string(e.Data) != `{"orderId":42}` {
					t.Errorf("event = %+v", e)
				}
				if string(body) != envelope {
					t.Errorf("r.Body = %q, want the delivered body", body)
				}
			}},
		{name: "raw payload", req: func() *http.Request { return signed(`{"orderId":42}`) }, wantStatus: http.StatusNoContent,
			check: func(t *testing.T, d verify.Delivery, body []byte) {
				if d.Event != nil || d.Type != "" || string(d.Body) != `{"orderId":42}` || string(body) != `{"orderId":42}` {
					t.Errorf("delivery = %+v, body %q", d, body)
				}
			}},
		{name: "raw payload with id and type", req: func() *http.Request { return signed(`{"id":"1","type":"x"}`) }, wantStatus: http.StatusNoContent,
			check: func(t *testing.T, d verify.Delivery, _ []byte) {
				if d.Event != nil {
					t.Errorf("a payload without createdAt read as an envelope: %+v", d.Event)
				}
			}},
		{name: "empty body", req: func() *http.Request {
			r := signed("")
			r.Method = http.MethodDelete
			return r
		}, wantStatus: http.StatusNoContent},
		{name: "body at the limit", req: func() *http.Request { return signed(strings.Repeat("x", 1024)) }, wantStatus: http.StatusNoContent},
		{name: "tampered body", req: func() *http.Request {
			r := signed(envelope)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(envelope, "42", "43", 1)))
			return r
		}, wantStatus: http.StatusUnauthorized, wantField: "webhook-signature"},
		{name: "unsigned", req: func() *http.Request {
			r := signed(envelope)
			r.Header.Del("webhook-signature")
			return r
		}, wantStatus: http.StatusUnauthorized, wantField: "webhook-signature"},
		{name: "no id", req: func() *http.Request {
			r := signed(envelope)
			r.Header.Del("webhook-id")
			return r
		}, wantStatus: http.StatusUnauthorized, wantField: "webhook-id"},
		{name: "replayed late", req: func() *http.Request {
			r := signed(envelope)
			old := now.Add(-10 * time.Minute).Unix()
			r.Header.Set("webhook-timestamp", strconv.FormatInt(old, 10))
			r.Header.Set("webhook-signature", key.Sign("dlv_1", old, []byte(envelope)))
			return r
		}, wantStatus: http.StatusUnauthorized, wantField: "webhook-timestamp"},
		{name: "too large, length known", req: func() *http.Request { return signed(strings.Repeat("x", 1025)) },
			wantStatus: http.StatusRequestEntityTooLarge, wantField: "body"},
		{name: "too large, length unknown", req: func() *http.Request {
			r := signed(strings.Repeat("x", 1025))
			r.ContentLength = -1
			r.Body = io.NopCloser(strings.NewReader(strings.Repeat("x", 1025)))
			return r
		}, wantStatus: http.StatusRequestEntityTooLarge, wantField: "body"},
		{name: "unreadable body", req: func() *http.Request {
			r := signed(envelope)
			r.Body = io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))
			return r
		}, wantStatus: http.StatusBadRequest, wantField: "body"},
	} {
		t.Run(c.name, func(t *testing.T) {
			called := false
			h := v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				called = true
				d, ok := verify.FromContext(r.Context())
				if !ok {
					t.Error("no delivery in the context")
				}
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("read restored body: %v", err)
				}
				if r.ContentLength != int64(len(body)) {
					t.Errorf("ContentLength = %d, body %d bytes", r.ContentLength, len(body))
				}
				if c.check != nil {
					c.check(t, d, body)
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			req := c.req()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", rec.Code, c.wantStatus, rec.Body)
			}
			if ok := c.wantStatus < 300; called != ok {
				t.Fatalf("handler called = %v", called)
			}
			if c.wantField == "" {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var p struct {
				Status int
				Errors []struct{ Field string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != c.wantStatus || len(p.Errors) != 1 || p.Errors[0].Field != c.wantField {
				t.Errorf("problem = %s (%v), want field %q", rec.Body, err, c.wantField)
			}
			// Nothing secret or signed is echoed.
			for _, s := range []string{secret, strings.TrimPrefix(secret, "whsec_"), req.Header.Get("webhook-signature")} {
				if s != "" && bytes.Contains(rec.Body.Bytes(), []byte(s)) {
					t.Errorf("problem body echoes %q", s)
				}
			}
		})
	}
}

// Outside a verified request there is no delivery.
func TestFromContextEmpty(t *testing.T) {
	if _, ok := verify.FromContext(httptest.NewRequest(http.MethodGet, "/", nil).Context()); ok {
		t.Fatal("a delivery in a plain request's context")
	}
}
