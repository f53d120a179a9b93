package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gancho-dev/gancho/shared/cache"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/outbound"
)

// IssuerStore finds the tenant that configured a JWT issuer.
type IssuerStore interface {
	TenantByIssuer(ctx context.Context, issuer string) (gancho.Tenant, error)
}

// JWT verification limits.
const (
	jwtLeeway        = 30 * time.Second
	maxTokenBytes    = 16 << 10
	jwksTTL          = 10 * time.Minute
	jwksMinRefetch   = time.Minute      // at most one refetch per minute on an unknown kid
	jwksRetry        = 10 * time.Second // after a failed fetch
	jwksMaxStale     = time.Hour        // keys kept while their JWKS cannot be fetched
	jwksFetchTimeout = 5 * time.Second
	maxJWKSBytes     = 512 << 10
	maxCachedJWKS    = 1000
	minRSABits       = 2048
)

// jwtVerifier verifies tenants' JWTs with the settings of the tenant that
// configured the token's issuer, and nothing else.
type jwtVerifier struct {
	issuers IssuerStore
	now     func() time.Time
	jwks    *jwksCache
	cache   *cache.Cache[string, gancho.Tenant] // by issuer
}

func newJWTVerifier(issuers IssuerStore, client *http.Client, now func() time.Time) *jwtVerifier {
	if client == nil {
		client = outbound.NewClient(outbound.Options{})
	}
	return &jwtVerifier{issuers: issuers, now: now,
		cache: cache.New[string, gancho.Tenant](cache.Options[gancho.Tenant]{
			TTL: KeyCacheTTL, MaxEntries: maxCachedKeys, Negative: notFoundFor, Now: now,
		}),
		jwks: newJWKSCache(client, now)}
}

// tokenClaims are the claims Gancho reads: the registered ones, scope and owner.
type tokenClaims struct {
	jwt.RegisteredClaims
	Scope any `json:"scope,omitempty"` // space-separated string (or an array of scopes)
	Owner any `json:"owner,omitempty"`
}

func tokenError(format string, args ...any) error {
	return gancho.Errorf(gancho.KindUnauthorized, "invalid token: "+format, args...)
}

// Sentinels from the key function, turned into details by verify.
var (
	errUnknownKID  = errors.New("no key in the issuer's JWKS matches the token")
	errJWKSFailure = errors.New("the issuer's JWKS could not be fetched")
)

func (v *jwtVerifier) verify(ctx context.Context, raw string) (gancho.Principal, error) {
	if v.issuers == nil {
		return gancho.Principal{}, tokenError("JWTs are not accepted here")
	}
	if len(raw) > maxTokenBytes {
		return gancho.Principal{}, tokenError("too large")
	}
	var unverified tokenClaims
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &unverified)
	if errors.Is(err, jwt.ErrTokenUnverifiable) {
		return gancho.Principal{}, tokenError("unsupported signing algorithm")
	}
	if err != nil {
		return gancho.Principal{}, tokenError("malformed")
	}
	if unverified.Issuer == "" {
		return gancho.Principal{}, tokenError("the iss claim is required")
	}
	t, err := v.tenant(ctx, unverified.Issuer)
	if err != nil {
		return gancho.Principal{}, err
	}
	s := t.JWT
	if alg, _ := tok.Header["alg"].(string); alg != s.Algorithm {
		return gancho.Principal{}, tokenError("algorithm %q is not the one configured for this issuer", alg)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{s.Algorithm}),
		jwt.WithIssuer(s.Issuer),
		jwt.WithAudience(s.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(v.now),
	)
	var claims tokenClaims
	_, err = parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		if s.Algorithm == gancho.AlgHS256 {
			if s.Secret == "" {
				return nil, errUnknownKID
			}
			return []byte(s.Secret), nil
		}
		kid, _ := tok.Header["kid"].(string)
		return v.jwks.key(ctx, s.JWKSURL, s.Algorithm, kid)
	})
	if err != nil {
		return gancho.Principal{}, describeTokenError(err)
	}
	scopes, err := tokenScopes(claims.Scope)
	if err != nil {
		return gancho.Principal{}, err
	}
	owner := ""
	if claims.Owner != nil {
		o, ok := claims.Owner.(string)
		if !ok || o == "" || len(o) > 200 || strings.ContainsAny(o, "#\x00") || strings.ContainsFunc(o, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return gancho.Principal{}, tokenError("the owner claim must be a non-empty string of at most 200 characters without '#' or control characters")
		}
		owner = o
	}
	return gancho.Principal{TenantID: t.ID, KeyID: jwtKeyID(claims.Issuer, claims.Subject), Scopes: scopes, OwnerID: owner}, nil
}

