package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// The JWT fuzz targets verify tokens for three tenants, one per algorithm, at a
// fixed time, with the JWKS already cached: nothing leaves the process.
var jwtFuzzNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const (
	fuzzJWKSURL  = "https://idp.example/jwks"
	fuzzHSSecret = "fuzz-hs256-secret-of-at-least-32-bytes"
)

type fuzzKeys struct {
	es  *ecdsa.PrivateKey
	rsa *rsa.PrivateKey
}

var fuzzKeysOnce = sync.OnceValue(func() fuzzKeys {
	es, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return fuzzKeys{es: es, rsa: rk}
})

type fixedIssuers map[string]gancho.Tenant

func (f fixedIssuers) TenantByIssuer(_ context.Context, issuer string) (gancho.Tenant, error) {
	if t, ok := f[issuer]; ok {
		return t, nil
	}
	return gancho.Tenant{}, gancho.ErrNotFound
}

type noNetwork struct{}

func (noNetwork) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("no network while fuzzing")
}

func fuzzTenants() fixedIssuers {
	return fixedIssuers{
		"https://hs.example": {ID: "t-hs", Name: "hs", JWT: &gancho.JWTSettings{Issuer: "https://hs.example", Audience: "gancho", Algorithm: gancho.AlgHS256, Secret: fuzzHSSecret}},
		"https://es.example": {ID: "t-es", Name: "es", JWT: &gancho.JWTSettings{Issuer: "https://es.example", Audience: "gancho", Algorithm: gancho.AlgES256, JWKSURL: fuzzJWKSURL}},
		"https://rs.example": {ID: "t-rs", Name: "rs", JWT: &gancho.JWTSettings{Issuer: "https://rs.example", Audience: "gancho", Algorithm: gancho.AlgRS256, JWKSURL: fuzzJWKSURL}},
	}
}

func fuzzVerifier() *jwtVerifier {
	keys := fuzzKeysOnce()
	now := func() time.Time { return jwtFuzzNow }
	v := newJWTVerifier(fuzzTenants(), &http.Client{Transport: noNetwork{}}, now)
	v.jwks.sets.Set(fuzzJWKSURL, &keySet{fetched: jwtFuzzNow, tried: jwtFuzzNow, keys: []jwk{
		{kid: "es1", alg: gancho.AlgES256, key: &keys.es.PublicKey},
		{kid: "rs1", alg: gancho.AlgRS256, key: &keys.rsa.PublicKey},
	}}, 0)
	return v
}

// checkAccepted re-checks, without the JWT library, a token that verify accepted:
// three segments, the issuer's tenant and algorithm, a signature that verifies with
// that tenant's key, the audience, an expiry not yet past, and tenant scopes only.
func checkAccepted(t *testing.T, raw string, p gancho.Principal) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted %q, which is not three segments", raw)
	}
	seg := func(i int) []byte {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[i], "="))
		if err != nil {
			t.Fatalf("accepted %q whose segment %d is not base64url: %v", raw, i, err)
		}
		return b
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss   string          `json:"iss"`
		Aud   json.RawMessage `json:"aud"`
		Exp   *float64        `json:"exp"`
		Scope any             `json:"scope"`
	}
	if err := json.Unmarshal(seg(0), &header); err != nil {
		t.Fatalf("accepted %q with an unreadable header: %v", raw, err)
	}
	if err := json.Unmarshal(seg(1), &claims); err != nil {
		t.Fatalf("accepted %q with unreadable claims: %v", raw, err)
	}
	ten, ok := fuzzTenants()[claims.Iss]
	if !ok || ten.ID != p.TenantID {
		t.Fatalf("accepted %q for tenant %q, but its iss %q is that of %q", raw, p.TenantID, claims.Iss, ten.ID)
	}
	if header.Alg != ten.JWT.Algorithm {
		t.Fatalf("accepted %q with alg %q, configured %q", raw, header.Alg, ten.JWT.Algorithm)
	}
	input := []byte(parts[0] + "." + parts[1])
	sig := seg(2)
	digest := sha256.Sum256(input)
	keys := fuzzKeysOnce()
	switch header.Alg {
	case gancho.AlgHS256:
		mac := hmac.New(sha256.New, []byte(fuzzHSSecret))
		mac.Write(input)
		if !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("accepted %q whose HS256 signature does not verify", raw)
		}
	case gancho.AlgES256:
		if len(sig) != 64 || !ecdsa.Verify(&keys.es.PublicKey, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			t.Fatalf("accepted %q whose ES256 signature does not verify", raw)
		}
	case gancho.AlgRS256:
		if rsa.VerifyPKCS1v15(&keys.rsa.PublicKey, crypto.SHA256, digest[:], sig) != nil {
			t.Fatalf("accepted %q whose RS256 signature does not verify", raw)
		}
	default:
		t.Fatalf("accepted %q with alg %q", raw, header.Alg)
	}
	var auds []string
	if json.Unmarshal(claims.Aud, &auds) != nil {
		var one string
		if json.Unmarshal(claims.Aud, &one) == nil {
			auds = []string{one}
		}
	}
	if !slices.Contains(auds, ten.JWT.Audience) {
		t.Fatalf("accepted %q whose aud %s does not hold %q", raw, claims.Aud, ten.JWT.Audience)
	}
	if claims.Exp == nil || time.Unix(int64(*claims.Exp), 0).Add(jwtLeeway+time.Second).Before(jwtFuzzNow) {
		t.Fatalf("accepted %q without an expiry in the future", raw)
	}
	for _, s := range p.Scopes {
		if !gancho.IsTenantScope(s) {
			t.Fatalf("accepted %q granting scope %q", raw, s)
		}
	}
}

