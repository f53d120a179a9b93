// Package deliver is the consumer of the deliveries queue: it sends each delivery as a
// signed HTTP request, records the attempt and schedules the next one.
package deliver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/signature"
)

// Limits on what is read from and kept of a receiver's response.
const (
	maxResponseRead = 64 << 10
	maxResponseKept = 4 << 10
)

// errMissingSubject fails a delivery whose URL has ":id" for an event without subject.
var errMissingSubject = errors.New("missing_subject")

// errInvalidSubject fails a delivery whose subject would fill a path segment with "."
// or "..", which climbs the receiver's path (refused at publish; this guards events
// stored before that rule).
var errInvalidSubject = errors.New("invalid_subject")

// Body returns the bytes a subscription receives for ev. The payload, validated when
// it was published, is spliced in as stored instead of being encoded again.
func Body(sub gancho.Subscription, ev gancho.Event) ([]byte, error) {
	if sub.Method == http.MethodGet || sub.Method == http.MethodDelete {
		return nil, nil
	}
	if sub.Mode == gancho.ModeNotify {
		return NoticeBody(sub, "")
	}
	if sub.Format == "raw" {
		return ev.Payload, nil
	}
	env := ev.Envelope()
	env.Data = nil // spliced in below, as stored
	head, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	data := ev.Payload
	if len(data) == 0 {
		data = []byte("null")
	}
	out := make([]byte, 0, len(head)+len(data)+9)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

// TargetURL fills ":id" (a whole path segment or a query value) with the event's
// subject, escaped for where it stands.
func TargetURL(raw, subject string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse url: %w", err)
	}
	found := false
	// The path as written: EscapedPath re-escapes a path that holds characters such
	// as spaces, which would turn a written "%3Aid" into a ":id" template.
	path := u.RawPath
	if path == "" {
		path = u.EscapedPath()
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if seg == ":id" {
			if subject == "." || subject == ".." {
				return "", errInvalidSubject
			}
			found = true
			segs[i] = url.PathEscape(subject)
		}
	}
	// Replace query values in place, keeping the parameters' order and encoding.
	params := strings.Split(u.RawQuery, "&")
	for i, p := range params {
		if name, value, ok := strings.Cut(p, "="); ok && value == ":id" {
			found = true
			params[i] = name + "=" + url.QueryEscape(subject)
		}
	}
	if !found {
		return raw, nil
	}
	if subject == "" {
		return "", errMissingSubject
	}
	out := *u
	out.RawPath = strings.Join(segs, "/")
	out.Path, _ = url.PathUnescape(out.RawPath)
	out.RawQuery = strings.Join(params, "&")
	return out.String(), nil
}

// request is one attempt of one delivery.
type request struct {
	delivery gancho.Delivery
	sub      gancho.Subscription
	event    gancho.Event
	attempt  int
	tokens   *Tokens       // for token auth
	tenant   gancho.Tenant // for its signature header
	// targets is the deployment's policy a queue or topic destination is checked
	// against again before each send (nil: not checked).
	targets *gancho.TargetPolicy
}

