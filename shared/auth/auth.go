// Package auth resolves a request's credentials to a principal: the platform
// operator's admin key, a tenant's API key, or a JWT of a tenant's configured issuer
// (its JWKS fetched and cached here); and it decides whether a principal may call a
// route of a given scope. Key, issuer and JWKS lookups are cached per process.
package auth

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
	"time"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// Route scopes beyond the tenant scopes in package gancho.
const (
	// ScopeNone marks routes that need no credentials.
	ScopeNone = ""
	// ScopeAuthenticated marks routes any valid credential may call.
	ScopeAuthenticated = "authenticated"
	// ScopeAdmin is the platform operator's (tenants, dead letters); never a tenant scope.
	ScopeAdmin = "admin"
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

// KeyCacheTTL bounds how long a revoked key keeps working, and how long a change to
// a tenant's JWT settings takes to apply: each process (each route's Lambda) keeps
// what it read for at most this long, and nothing one process drops reaches another.
const KeyCacheTTL = 60 * time.Second

// unknownKeyTTL is how long a key or issuer that was not found stays unknown.
const unknownKeyTTL = 5 * time.Second

// AdminKeyID is the KeyID of the platform operator's principal.
const AdminKeyID = "admin"

// Config configures an Authenticator.
type Config struct {
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
	keyCache  *cache.Cache[string, gancho.APIKey] // by key hash
}

// notFoundFor remembers "not found" briefly, so a client retrying an unknown
// credential costs one lookup per unknownKeyTTL.
func notFoundFor(err error) (time.Duration, bool) {
	return unknownKeyTTL, errors.Is(err, gancho.ErrNotFound)
}

// New returns an Authenticator.
func New(c Config) *Authenticator {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return &Authenticator{
		keys:      c.Keys,
		adminHash: strings.ToLower(strings.TrimSpace(c.AdminKeyHash)),
		now:       now,
		jwt:       newJWTVerifier(c.Issuers, c.Client, now),
		keyCache: cache.New[string, gancho.APIKey](cache.Options[gancho.APIKey]{
			TTL: KeyCacheTTL, MaxEntries: maxCachedKeys, Negative: notFoundFor, Now: now,
		}),
	}
}

const maxCachedKeys = 10000

var errNoCredentials = gancho.Errorf(gancho.KindUnauthorized, "missing credentials: send Authorization: Bearer <api key or JWT> or X-API-Key")
var errBadCredentials = gancho.Errorf(gancho.KindUnauthorized, "invalid or revoked API key")
var errExpired = gancho.Errorf(gancho.KindUnauthorized, "this credential expired: a portal link works until its expiresAt; ask for a new link")
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
	if k.Expired(a.now()) {
		// Checked on every request, cached or not: the cache keeps keys for up to
		// KeyCacheTTL, and a portal link must stop at its expiresAt.
		return gancho.Principal{}, errExpired
	}
	return gancho.Principal{TenantID: k.TenantID, KeyID: k.ID, Scopes: k.Scopes, OwnerID: k.OwnerID, Portal: k.Portal}, nil
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
	k, err := a.keyCache.Get(ctx, hash, func(ctx context.Context) (gancho.APIKey, error) {
		return a.keys.LookupAPIKey(ctx, hash)
	})
	switch {
	case errors.Is(err, gancho.ErrNotFound):
		return gancho.APIKey{}, errBadCredentials
	case err != nil:
		return gancho.APIKey{}, fmt.Errorf("authenticate: %w", err)
	case k.Revoked:
		return gancho.APIKey{}, errBadCredentials
	}
	return k, nil
}

// Revoked drops tenant's key id from this process's cache, so its next request here
// reads the revocation. It is a convenience for a single process (make run); other
// processes see it within KeyCacheTTL, the documented bound.
func (a *Authenticator) Revoked(tenant, id string) {
	a.keyCache.DeleteFunc(func(_ string, k gancho.APIKey) bool { return k.TenantID == tenant && k.ID == id })
}

// TenantChanged drops what this process cached about a tenant's JWT issuers, so
// new settings apply to its next request.
func (a *Authenticator) TenantChanged(issuers ...string) {
	a.jwt.forget(issuers...)
}
