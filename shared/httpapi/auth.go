package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// KeyStore finds API keys by hash.
type KeyStore interface {
	LookupAPIKey(ctx context.Context, hash string) (gancho.APIKey, error)
}

// KeyPrefix starts every Gancho API key.
const KeyPrefix = "gk_"

// NewAPIKey returns a new random API key (shown once; only its hash is stored).
func NewAPIKey() string {
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(gancho.RandomToken(32))
}

// HashKey is the stored form of an API key. Keys carry 256 random bits, so a fast
// hash is enough: there is nothing to brute-force.
func HashKey(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// KeyCacheTTL bounds how long a revoked key keeps working.
const KeyCacheTTL = 60 * time.Second

// Authenticator resolves request credentials to a principal, caching key lookups.
type Authenticator struct {
	keys KeyStore
	now  func() time.Time

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     gancho.APIKey
	found   bool
	expires time.Time
}

// NewAuthenticator returns an Authenticator over keys.
func NewAuthenticator(keys KeyStore, now func() time.Time) *Authenticator {
	return &Authenticator{keys: keys, now: now, cache: map[string]cachedKey{}}
}

const maxCachedKeys = 10000

var errNoCredentials = gancho.Errorf(gancho.KindUnauthorized, "missing credentials: send Authorization: Bearer <api key> or X-API-Key")
var errBadCredentials = gancho.Errorf(gancho.KindUnauthorized, "invalid or revoked API key")

// Authenticate reads Authorization: Bearer or X-API-Key.
func (a *Authenticator) Authenticate(r *http.Request) (gancho.Principal, error) {
	raw := r.Header.Get("X-API-Key")
	if raw == "" {
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, token, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return gancho.Principal{}, errBadCredentials
			}
			raw = strings.TrimSpace(token)
		}
	}
	if raw == "" {
		return gancho.Principal{}, errNoCredentials
	}
	k, err := a.lookup(r.Context(), HashKey(raw))
	if err != nil {
		return gancho.Principal{}, err
	}
	return gancho.Principal{TenantID: k.TenantID, KeyID: k.ID, Scopes: k.Scopes, OwnerID: k.OwnerID}, nil
}

func (a *Authenticator) lookup(ctx context.Context, hash string) (gancho.APIKey, error) {
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[hash]
	a.mu.Unlock()
	if !ok || now.After(c.expires) {
		k, err := a.keys.LookupAPIKey(ctx, hash)
		found := err == nil
		if err != nil && !errors.Is(err, gancho.ErrNotFound) {
			return gancho.APIKey{}, fmt.Errorf("authenticate: %w", err)
		}
		ttl := KeyCacheTTL
		if !found {
			ttl = 5 * time.Second // unknown keys are looked up again soon
		}
		c = cachedKey{key: k, found: found, expires: now.Add(ttl)}
		a.mu.Lock()
		if len(a.cache) >= maxCachedKeys {
			clear(a.cache)
		}
		a.cache[hash] = c
		a.mu.Unlock()
	}
	if !c.found || c.key.Revoked {
		return gancho.APIKey{}, errBadCredentials
	}
	return c.key, nil
}
