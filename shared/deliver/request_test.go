package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
)

func TestTargetURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, raw, subject string
		want               string
		wantErr            error
	}{
		{name: "whole segment, path-escaped", raw: "https://client.example/hooks/:id", subject: "a/b c", want: "https://client.example/hooks/a%2Fb%20c"},
		{name: "middle segment", raw: "https://client.example/hooks/:id/confirm", subject: "42", want: "https://client.example/hooks/42/confirm"},
		{name: "first segment", raw: "https://client.example/:id", subject: "x", want: "https://client.example/x"},
		{name: "segment with port and query kept", raw: "https://client.example:8443/hooks/:id?v=2", subject: "s1", want: "https://client.example:8443/hooks/s1?v=2"},
		{name: "two segments", raw: "https://client.example/:id/sub/:id", subject: "s", want: "https://client.example/s/sub/s"},
		{name: "subject with reserved chars", raw: "https://client.example/hooks/:id", subject: "a?b#c%d", want: "https://client.example/hooks/a%3Fb%23c%25d"},
		{name: "non-ascii subject", raw: "https://client.example/hooks/:id", subject: "ação", want: "https://client.example/hooks/a%C3%A7%C3%A3o"},
		{name: "already-escaped path kept", raw: "https://client.example/a%2Fb/:id", subject: "x", want: "https://client.example/a%2Fb/x"},
		{name: "query value, query-escaped", raw: "https://client.example/hooks?ref=:id", subject: "a/b c", want: "https://client.example/hooks?ref=a%2Fb+c"},
		{name: "query value with & and =", raw: "https://client.example/hooks?ref=:id", subject: "a&b=c", want: "https://client.example/hooks?ref=a%26b%3Dc"},
		{name: "path and query", raw: "https://client.example/h/:id?ref=:id", subject: "s 1", want: "https://client.example/h/s%201?ref=s+1"},
		{name: "inside a segment is not replaced", raw: "https://client.example/hooks/x:id", subject: "abc", want: "https://client.example/hooks/x:id"},
		{name: "longer name is not replaced", raw: "https://client.example/hooks/:idx", subject: "abc", want: "https://client.example/hooks/:idx"},
		{name: "inside a query value is not replaced", raw: "https://client.example/hooks?ref=x:id", subject: "abc", want: "https://client.example/hooks?ref=x:id"},
		{name: "query key is not replaced", raw: "https://client.example/hooks?:id=1", subject: "abc", want: "https://client.example/hooks?:id=1"},
		{name: "no :id is unchanged", raw: "https://client.example/hooks?b=2&a=1", subject: "abc", want: "https://client.example/hooks?b=2&a=1"},
		{name: "no :id with empty subject", raw: "https://client.example/hooks", subject: "", want: "https://client.example/hooks"},
		{name: "x:id with empty subject", raw: "https://client.example/hooks/x:id", subject: "", want: "https://client.example/hooks/x:id"},
		{name: "segment with empty subject", raw: "https://client.example/hooks/:id", subject: "", wantErr: errMissingSubject},
		{name: "query with empty subject", raw: "https://client.example/hooks?ref=:id", subject: "", wantErr: errMissingSubject},
		// Only ":id" as written is a template, whatever else the path holds.
		{name: "encoded colon is not a template", raw: "https://client.example/%3Aid/a b", subject: "s", want: "https://client.example/%3Aid/a b"},
		// A subject may never climb the receiver's path.
		{name: "segment with ..", raw: "https://client.example/hooks/:id/x", subject: "..", wantErr: errInvalidSubject},
		{name: "segment with .", raw: "https://client.example/hooks/:id", subject: ".", wantErr: errInvalidSubject},
		{name: "query value with ..", raw: "https://client.example/hooks?ref=:id", subject: "..", want: "https://client.example/hooks?ref=.."},
		{name: "segment with ... is a name", raw: "https://client.example/hooks/:id", subject: "...", want: "https://client.example/hooks/..."},
		// Only the ":id" value is replaced; the rest of the configured URL is sent as it is.
		{name: "other query parameters kept in order", raw: "https://client.example/hooks?b=2&a=1&ref=:id", subject: "s", want: "https://client.example/hooks?b=2&a=1&ref=s"},
		{name: "other query parameters kept verbatim", raw: "https://client.example/hooks/:id?sig=a%20b&flag&x=1;y=2", subject: "s", want: "https://client.example/hooks/s?sig=a%20b&flag&x=1;y=2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := TargetURL(tc.raw, tc.subject)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("TargetURL(%q, %q) = %q, %v; want error %v", tc.raw, tc.subject, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("TargetURL(%q, %q): %v", tc.raw, tc.subject, err)
			}
			if got != tc.want {
				t.Errorf("TargetURL(%q, %q) = %q, want %q", tc.raw, tc.subject, got, tc.want)
			}
		})
	}
}

