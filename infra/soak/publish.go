package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Ways to send an idempotency key with a publish.
const (
	keyHeader = "header" // Idempotency-Key header only
	keyBody   = "body"   // idempotencyKey field only
	keyBoth   = "both"   // both, with the same value
)

// keyForm is how publish number seq sends its key: the load uses all three.
func keyForm(seq int) string {
	return []string{keyHeader, keyBody, keyBoth}[seq%3]
}

// publishRequest is one publish as a client would send it, every time the same.
type publishRequest struct {
	eventType string
	payload   map[string]any
	key       string
	form      string
}

func (p publishRequest) send(ctx context.Context, a *api) (response, error) {
	body := map[string]any{"type": p.eventType, "payload": p.payload}
	var header map[string]string
	if p.form == keyBody || p.form == keyBoth {
		body["idempotencyKey"] = p.key
	}
	if p.form == keyHeader || p.form == keyBoth {
		header = map[string]string{"Idempotency-Key": p.key}
	}
	return a.call(ctx, http.MethodPost, "/v1/events", header, body)
}

// publishResult is what the API answered to a publish.
type publishResult struct {
	ID       string `json:"id"`
	Replayed bool   `json:"-"`
}

// retryable reports whether a client should send the same publish again: no answer
// (connection refused or reset, timeout), a server error, throttling, or 409 while
// a request with the same key is still running.
func retryable(res response, err error) bool {
	if err != nil {
		return true
	}
	return res.status >= 500 || res.status == http.StatusTooManyRequests || res.status == http.StatusConflict
}

// publishUntilAccepted sends p until it is accepted (202), as a client that retries
// with the same key whenever it did not get an answer; it returns the event id and
// how many requests it took.
func publishUntilAccepted(ctx context.Context, a *api, p publishRequest) (publishResult, int, error) {
	backoff := 100 * time.Millisecond
	for tries := 1; ; tries++ {
		res, err := p.send(ctx, a)
		if err == nil && res.status == http.StatusAccepted {
			var out publishResult
			if err := json.Unmarshal(res.body, &out); err != nil || out.ID == "" {
				return publishResult{}, tries, fmt.Errorf("publish %s: bad 202 body %q", p.key, res.body)
			}
			out.Replayed = res.header.Get("Idempotent-Replayed") == "true"
			return out, tries, nil
		}
		if !retryable(res, err) {
			return publishResult{}, tries, fmt.Errorf("publish %s: %d %s", p.key, res.status, res.body)
		}
		wait := backoff
		if s, perr := strconv.Atoi(res.header.Get("Retry-After")); perr == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		backoff = min(2*backoff, 2*time.Second)
		select {
		case <-ctx.Done():
			last := fmt.Sprint(err)
			if err == nil {
				last = fmt.Sprintf("%d %s", res.status, res.body)
			}
			return publishResult{}, tries, fmt.Errorf("publish %s: gave up after %d requests: %w (last: %s)", p.key, tries, ctx.Err(), last)
		case <-time.After(wait):
		}
	}
}