// jwtKeyEscaper escapes the separator (and the escape character) in an issuer.
var jwtKeyEscaper = strings.NewReplacer("%", "%25", "#", "%23")

// jwtKeyID names a token's credential, "jwt:<issuer>#<subject>": the subject alone
// is not enough, since a tenant that changes identity provider may see the same
// subject from two issuers, and idempotency keys are per credential. The issuer's
// '#' and '%' are escaped, so the first '#' always ends it.
func jwtKeyID(issuer, subject string) string {
	return "jwt:" + jwtKeyEscaper.Replace(issuer) + "#" + subject
}

// tokenScopes reads the scope claim, keeping tenant scopes and ignoring others
// (an identity provider's own, such as openid); admin is never granted by a token.
func tokenScopes(v any) ([]string, error) {
	var names []string
	switch s := v.(type) {
	case nil:
	case string:
		names = strings.Fields(s)
	case []any:
		for _, e := range s {
			str, ok := e.(string)
			if !ok {
				return nil, tokenError("the scope claim must be a space-separated string")
			}
			names = append(names, str)
		}
	default:
		return nil, tokenError("the scope claim must be a space-separated string")
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if gancho.IsTenantScope(n) && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func describeTokenError(err error) error {
	switch {
	case errors.Is(err, errUnknownKID):
		return tokenError("%s", errUnknownKID.Error())
	case errors.Is(err, errJWKSFailure):
		return tokenError("%s", errJWKSFailure.Error())
	case errors.Is(err, jwt.ErrTokenMalformed):
		return tokenError("malformed")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return tokenError("the signature does not verify")
	case errors.Is(err, jwt.ErrTokenExpired):
		return tokenError("the token has expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		for _, c := range []string{"exp", "aud", "iss"} {
			if strings.Contains(err.Error(), c+" claim is required") {
				return tokenError("the %s claim is required", c)
			}
		}
		return tokenError("a required claim is missing")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return tokenError("the aud claim does not match the configured audience")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return tokenError("the iss claim does not match")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return tokenError("the token is not valid yet (nbf)")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return tokenError("the iat claim is in the future")
	case errors.Is(err, jwt.ErrInvalidType):
		return tokenError("a registered claim has the wrong type")
	}
	return tokenError("could not be verified")
}

// tenant finds the tenant of issuer, cached like API keys.
func (v *jwtVerifier) tenant(ctx context.Context, issuer string) (gancho.Tenant, error) {
	t, err := v.cache.Get(ctx, issuer, func(ctx context.Context) (gancho.Tenant, error) {
		t, err := v.issuers.TenantByIssuer(ctx, issuer)
		if err == nil && (t.JWT == nil || t.JWT.Issuer != issuer) {
			return gancho.Tenant{}, gancho.ErrNotFound
		}
		return t, err
	})
	switch {
	case errors.Is(err, gancho.ErrNotFound):
		return gancho.Tenant{}, tokenError("the issuer is not configured for any tenant")
	case err != nil:
		return gancho.Tenant{}, fmt.Errorf("authenticate token: %w", err)
	}
	return t, nil
}

// forget drops issuers from this process's cache (their tenant changed here).
func (v *jwtVerifier) forget(issuers ...string) {
	for _, iss := range issuers {
		v.cache.Delete(iss)
	}
}

// jwksCache holds the signing keys of each JWKS URL for jwksTTL, and fetches them
// again early, at most once per jwksMinRefetch, when a token names an unknown kid.
type jwksCache struct {
	client *http.Client
	now    func() time.Time

	// sets holds a key set per JWKS URL; an entry lives as long as its keys may
	// be used (jwksTTL, then jwksMaxStale while refetches fail).
	sets *cache.Cache[string, *keySet]
}

type keySet struct {
	mu      sync.Mutex
	keys    []jwk
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt
	err     error     // of the last attempt
}

type jwk struct {
	kid string
	alg string // algorithm this key verifies
	key any
}

func newJWKSCache(client *http.Client, now func() time.Time) *jwksCache {
	return &jwksCache{client: client, now: now,
		sets: cache.New[string, *keySet](cache.Options[*keySet]{TTL: jwksTTL + jwksMaxStale, MaxEntries: maxCachedJWKS, Now: now})}
}

func (c *jwksCache) set(ctx context.Context, url string) *keySet {
	ks, _ := c.sets.Get(ctx, url, func(context.Context) (*keySet, error) { return &keySet{}, nil })
	if ks == nil { // ctx ended
		ks = &keySet{}
	}
	return ks
}

// key returns the verification key for a token of alg with kid (empty kid: the
// set's only key for alg).
func (c *jwksCache) key(ctx context.Context, url, alg, kid string) (any, error) {
	ks := c.set(ctx, url)
	ks.mu.Lock()
	defer ks.mu.Unlock()
	now := c.now()
	fetched := false
	if (ks.fetched.IsZero() || now.Sub(ks.fetched) > jwksTTL) && (ks.tried.IsZero() || now.Sub(ks.tried) >= jwksRetry) {
		fetched = true
		if c.fetch(ctx, url, ks, now) != nil && now.Sub(ks.fetched) > jwksMaxStale {
			ks.keys = nil
		}
	}
	if k, ok := ks.find(alg, kid); ok {
		return k, nil
	}
	if !fetched && now.Sub(ks.tried) >= jwksMinRefetch {
		if c.fetch(ctx, url, ks, now) == nil {
			if k, ok := ks.find(alg, kid); ok {
				return k, nil
			}
		}
	}
	if len(ks.keys) == 0 && ks.err != nil {
		return nil, fmt.Errorf("%w: %w", errJWKSFailure, ks.err)
	}
	return nil, errUnknownKID
}

func (ks *keySet) find(alg, kid string) (any, bool) {
	var match []jwk
	for _, k := range ks.keys {
		if k.alg == alg && (kid == "" || k.kid == kid) {
			match = append(match, k)
		}
	}
	if len(match) != 1 {
		return nil, false
	}
	return match[0].key, true
}

func (c *jwksCache) fetch(ctx context.Context, url string, ks *keySet, now time.Time) error {
	ks.tried = now
	keys, err := c.get(ctx, url)
	ks.err = err
	if err != nil {
		return err
	}
	ks.keys, ks.fetched = keys, now
	c.sets.Set(url, ks, 0) // kept jwksTTL + jwksMaxStale from this fetch
	return nil
}

// get fetches and parses the JWKS document at url.
func (c *jwksCache) get(ctx context.Context, url string) ([]jwk, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Gancho/"+gancho.Version)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read jwks: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks larger than %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// rawJWK is one entry of a JWKS document (RFC 7517).
type rawJWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS keeps the set's RS256 (RSA, at least 2048 bits) and ES256 (P-256)
// signing keys and skips every other entry.
func parseJWKS(body []byte) ([]jwk, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	var out []jwk
	for _, raw := range doc.Keys {
		var k rawJWK
		if json.Unmarshal(raw, &k) != nil || (k.Use != "" && k.Use != "sig") {
			continue
		}
		switch {
		case k.Kty == "RSA" && (k.Alg == "" || k.Alg == gancho.AlgRS256):
			if pub, err := rsaKey(k); err == nil {
				out = append(out, jwk{kid: k.Kid, alg: gancho.AlgRS256, key: pub})
			}
		case k.Kty == "EC" && k.Crv == "P-256" && (k.Alg == "" || k.Alg == gancho.AlgES256):
			if pub, err := ecKey(k); err == nil {
				out = append(out, jwk{kid: k.Kid, alg: gancho.AlgES256, key: pub})
			}
		}
	}
	return out, nil
}

func rsaKey(k rawJWK) (*rsa.PublicKey, error) {
	n, err := base64.RawURLEncoding.DecodeString(k.N)
	if err != nil {
		return nil, fmt.Errorf("jwk n: %w", err)
	}
	e, err := base64.RawURLEncoding.DecodeString(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("jwk e is not valid")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if pub.N.BitLen() < minRSABits || pub.E < 3 || pub.E%2 == 0 {
		return nil, errors.New("jwk rsa key is too weak")
	}
	return pub, nil
}

func ecKey(k rawJWK) (*ecdsa.PublicKey, error) {
	x, errX := base64.RawURLEncoding.DecodeString(k.X)
	y, errY := base64.RawURLEncoding.DecodeString(k.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, errors.New("jwk x/y are not valid P-256 coordinates")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("jwk ec key: %w", err)
	}
	return pub, nil
}