func TestBodyEnvelope(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 3, 4, 5, 6, 7, 123e6, time.UTC)
	full := gancho.Event{ID: "evt_1", TenantID: "ten_secret", Type: "crm.lead.created", CreatedAt: created, OwnerID: "user-7",
		Context: "doc-signature", Subject: "s-1", Reference: &gancho.Reference{Type: "request", ID: "r-1"},
		Payload: json.RawMessage(`{"lead": {"id": 1}}`)}
	minimal := gancho.Event{ID: "evt_2", Type: "ping", CreatedAt: created, Payload: json.RawMessage(`[1, 2]`)}
	cases := []struct {
		name string
		ev   gancho.Event
		want map[string]any
	}{
		{name: "every field", ev: full, want: map[string]any{
			"id": "evt_1", "type": "crm.lead.created", "createdAt": "2026-03-04T05:06:07.123Z", "ownerId": "user-7",
			"context": "doc-signature", "subject": "s-1", "reference": map[string]any{"type": "request", "id": "r-1"},
			"data": map[string]any{"lead": map[string]any{"id": float64(1)}},
		}},
		{name: "absent fields omitted", ev: minimal, want: map[string]any{
			"id": "evt_2", "type": "ping", "createdAt": "2026-03-04T05:06:07.123Z", "data": []any{float64(1), float64(2)},
		}},
		{name: "reference without type", ev: gancho.Event{ID: "evt_3", Type: "ping", CreatedAt: created, Payload: json.RawMessage(`null`),
			Reference: &gancho.Reference{ID: "r-3"}}, want: map[string]any{
			"id": "evt_3", "type": "ping", "createdAt": "2026-03-04T05:06:07.123Z", "reference": map[string]any{"id": "r-3"}, "data": nil,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch} {
				b, err := Body(gancho.Subscription{Method: method, Format: "envelope"}, tc.ev)
				if err != nil {
					t.Fatal(err)
				}
				var got map[string]any
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatalf("%s: body is not JSON: %v\n%s", method, err, b)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s: body %s\nwant %v", method, b, tc.want)
				}
				if bytes.Contains(b, []byte("ten_secret")) {
					t.Errorf("%s: body carries the tenant id: %s", method, b)
				}
			}
		})
	}
}

func TestBodyRaw(t *testing.T) {
	t.Parallel()
	payload := json.RawMessage("{ \"b\" :  [1,\n 2], \"a\":\"x\\u00e9\" }")
	ev := gancho.Event{ID: "evt_1", Type: "ping", CreatedAt: time.Now(), Payload: payload}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			t.Parallel()
			b, err := Body(gancho.Subscription{Method: method, Format: "raw"}, ev)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, payload) {
				t.Errorf("raw body %q, want the payload exactly %q", b, payload)
			}
		})
	}
}

func TestBodyNoneForGetAndDelete(t *testing.T) {
	t.Parallel()
	ev := gancho.Event{ID: "evt_1", Type: "ping", CreatedAt: time.Now(), Payload: json.RawMessage(`{"a":1}`)}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		for _, format := range []string{"envelope", "raw"} {
			t.Run(method+" "+format, func(t *testing.T) {
				t.Parallel()
				b, err := Body(gancho.Subscription{Method: method, Format: format}, ev)
				if err != nil || b != nil {
					t.Errorf("Body = %q, %v; want nil, nil", b, err)
				}
			})
		}
	}
}

// sendFixture is one subscription, event and delivery aimed at a test server.
type sendFixture struct {
	secret string
	req    request
}

func newSendFixture(t *testing.T, url string) sendFixture {
	t.Helper()
	secret := gancho.NewSecret()
	now := time.Now()
	sub := gancho.Subscription{ID: gancho.NewID(gancho.PrefixSubscription, now), TenantID: "ten_1", URL: url,
		Method: http.MethodPost, Format: "envelope", IsActive: true, TimeoutSeconds: 5, Secret: secret,
		Headers: map[string]string{}, RetrySchedule: gancho.DefaultRetrySchedule(), Events: []string{"*"}}
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: "ten_1", Type: "crm.lead.created",
		CreatedAt: now.UTC(), Subject: "lead 1", Payload: json.RawMessage(`{"lead":1}`)}
	d := gancho.Delivery{ID: gancho.DeliveryID(ev.ID, sub.ID), TenantID: "ten_1", EventID: ev.ID, SubscriptionID: sub.ID,
		EventType: ev.Type, Status: gancho.StatusPending}
	return sendFixture{secret: secret, req: request{delivery: d, sub: sub, event: ev, attempt: 1}}
}

