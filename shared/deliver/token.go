package deliver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Token-fetch limits.
const (
	defaultTokenTTL = 5 * time.Minute
	tokenMargin     = 30 * time.Second // refetch this long before expiry
	maxTokenBody    = 64 << 10
	maxCachedTokens = 10000
)

// Tokens fetches and caches the access tokens of subscriptions with token auth
// (a login call made at dispatch time). Concurrent deliveries that need the same
// token wait for one fetch instead of each calling the customer's login endpoint.
type Tokens struct {
	client *http.Client
	cache  *cache.Cache[[32]byte, string]
}

// NewTokens returns a token cache that fetches with client (the guarded client).
func NewTokens(client *http.Client, now func() time.Time) *Tokens {
	return &Tokens{client: client, cache: cache.New[[32]byte, string](cache.Options[string]{
		TTL: defaultTokenTTL, MaxEntries: maxCachedTokens, Now: now,
	})}
}

// errToken marks failures of the token endpoint, so the attempt log says so.
var errToken = errors.New("token endpoint")

// Get returns a token for a, from the cache unless refresh is set (the receiver
// refused the cached one). A token is kept until shortly before its expires_in.
func (t *Tokens) Get(ctx context.Context, a gancho.Auth, refresh bool) (string, error) {
	k := cacheKey(a)
	if refresh {
		t.cache.Delete(k)
	}
	value, err := t.cache.GetTTL(ctx, k, func(ctx context.Context) (string, time.Duration, error) {
		value, ttl, err := t.fetch(ctx, a)
		return value, max(ttl-tokenMargin, ttl/2), err
	})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return "", fmt.Errorf("%w: %s", errToken, describe(err))
		}
		return "", fmt.Errorf("%w: %v", errToken, err)
	}
	return value, nil
}

// cacheKey covers the whole auth block: a changed URL or credential fetches anew.
func cacheKey(a gancho.Auth) [32]byte {
	b, _ := json.Marshal(a)
	return sha256.Sum256(b)
}

func (t *Tokens) fetch(ctx context.Context, a gancho.Auth) (string, time.Duration, error) {
	var body io.Reader
	contentType := ""
	if len(a.Body) > 0 && a.Method != http.MethodGet {
		if a.BodyEncoding == "form" {
			form := url.Values{}
			for k, v := range a.Body {
				form.Set(k, v)
			}
			body, contentType = strings.NewReader(form.Encode()), "application/x-www-form-urlencoded"
		} else {
			b, err := json.Marshal(a.Body)
			if err != nil {
				return "", 0, err
			}
			body, contentType = bytes.NewReader(b), "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, a.Method, a.URL, body)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("User-Agent", "Gancho/"+gancho.Version)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range a.Headers {
		req.Header.Set(k, v)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return "", 0, errors.New(describe(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody))
	if err != nil {
		return "", 0, fmt.Errorf("reading response: %s", describe(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return "", 0, errors.New("response is not a JSON object")
	}
	token, ok := lookup(doc, a.TokenField).(string)
	if !ok || token == "" {
		return "", 0, fmt.Errorf("response has no string field %q", a.TokenField)
	}
	ttl := defaultTokenTTL
	if a.ExpiresInField != "" {
		switch v := lookup(doc, a.ExpiresInField).(type) {
		case float64:
			ttl = time.Duration(v) * time.Second
		case string:
			if n, err := strconv.Atoi(v); err == nil {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	if ttl <= 0 {
		ttl = time.Second
	}
	return token, ttl, nil
}

// lookup reads a field by a dotted path ("data.access_token").
func lookup(doc map[string]any, path string) any {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}
