package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
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

// KeyCacheTTL bounds how long a revoked key keeps working (in other processes).
const KeyCacheTTL = 60 * time.Second

// AdminKeyID is the KeyID of the platform operator's principal.
const AdminKeyID = "admin"

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	Keys    KeyStore
	Issuers IssuerStore // nil: JWTs are refused
	// AdminKeyHash is the SHA-256 (hex) of the operator's key; empty: no admin key.
	AdminKeyHash string
	// Client fetches JWKS documents; it must be the SSRF-guarded outbound client.
	Client *http.Client
	Now    func() time.Time
}

// Authenticator resolves request credentials to a principal: the operator's admin
// key, a tenant API key, or a JWT of a tenant's configured issuer. Key and issuer
// lookups are cached for at most KeyCacheTTL.
type Authenticator struct {
	keys      KeyStore
	adminHash string
	now       func() time.Time
	jwt       *jwtVerifier

	mu      sync.Mutex
	cache   map[string]cachedKey
	revoked map[string]time.Time // tenant + "/" + key id → until when a stale lookup must not revive it
}

type cachedKey struct {
	key     gancho.APIKey
	found   bool
	expires time.Time
}

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(c AuthConfig) *Authenticator {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Authenticator{
		keys:      c.Keys,
		adminHash: strings.ToLower(strings.TrimSpace(c.AdminKeyHash)),
		now:       now,
		jwt:       newJWTVerifier(c.Issuers, c.Client, now),
		cache:     map[string]cachedKey{},
		revoked:   map[string]time.Time{},
	}
}

const maxCachedKeys = 10000

var errNoCredentials = gancho.Errorf(gancho.KindUnauthorized, "missing credentials: send Authorization: Bearer <api key or JWT> or X-API-Key")
var errBadCredentials = gancho.Errorf(gancho.KindUnauthorized, "invalid or revoked API key")
var errBadAuthorization = gancho.Errorf(gancho.KindUnauthorized, "the Authorization header must be \"Bearer <api key or JWT>\"")

// Authenticate reads X-API-Key or Authorization: Bearer. A bearer value shaped like
// a JWT (three dot-separated parts) is verified as one; API keys never contain dots.
func (a *Authenticator) Authenticate(r *http.Request) (gancho.Principal, error) {
	raw, bearer := strings.TrimSpace(r.Header.Get("X-API-Key")), false
	if raw == "" {
		if h := r.Header.Get("Authorization"); h != "" {
			scheme, token, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				return gancho.Principal{}, errBadAuthorization
			}
			raw, bearer = strings.TrimSpace(token), true
		}
	}
	if raw == "" {
		return gancho.Principal{}, errNoCredentials
	}
	hash := HashKey(raw)
	if a.adminHash != "" && subtle.ConstantTimeCompare([]byte(hash), []byte(a.adminHash)) == 1 {
		return gancho.Principal{KeyID: AdminKeyID, Scopes: []string{ScopeAdmin}}, nil
	}
	if bearer && strings.Count(raw, ".") == 2 {
		return a.jwt.verify(r.Context(), raw)
	}
	k, err := a.lookup(r.Context(), hash)
	if err != nil {
		return gancho.Principal{}, err
	}
	return gancho.Principal{TenantID: k.TenantID, KeyID: k.ID, Scopes: k.Scopes, OwnerID: k.OwnerID}, nil
}

// Authorize checks that p may call a route needing scope: the admin scope only for
// the operator, and tenant routes only for tenant principals.
func Authorize(p gancho.Principal, scope string) error {
	switch {
	case scope == ScopeNone:
		return nil
	case scope == ScopeAdmin:
		if p.TenantID != "" || !p.Has(ScopeAdmin) {
			return gancho.Errorf(gancho.KindForbidden, "this route needs the platform operator's admin key")
		}
		return nil
	case p.TenantID == "":
		return gancho.Errorf(gancho.KindForbidden, "the admin key cannot call tenant routes; use one of the tenant's API keys")
	case scope == gancho.ScopeTenantWrite && p.OwnerID != "":
		// Tenant settings and the default secret span every owner: an owner-bound
		// credential could otherwise widen itself (e.g. through the JWT settings).
		return gancho.Errorf(gancho.KindForbidden, "owner-bound credentials cannot change tenant settings or read its secret")
	case scope == ScopeAuthenticated || p.Has(scope):
		return nil
	}
	return gancho.Errorf(gancho.KindForbidden, "this credential lacks the %s scope", scope)
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
	if !c.found || c.key.Revoked || a.isRevoked(c.key.TenantID, c.key.ID, now) {
		return gancho.APIKey{}, errBadCredentials
	}
	return c.key, nil
}

func (a *Authenticator) isRevoked(tenant, id string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.revoked[tenant+"/"+id]
	if ok && now.After(until) {
		delete(a.revoked, tenant+"/"+id)
		return false
	}
	return ok
}

// Revoked makes tenant's key id fail authentication in this process at once, even
// when a lookup that started before the revocation caches it afterwards.
func (a *Authenticator) Revoked(tenant, id string) {
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for hash, c := range a.cache {
		if c.key.TenantID == tenant && c.key.ID == id {
			delete(a.cache, hash)
		}
	}
	for k, until := range a.revoked {
		if now.After(until) {
			delete(a.revoked, k)
		}
	}
	a.revoked[tenant+"/"+id] = now.Add(2 * KeyCacheTTL)
}

// TenantChanged drops what this process cached about a tenant's JWT issuers, so
// new settings apply to its next request.
func (a *Authenticator) TenantChanged(issuers ...string) {
	a.jwt.forget(issuers...)
}