var attemptClient = outbound.NewClient(outbound.Options{AllowPrivate: true})

// seenRequest is what a test server saw of one request.
type seenRequest struct {
	method string
	path   string // escaped
	query  string
	header http.Header
	body   []byte
}

// recordingServer answers with status and body and reports each request on the channel.
func recordingServer(t *testing.T, status int, body string) (*httptest.Server, chan seenRequest) {
	t.Helper()
	ch := make(chan seenRequest, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- seenRequest{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header.Clone(), body: b}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func TestSendOutcomes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		body     string
		outcome  string
		response string
	}{
		{http.StatusOK, "ok", gancho.OutcomeSuccess, "ok"},
		{http.StatusCreated, `{"seenRequest":true}`, gancho.OutcomeSuccess, `{"seenRequest":true}`},
		{http.StatusNoContent, "", gancho.OutcomeSuccess, ""},
		{299, "edge", gancho.OutcomeSuccess, "edge"},
		{http.StatusBadRequest, "bad", gancho.OutcomeFailure, "bad"},
		{http.StatusGone, "gone", gancho.OutcomeFailure, "gone"},
		{http.StatusTooManyRequests, "slow down", gancho.OutcomeFailure, "slow down"},
		{http.StatusInternalServerError, "boom", gancho.OutcomeFailure, "boom"},
		{http.StatusServiceUnavailable, "later", gancho.OutcomeFailure, "later"},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			srv, ch := recordingServer(t, tc.status, tc.body)
			f := newSendFixture(t, srv.URL+"/hooks")
			f.req.attempt = 3
			now := time.Now()
			a := send(context.Background(), attemptClient, f.req, now)
			<-ch
			want := gancho.Attempt{Number: 3, At: now.UTC(), StatusCode: tc.status, Response: tc.response, Outcome: tc.outcome}
			got := a
			got.DurationMs = 0
			if !reflect.DeepEqual(got, want) {
				t.Errorf("attempt %+v\nwant    %+v", got, want)
			}
			if a.DurationMs < 0 || a.DurationMs > 5000 {
				t.Errorf("durationMs %d", a.DurationMs)
			}
		})
	}
}

func TestSendLargeResponse(t *testing.T) {
	t.Parallel()
	t.Run("whole body larger than 64 KiB", func(t *testing.T) {
		t.Parallel()
		big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}))
		t.Cleanup(srv.Close)
		f := newSendFixture(t, srv.URL)
		a := send(context.Background(), attemptClient, f.req, time.Now())
		if a.Outcome != gancho.OutcomeSuccess || a.Error != "" {
			t.Fatalf("attempt %+v", a)
		}
		if len(a.Response) != maxResponseKept || a.Response != big[:maxResponseKept] {
			t.Errorf("kept %d bytes, want the first %d", len(a.Response), maxResponseKept)
		}
	})
	t.Run("reading stops at 64 KiB", func(t *testing.T) {
		t.Parallel()
		// The server sends exactly 64 KiB and then holds the response open: a client
		// reading one byte more would wait for the timeout.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, strings.Repeat("x", maxResponseRead))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}))
		t.Cleanup(srv.Close)
		f := newSendFixture(t, srv.URL)
		f.req.sub.TimeoutSeconds = 3
		start := time.Now()
		a := send(context.Background(), attemptClient, f.req, start)
		if elapsed := time.Since(start); elapsed > 2*time.Second {
			t.Errorf("send took %v: it read past %d bytes", elapsed, maxResponseRead)
		}
		if a.Outcome != gancho.OutcomeFailure || a.StatusCode != 500 || a.Error != "" {
			t.Errorf("attempt %+v", a)
		}
		if len(a.Response) != maxResponseKept {
			t.Errorf("kept %d bytes, want %d", len(a.Response), maxResponseKept)
		}
	})
	t.Run("kept part is valid UTF-8", func(t *testing.T) {
		t.Parallel()
		// A 2-byte rune straddles the 4 KiB cut.
		body := strings.Repeat("a", maxResponseKept-1) + "é" + "tail"
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		f := newSendFixture(t, srv.URL)
		a := send(context.Background(), attemptClient, f.req, time.Now())
		if a.Response != strings.Repeat("a", maxResponseKept-1) {
			t.Errorf("kept %d bytes ending %q", len(a.Response), a.Response[max(0, len(a.Response)-4):])
		}
	})
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "too late")
	}))
	t.Cleanup(srv.Close)
	f := newSendFixture(t, srv.URL)
	f.req.sub.TimeoutSeconds = 1
	start := time.Now()
	a := send(context.Background(), attemptClient, f.req, start)
	elapsed := time.Since(start)
	if a.Outcome != gancho.OutcomeFailure || a.Error != "timeout" || a.StatusCode != 0 || a.Response != "" {
		t.Errorf("attempt %+v, want a failure with error timeout", a)
	}
	if elapsed < 900*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("send returned after %v, want about 1 s", elapsed)
	}
	if a.DurationMs < 900 {
		t.Errorf("durationMs %d, want about 1000", a.DurationMs)
	}
}