// build returns the HTTP request for one attempt.
func (r request) build(ctx context.Context, now time.Time) (*http.Request, error) {
	target, err := TargetURL(r.sub.URL, r.event.Subject)
	if err != nil {
		return nil, err
	}
	body, err := Body(r.sub, r.event)
	if err == nil && body != nil && r.sub.Mode == gancho.ModeNotify {
		body, err = NoticeBody(r.sub, r.tenant.PublicBaseURL)
	}
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.sub.Method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	keys, err := signingKeys(r.sub, now)
	if err != nil {
		return nil, err
	}
	ts := now.Unix()
	h := req.Header
	if body != nil {
		h.Set("Content-Type", "application/json")
	}
	h.Set("User-Agent", "Gancho/"+gancho.Version)
	h.Set("webhook-id", r.delivery.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", signature.Header(keys, r.delivery.ID, ts, body))
	if hmacKey, ok := keys[0].(signature.Key); ok && r.tenant.SignatureHeader != "" {
		// A single-header scheme: one header, HMAC of the body with the current secret
		// (an ed25519 subscription has none to give).
		h.Set(r.tenant.SignatureHeader, hmacKey.SignBody(body))
	}
	h.Set("X-Gancho-Event", r.event.ID)
	h.Set("X-Gancho-Attempt", strconv.Itoa(r.attempt))
	for name, value := range r.sub.Headers {
		h.Set(name, value)
	}
	if r.sub.Auth.Type == gancho.AuthStatic {
		h.Set(r.sub.Auth.Header, r.sub.Auth.Value)
	}
	return req, nil
}

// callbackSubscription is the destination of an event published with a callbackUrl:
// that URL, signed with the tenant's default secret, on the default schedule.
func callbackSubscription(t gancho.Tenant, ev gancho.Event) gancho.Subscription {
	return gancho.Subscription{
		ID: gancho.CallbackDestination, TenantID: t.ID, URL: ev.CallbackURL, Method: http.MethodPost,
		Headers: map[string]string{}, Auth: gancho.Auth{Type: gancho.AuthNone}, Format: "envelope",
		IsActive: true, TimeoutSeconds: gancho.DefaultTimeoutSeconds, RetrySchedule: gancho.DefaultRetrySchedule(),
		Ordered: true, Secret: t.Secret, PreviousSecret: t.PreviousSecret, PreviousSecretValidUntil: t.PreviousSecretValidUntil,
	}
}

// signingKeys are the subscription's current key and, while it is still valid, the
// key it rotated out: receivers accept either during the changeover.
func signingKeys(sub gancho.Subscription, now time.Time) ([]signature.Signer, error) {
	secrets := sub.SigningSecrets(now)
	if len(secrets) == 0 || secrets[0] != sub.Secret {
		return nil, errors.New("subscription secret: none")
	}
	keys := make([]signature.Signer, 0, len(secrets))
	for i, s := range secrets {
		key, err := signature.ParseSigner(s)
		if err != nil {
			return nil, fmt.Errorf("subscription secret %d: %w", i, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}

// send performs one attempt and describes it. It never returns an error: network
// failures are part of the attempt.
func send(ctx context.Context, client *http.Client, r request, now time.Time) gancho.Attempt {
	a, _ := sendClassified(ctx, client, r, now)
	return a
}

// sendClassified is send that also tells why a failed attempt failed (the
// DeliveryFailures metric's reason; empty for a success).
func sendClassified(ctx context.Context, client *http.Client, r request, now time.Time) (gancho.Attempt, metrics.Reason) {
	a := gancho.Attempt{Number: r.attempt, At: now.UTC(), Outcome: gancho.OutcomeFailure}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.sub.TimeoutSeconds)*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := r.do(ctx, client, now)
	if err != nil {
		a.Error = describe(err)
		a.DurationMs = time.Since(start).Milliseconds()
		return a, failureReason(0, err)
	}
	defer resp.Body.Close()
	a.StatusCode = resp.StatusCode
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		a.RetryAfterSeconds = retryAfter(resp.Header.Get("Retry-After"), now)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	a.Response = keep(body)
	if err != nil {
		a.Error = "reading response: " + describe(err)
	}
	var reason metrics.Reason
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		a.Outcome = gancho.OutcomeSuccess
	} else {
		reason = failureReason(resp.StatusCode, nil)
	}
	a.DurationMs = time.Since(start).Milliseconds()
	return a, reason
}

// do builds and sends the request; with token auth it adds the token and, on a 401,
// fetches a fresh token and tries once more.
func (r request) do(ctx context.Context, client *http.Client, now time.Time) (*http.Response, error) {
	token := func(refresh bool) (string, error) {
		if r.sub.Auth.Type != gancho.AuthToken {
			return "", nil
		}
		if r.tokens == nil {
			return "", fmt.Errorf("%w: token auth is not available here", errToken)
		}
		return r.tokens.Get(ctx, r.sub.Auth, refresh)
	}
	for refreshed := false; ; refreshed = true {
		tok, err := token(refreshed)
		if err != nil {
			return nil, err
		}
		req, err := r.build(ctx, now)
		if err != nil {
			return nil, err
		}
		if tok != "" {
			v := tok
			if r.sub.Auth.Scheme != "" {
				v = r.sub.Auth.Scheme + " " + tok
			}
			req.Header.Set(r.sub.Auth.Header, v)
		}
		resp, err := client.Do(req)
		if err != nil || tok == "" || refreshed || resp.StatusCode != http.StatusUnauthorized {
			return resp, err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead))
		resp.Body.Close()
	}
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) int {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		return max(n, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(int(t.Sub(now).Seconds()+0.999), 0)
	}
	return 0
}

// keep returns at most maxResponseKept bytes of body as valid UTF-8.
func keep(body []byte) string {
	if len(body) > maxResponseKept {
		body = body[:maxResponseKept]
	}
	return strings.ToValidUTF8(string(body), "")
}

// describe turns a transport error into a short reason without internal detail.
func describe(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, errMissingSubject):
		return errMissingSubject.Error()
	case errors.Is(err, errInvalidSubject):
		return errInvalidSubject.Error()
	case errors.Is(err, errToken):
		return err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// notice is what a mode: notify subscription receives: where to pull results from.
type notice struct {
	WebhookID    string     `json:"webhookId"`
	OwnerID      string     `json:"ownerId,omitempty"`
	LastUpdateAt *time.Time `json:"lastUpdateAt"`
	LastViewedAt *time.Time `json:"lastViewedAt"`
	Endpoints    struct {
		Result   string `json:"result"`
		Callback string `json:"callback"`
	} `json:"endpoints"`
}

// NoticeBody is a notify subscription's notice, its links under baseURL (the
// tenant's publicBaseUrl; relative paths without one).
func NoticeBody(sub gancho.Subscription, baseURL string) ([]byte, error) {
	n := notice{WebhookID: sub.ID, OwnerID: sub.OwnerID, LastUpdateAt: sub.LastUpdateAt, LastViewedAt: sub.LastViewedAt}
	path := strings.TrimRight(baseURL, "/") + "/v1/subscriptions/" + url.PathEscape(sub.ID)
	n.Endpoints.Result, n.Endpoints.Callback = path+"/results", path+"/callback"
	b, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode notice: %w", err)
	}
	return b, nil
}

