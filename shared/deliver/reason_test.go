package deliver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/outbound"
)

// timeoutErr is a transport error that reports a timeout (a dial timeout).
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestFailureReason classifies the outcomes of real attempts against loopback
// servers, and transport errors that a loopback server cannot produce.
func TestFailureReason(t *testing.T) {
	t.Parallel()
	answer := func(code int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Location", "/elsewhere")
			w.WriteHeader(code)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)
	hangUp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(hangUp.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	guarded := outbound.NewClient(outbound.Options{})

	attempts := []struct {
		name   string
		url    string
		client *http.Client
		want   metrics.Reason
	}{
		{"200", answer(200), attemptClient, ""},
		{"204", answer(204), attemptClient, ""},
		{"302 not followed", answer(302), attemptClient, metrics.ReasonOther},
		{"400", answer(400), attemptClient, metrics.ReasonHTTP4xx},
		{"410", answer(410), attemptClient, metrics.ReasonHTTP4xx},
		{"429", answer(429), attemptClient, metrics.ReasonHTTP4xx},
		{"500", answer(500), attemptClient, metrics.ReasonHTTP5xx},
		{"503", answer(503), attemptClient, metrics.ReasonHTTP5xx},
		{"no answer in time", silent.URL, attemptClient, metrics.ReasonTimeout},
		{"connection closed", hangUp.URL, attemptClient, metrics.ReasonNetwork},
		{"connection refused", closedURL, attemptClient, metrics.ReasonNetwork},
		{"loopback refused by the guard", answer(200), guarded, metrics.ReasonRefused},
		{"missing subject", answer(200) + "/hooks/:id", attemptClient, metrics.ReasonOther},
	}
	for _, tc := range attempts {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newSendFixture(t, tc.url)
			f.req.sub.TimeoutSeconds = 1
			f.req.event.Subject = ""
			a, reason := sendClassified(context.Background(), tc.client, f.req, time.Now())
			if reason != tc.want {
				t.Errorf("reason %q, want %q (attempt %+v)", reason, tc.want, a)
			}
		})
	}

	errs := []struct {
		name string
		err  error
		want metrics.Reason
	}{
		{"deadline", fmt.Errorf("post: %w", context.DeadlineExceeded), metrics.ReasonTimeout},
		{"dial timeout", &url.Error{Op: "Post", URL: "https://x.example", Err: &net.OpError{Op: "dial", Err: timeoutErr{}}}, metrics.ReasonTimeout},
		{"dns", &url.Error{Op: "Post", URL: "https://x.example", Err: &net.DNSError{Err: "no such host", Name: "x.example"}}, metrics.ReasonNetwork},
		{"guard", &url.Error{Op: "Post", URL: "https://x.example", Err: &net.OpError{Op: "dial", Err: fmt.Errorf("dial: %w", outbound.ErrForbiddenAddress)}}, metrics.ReasonRefused},
		{"token", fmt.Errorf("%w: token endpoint answered 400", errToken), metrics.ReasonOther},
		{"secret", errors.New("subscription secret: none"), metrics.ReasonOther},
	}
	for _, tc := range errs {
		if got := failureReason(0, tc.err); got != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.want)
		}
	}
}