func verifyFuzz(t *testing.T, v *jwtVerifier, raw string) {
	t.Helper()
	p, err := v.verify(context.Background(), raw)
	if err != nil {
		if gancho.KindOf(err) != gancho.KindUnauthorized {
			t.Fatalf("verify(%q) failed with %v, not a 401", raw, err)
		}
		return
	}
	checkAccepted(t, raw, p)
}

func fuzzClaims(iss string) jwt.MapClaims {
	return jwt.MapClaims{"iss": iss, "sub": "user-1", "aud": "gancho", "scope": "events:write openid admin",
		"iat": jwtFuzzNow.Unix(), "exp": jwtFuzzNow.Add(time.Hour).Unix()}
}

func mustSign(f *testing.F, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		f.Fatal(err)
	}
	return s
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// FuzzJWTVerify verifies arbitrary tokens: verify never panics, refuses with a 401,
// and a token it accepts verifies, independently of the JWT library, with the key
// and algorithm its issuer's tenant configured (so an unsigned or forged token is
// never accepted).
func FuzzJWTVerify(f *testing.F) {
	keys := fuzzKeysOnce()
	hs := mustSign(f, jwt.SigningMethodHS256, []byte(fuzzHSSecret), "", fuzzClaims("https://hs.example"))
	es := mustSign(f, jwt.SigningMethodES256, keys.es, "es1", fuzzClaims("https://es.example"))
	rs := mustSign(f, jwt.SigningMethodRS256, keys.rsa, "rs1", fuzzClaims("https://rs.example"))
	esPub, _ := keys.es.PublicKey.Bytes()
	none, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	claims, _ := json.Marshal(fuzzClaims("https://hs.example"))
	for _, s := range []string{
		hs, es, rs, hs + "x", hs[:len(hs)-2], strings.Replace(hs, ".", "..", 1), hs + ".", "Bearer " + hs,
		b64url(none) + "." + b64url(claims) + ".",
		b64url(none) + "." + b64url(claims) + "." + strings.Split(hs, ".")[2],
		mustSign(f, jwt.SigningMethodHS256, esPub, "es1", fuzzClaims("https://es.example")), // alg confusion
		mustSign(f, jwt.SigningMethodHS256, []byte("another-secret-of-at-least-32-bytes!"), "", fuzzClaims("https://hs.example")),
		mustSign(f, jwt.SigningMethodES256, keys.es, "rs1", fuzzClaims("https://rs.example")),
		"", ".", "..", "a.b.c", "e30.e30.", strings.Repeat("a", maxTokenBytes+1),
	} {
		f.Add(s)
	}
	v := fuzzVerifier()
	f.Fuzz(func(t *testing.T, raw string) {
		verifyFuzz(t, v, raw)
	})
}