// NoticeSettler ends or extends a notify subscription's pending-notice flag after an
// attempt of its notice (see publish/notify.go).
type NoticeSettler interface {
	SettleNotice(ctx context.Context, tenant, subID, deliveryID string, until *time.Time) error
	// ClaimNotice records an update (needView, lastUpdateAt) and takes the flag if it
	// is free (publish/notify.go); the consumer calls it for a scheduled event's notice
	// when it is due.
	ClaimNotice(ctx context.Context, tenant, subID, deliveryID string, at time.Time) (bool, error)
}

// noticeDue records, when a scheduled event's notice is first sent, the update that
// publishing left unrecorded so as not to tell of the event early: needView and
// lastUpdateAt (at deliverAt), taking the pending-notice flag if it is free, so the
// events published after it wait for this notice as they would for any. It returns
// sub as the notice must show it.
func (h *Handler) noticeDue(ctx context.Context, sub gancho.Subscription, ev gancho.Event, d gancho.Delivery, log *slog.Logger) gancho.Subscription {
	if sub.Mode != gancho.ModeNotify || ev.DeliverAt == nil || len(d.Attempts) > 0 {
		return sub
	}
	at := ev.DeliverAt.UTC()
	if _, err := h.store.ClaimNotice(ctx, d.TenantID, sub.ID, d.ID, at); err != nil {
		log.Warn("scheduled notice: update not recorded", "subscriptionId", sub.ID, "err", err)
		return sub
	}
	sub.NeedView, sub.LastUpdateAt = true, &at
	return sub
}

// settleNotice runs after an attempt of a delivery to a notify subscription was
// recorded: a final status lets the next event queue a new notice; a retry extends
// the flag's lease past the next attempt.
func (h *Handler) settleNotice(ctx context.Context, d gancho.Delivery, sub gancho.Subscription, status string, next *time.Time, log *slog.Logger) {
	if sub.Mode != gancho.ModeNotify {
		return
	}
	var until *time.Time
	if !gancho.Final(status) {
		u := h.now().Add(gancho.NoticeLease)
		if next != nil {
			u = next.Add(gancho.NoticeLease)
		}
		until = &u
	}
	if err := h.store.SettleNotice(ctx, d.TenantID, sub.ID, d.ID, until); err != nil {
		log.Warn("notice flag not settled; its lease ends it", "subscriptionId", sub.ID, "err", err)
	}
}