func TestSendConnectionClosed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	f := newSendFixture(t, srv.URL)
	a := send(context.Background(), attemptClient, f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.Error == "" || a.StatusCode != 0 {
		t.Errorf("attempt %+v, want a failure with an error and no status", a)
	}
}

func TestSendRefusedConnection(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	f := newSendFixture(t, url)
	a := send(context.Background(), attemptClient, f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.Error == "" || a.StatusCode != 0 {
		t.Errorf("attempt %+v, want a failure with an error and no status", a)
	}
}

func TestSendGuardedClientRefusesLoopback(t *testing.T) {
	t.Parallel()
	srv, ch := recordingServer(t, http.StatusOK, "ok")
	f := newSendFixture(t, srv.URL)
	a := send(context.Background(), outbound.NewClient(outbound.Options{}), f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.Error == "" {
		t.Errorf("attempt %+v, want a failure", a)
	}
	if len(ch) != 0 {
		t.Error("the loopback server seenRequest the request")
	}
}

func TestSendRedirectIsFailure(t *testing.T) {
	t.Parallel()
	target, targetCh := recordingServer(t, http.StatusOK, "ok")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/moved", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	f := newSendFixture(t, srv.URL)
	a := send(context.Background(), attemptClient, f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.StatusCode != http.StatusFound {
		t.Errorf("attempt %+v, want a 302 failure", a)
	}
	if len(targetCh) != 0 {
		t.Error("the redirect was followed")
	}
}

func TestSendMissingSubject(t *testing.T) {
	t.Parallel()
	srv, ch := recordingServer(t, http.StatusOK, "ok")
	f := newSendFixture(t, srv.URL+"/hooks/:id")
	f.req.event.Subject = ""
	a := send(context.Background(), attemptClient, f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.Error != "missing_subject" || a.StatusCode != 0 {
		t.Errorf("attempt %+v, want a missing_subject failure", a)
	}
	if len(ch) != 0 {
		t.Error("a request was sent")
	}
}

func TestSendDotSubject(t *testing.T) {
	t.Parallel()
	srv, ch := recordingServer(t, http.StatusOK, "ok")
	f := newSendFixture(t, srv.URL+"/hooks/:id/x")
	f.req.event.Subject = ".."
	a := send(context.Background(), attemptClient, f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.Error != "invalid_subject" || a.StatusCode != 0 {
		t.Errorf("attempt %+v, want an invalid_subject failure", a)
	}
	if len(ch) != 0 {
		t.Error("a request was sent")
	}
	h := &Handler{}
	if status, next, _ := h.outcome(f.req.sub, f.req.event, a, time.Now()); status != gancho.StatusFailed || next != nil {
		t.Errorf("outcome = %s, %v; want failed with no retry (the subject will not change)", status, next)
	}
}

func TestSendRequest(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		method  string
		format  string
		url     string // appended to the server's URL
		subject string
		headers map[string]string
		path    string
		query   string
		noBody  bool
		ctype   string
	}{
		{name: "POST envelope", method: "POST", format: "envelope", url: "/hooks", path: "/hooks",
			headers: map[string]string{"X-Custom": "v", "Authorization": "Bearer t"}, ctype: "application/json"},
		{name: "PUT raw", method: "PUT", format: "raw", url: "/hooks", path: "/hooks", ctype: "application/json"},
		{name: "PATCH with custom content type", method: "PATCH", format: "raw", url: "/hooks", path: "/hooks",
			headers: map[string]string{"Content-Type": "application/merge-patch+json"}, ctype: "application/merge-patch+json"},
		{name: "GET without body", method: "GET", format: "envelope", url: "/hooks/:id", subject: "a/b c", path: "/hooks/a%2Fb%20c", noBody: true},
		{name: "DELETE without body", method: "DELETE", format: "raw", url: "/hooks?ref=:id", subject: "42", path: "/hooks", query: "ref=42", noBody: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, ch := recordingServer(t, http.StatusOK, "ok")
			f := newSendFixture(t, srv.URL+tc.url)
			f.req.sub.Method, f.req.sub.Format, f.req.event.Subject = tc.method, tc.format, tc.subject
			if tc.headers != nil {
				f.req.sub.Headers = tc.headers
			}
			f.req.attempt = 2
			now := time.Now()
			a := send(context.Background(), attemptClient, f.req, now)
			if a.Outcome != gancho.OutcomeSuccess {
				t.Fatalf("attempt %+v", a)
			}
			got := <-ch
			if got.method != tc.method || got.path != tc.path || got.query != tc.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", got.method, got.path, got.query, tc.method, tc.path, tc.query)
			}
			wantBody, _ := Body(f.req.sub, f.req.event)
			if tc.noBody {
				if len(got.body) != 0 || got.header.Get("Content-Length") != "" && got.header.Get("Content-Length") != "0" {
					t.Errorf("body %q (Content-Length %q), want none", got.body, got.header.Get("Content-Length"))
				}
			} else if !bytes.Equal(got.body, wantBody) || len(got.body) == 0 {
				t.Errorf("body %q, want %q", got.body, wantBody)
			}
			h := got.header
			checks := map[string]string{
				"webhook-id":        f.req.delivery.ID,
				"webhook-timestamp": strconv.FormatInt(now.Unix(), 10),
				"X-Gancho-Event":    f.req.event.ID,
				"X-Gancho-Attempt":  "2",
				"User-Agent":        "Gancho/" + gancho.Version,
				"Content-Type":      tc.ctype,
			}
			for name, value := range tc.headers {
				checks[name] = value
			}
			for name, want := range checks {
				if vs := h.Values(name); !slices.Equal(vs, headerValues(want)) {
					t.Errorf("header %s = %q, want %q", name, vs, want)
				}
			}
			wh, err := standardwebhooks.NewWebhook(f.secret)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(got.body, h); err != nil {
				t.Errorf("official library rejects the signature %q: %v", h.Get("webhook-signature"), err)
			}
			other, _ := standardwebhooks.NewWebhook(gancho.NewSecret())
			if err := other.Verify(got.body, h); err == nil {
				t.Error("signature verifies with another secret")
			}
			if err := wh.Verify(append(got.body, ' '), h); err == nil {
				t.Error("signature verifies a different body")
			}
		})
	}
}

func headerValues(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

func TestSendSameWebhookIDAcrossAttempts(t *testing.T) {
	t.Parallel()
	srv, ch := recordingServer(t, http.StatusInternalServerError, "")
	f := newSendFixture(t, srv.URL)
	var ids []string
	for attempt := 1; attempt <= 3; attempt++ {
		f.req.attempt = attempt
		send(context.Background(), attemptClient, f.req, time.Now())
		got := <-ch
		ids = append(ids, got.header.Get("webhook-id"))
		if got.header.Get("X-Gancho-Attempt") != strconv.Itoa(attempt) {
			t.Errorf("attempt %d sent X-Gancho-Attempt %q", attempt, got.header.Get("X-Gancho-Attempt"))
		}
	}
	if ids[0] != f.req.delivery.ID || ids[1] != ids[0] || ids[2] != ids[0] {
		t.Errorf("webhook-ids %q, want %q each time", ids, f.req.delivery.ID)
	}
}

func TestSendBadSecret(t *testing.T) {
	t.Parallel()
	srv, ch := recordingServer(t, http.StatusOK, "ok")
	f := newSendFixture(t, srv.URL)
	f.req.sub.Secret = "not-a-secret"
	a := send(context.Background(), attemptClient, f.req, time.Now())
	if a.Outcome != gancho.OutcomeFailure || a.Error == "" {
		t.Errorf("attempt %+v, want a failure", a)
	}
	if len(ch) != 0 {
		t.Error("an unsigned request was sent")
	}
}