// FuzzJWTClaims signs fuzzed headers and claims with a chosen key, right or wrong,
// so that the claim checks behind the signature are reached: whatever verify accepts
// passes checkAccepted, and only the tenant's own key ever gets a token accepted.
func FuzzJWTClaims(f *testing.F) {
	header := func(alg, kid string) []byte {
		h := map[string]string{"alg": alg, "typ": "JWT"}
		if kid != "" {
			h["kid"] = kid
		}
		b, _ := json.Marshal(h)
		return b
	}
	claims := func(iss string, edit func(jwt.MapClaims)) []byte {
		c := fuzzClaims(iss)
		if edit != nil {
			edit(c)
		}
		b, _ := json.Marshal(c)
		return b
	}
	for mode := range uint8(5) {
		f.Add(header("HS256", ""), claims("https://hs.example", nil), mode)
		f.Add(header("ES256", "es1"), claims("https://es.example", nil), mode)
		f.Add(header("RS256", "rs1"), claims("https://rs.example", nil), mode)
	}
	for _, edit := range []func(jwt.MapClaims){
		func(c jwt.MapClaims) { delete(c, "exp") },
		func(c jwt.MapClaims) { c["exp"] = jwtFuzzNow.Add(-time.Hour).Unix() },
		func(c jwt.MapClaims) { c["exp"] = "tomorrow" },
		func(c jwt.MapClaims) { c["exp"] = 1e300 },
		func(c jwt.MapClaims) { c["nbf"] = jwtFuzzNow.Add(time.Hour).Unix() },
		func(c jwt.MapClaims) { c["iat"] = jwtFuzzNow.Add(time.Hour).Unix() },
		func(c jwt.MapClaims) { c["aud"] = []string{"other", "gancho"} },
		func(c jwt.MapClaims) { c["aud"] = []string{"other"} },
		func(c jwt.MapClaims) { delete(c, "aud") },
		func(c jwt.MapClaims) { c["scope"] = []any{"events:write", 1} },
		func(c jwt.MapClaims) { c["owner"] = "c#1" },
		func(c jwt.MapClaims) { c["owner"] = 7 },
		func(c jwt.MapClaims) { c["iss"] = []string{"https://hs.example"} },
	} {
		f.Add(header("HS256", ""), claims("https://hs.example", edit), uint8(0))
	}
	f.Add([]byte(`{"alg":"HS256","crit":["exp"]}`), claims("https://hs.example", nil), uint8(0))
	f.Add([]byte(`{"alg":"none"}`), claims("https://hs.example", nil), uint8(3))
	f.Add([]byte(`{"alg":"HS256","alg":"none"}`), claims("https://hs.example", nil), uint8(0))
	v := fuzzVerifier()
	keys := fuzzKeysOnce()
	esPub, _ := keys.es.PublicKey.Bytes()
	f.Fuzz(func(t *testing.T, header, claims []byte, mode uint8) {
		input := b64url(header) + "." + b64url(claims)
		digest := sha256.Sum256([]byte(input))
		var sig []byte
		switch mode % 5 {
		case 0: // the right key for the header's algorithm
			var h struct {
				Alg string `json:"alg"`
			}
			_ = json.Unmarshal(header, &h)
			switch h.Alg {
			case "ES256":
				r, s, err := ecdsa.Sign(rand.Reader, keys.es, digest[:])
				if err != nil {
					t.Fatal(err)
				}
				sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
			case "RS256":
				var err error
				if sig, err = rsa.SignPKCS1v15(nil, keys.rsa, crypto.SHA256, digest[:]); err != nil {
					t.Fatal(err)
				}
			default:
				mac := hmac.New(sha256.New, []byte(fuzzHSSecret))
				mac.Write([]byte(input))
				sig = mac.Sum(nil)
			}
		case 1: // another secret
			mac := hmac.New(sha256.New, []byte("another-secret-of-at-least-32-bytes!"))
			mac.Write([]byte(input))
			sig = mac.Sum(nil)
		case 2: // the ES256 public key used as an HMAC secret (algorithm confusion)
			mac := hmac.New(sha256.New, esPub)
			mac.Write([]byte(input))
			sig = mac.Sum(nil)
		case 3: // unsigned
		case 4: // a signature over other content
			mac := hmac.New(sha256.New, []byte(fuzzHSSecret))
			mac.Write([]byte(input + "x"))
			sig = mac.Sum(nil)
		}
		raw := input + "." + b64url(sig)
		p, err := v.verify(context.Background(), raw)
		if err != nil {
			if gancho.KindOf(err) != gancho.KindUnauthorized {
				t.Fatalf("verify(%q) failed with %v, not a 401", raw, err)
			}
			return
		}
		if mode%5 != 0 {
			t.Fatalf("verify accepted a token signed in mode %d: %q", mode%5, raw)
		}
		checkAccepted(t, raw, p)
	})
}

// TestJWTFuzzFixture keeps the fuzz targets meaningful: the fixture accepts a
// correctly signed token of each tenant, so checkAccepted is reached.
func TestJWTFuzzFixture(t *testing.T) {
	keys := fuzzKeysOnce()
	v := fuzzVerifier()
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    any
		kid    string
		iss    string
		tenant string
	}{
		{jwt.SigningMethodHS256, []byte(fuzzHSSecret), "", "https://hs.example", "t-hs"},
		{jwt.SigningMethodES256, keys.es, "es1", "https://es.example", "t-es"},
		{jwt.SigningMethodRS256, keys.rsa, "rs1", "https://rs.example", "t-rs"},
	} {
		tok := jwt.NewWithClaims(tc.method, fuzzClaims(tc.iss))
		if tc.kid != "" {
			tok.Header["kid"] = tc.kid
		}
		raw, err := tok.SignedString(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		p, err := v.verify(context.Background(), raw)
		if err != nil || p.TenantID != tc.tenant {
			t.Fatalf("%s token: %+v, %v", tc.method.Alg(), p, err)
		}
		checkAccepted(t, raw, p)
		if !slices.Equal(p.Scopes, []string{"events:write"}) {
			t.Fatalf("%s token scopes %v, want only the tenant scope", tc.method.Alg(), p.Scopes)
		}
	}
}
