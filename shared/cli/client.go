package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// maxResponse bounds what the CLI reads of one answer; the API's largest (a page of
// 100 events with their payloads) is well below it.
const maxResponse = 64 << 20

// client calls the Gancho API with one credential.
type client struct {
	base string
	key  string
	http *http.Client
	// userAgent names the CLI in the server's logs.
	userAgent string
}

// problem is an RFC 9457 problem object as the API answers errors with.
type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail,omitempty"`
	Errors []gancho.FieldError `json:"errors,omitempty"`
}

// apiError is an answer outside 2xx.
type apiError struct {
	Method, Path string
	Status       int
	Problem      problem
	Raw          []byte
}

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Problem.Title != "" && e.Problem.Title != http.StatusText(e.Status) {
		fmt.Fprintf(&b, ": %s", e.Problem.Title)
	}
	if e.Problem.Detail != "" && !repeatsFields(e.Problem) {
		fmt.Fprintf(&b, "\n  %s", e.Problem.Detail)
	}
	for _, fe := range e.Problem.Errors {
		field := fe.Field
		if field == "" {
			field = "(body)"
		}
		fmt.Fprintf(&b, "\n  - %s: %s", field, fe.Message)
	}
	if e.Problem.Title == "" && e.Problem.Detail == "" && len(e.Raw) > 0 {
		fmt.Fprintf(&b, "\n  %s", truncate(strings.TrimSpace(string(e.Raw)), 500))
	}
	return b.String()
}

// repeatsFields reports whether a problem's detail only says again what one of its
// field errors says (the API puts the first one in the detail).
func repeatsFields(p problem) bool {
	for _, fe := range p.Errors {
		if fe.Message != "" && strings.Contains(p.Detail, fe.Message) {
			return true
		}
	}
	return false
}

// netError is a request that got no answer: the server is unreachable or the
// connection broke.
type netError struct{ err error }

func (e *netError) Error() string { return "cannot reach the API: " + e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// do sends a request and returns the raw body of a 2xx answer. body is nil, a
// json.RawMessage (sent as is) or a value to encode.
func (c *client) do(ctx context.Context, method, path string, body any, header http.Header) ([]byte, int, error) {
	var rd io.Reader
	if body != nil {
		raw, ok := body.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return nil, 0, fmt.Errorf("encode request: %w", err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, 0, &usageError{fmt.Errorf("API URL %q: %w", c.base, err)}
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, &netError{err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, resp.StatusCode, &netError{fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode, Raw: raw}
		_ = json.Unmarshal(raw, &e.Problem)
		return nil, resp.StatusCode, e
	}
	return raw, resp.StatusCode, nil
}

// call is do that also decodes a 2xx answer into out (when out is not nil).
func (c *client) call(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	raw, _, err := c.do(ctx, method, path, body, nil)
	if err != nil {
		return nil, err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return raw, fmt.Errorf("%s %s: unexpected answer: %w", method, path, err)
		}
	}
	return raw, nil
}

// listPage is the shape of every list answer.
type listPage struct {
	Data       []json.RawMessage `json:"data"`
	NextCursor *string           `json:"nextCursor"`
}

// list reads one page (or, with all, every page) of a list route.
func (c *client) list(ctx context.Context, path string, q url.Values, all bool) (listPage, error) {
	var out listPage
	out.Data = []json.RawMessage{}
	for {
		p := path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		var pg listPage
		if _, err := c.call(ctx, http.MethodGet, p, nil, &pg); err != nil {
			return out, err
		}
		out.Data = append(out.Data, pg.Data...)
		out.NextCursor = pg.NextCursor
		if !all || pg.NextCursor == nil || *pg.NextCursor == "" {
			return out, nil
		}
		q = cloneValues(q)
		q.Set("cursor", *pg.NextCursor)
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// pathID escapes an id or name for one path segment.
func pathID(s string) string { return url.PathEscape(s) }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// isAPIStatus reports whether err is an API answer with that status.
func isAPIStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}
