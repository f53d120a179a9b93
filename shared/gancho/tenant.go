package gancho

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Tenant is an API provider using Gancho, with its settings.
type Tenant struct {
	ID   string `json:"id" schema:"readOnly"`
	Name string `json:"name"`
	// SignatureHeader, when set, carries "sha256=<hex HMAC>" of each delivery's body
	// in addition to the Standard Webhooks headers (e.g. X-JuriChat-Signature).
	SignatureHeader string `json:"signatureHeader,omitempty" doc:"an extra header carrying sha256=<hex HMAC-SHA256 of the body>, e.g. X-JuriChat-Signature"`
	// PublicBaseURL is where this API is reachable, for links in notices; no
	// trailing slash.
	PublicBaseURL string       `json:"publicBaseUrl,omitempty" doc:"base of the links in notices"`
	JWT           *JWTSettings `json:"jwt,omitempty" doc:"the JWT issuer: iss, aud, an HS256 secret (write-only) or a JWKS URL, the pinned algorithm"`
	// AllowedEventTypesOnly confines subscriptions and publishes to the catalog.
	// NewTenant sets it; a zero Tenant (built directly) leaves it off.
	AllowedEventTypesOnly bool `json:"allowedEventTypesOnly"`
	// Secret is the tenant's default signing secret (write-only).
	Secret string `json:"secret,omitempty" schema:"readOnly" doc:"the default signing secret, masked"`
	// PreviousSecret still signs until PreviousSecretValidUntil, after a rotation.
	PreviousSecret           string     `json:"previousSecret,omitempty" schema:"readOnly" doc:"the rotated-out secret, masked, while it still signs"`
	PreviousSecretValidUntil *time.Time `json:"previousSecretValidUntil,omitempty" schema:"readOnly"`
	CreatedAt                time.Time  `json:"createdAt" schema:"readOnly"`
	UpdatedAt                time.Time  `json:"updatedAt" schema:"readOnly"`
}

// JWTSettings let a tenant's own identity provider issue tokens for this API.
type JWTSettings struct {
	Issuer    string `json:"issuer"`
	Audience  string `json:"audience"`
	Algorithm string `json:"algorithm" schema:"enum=HS256|RS256|ES256"`
	Secret    string `json:"secret,omitempty" doc:"HS256 only; write-only: shown masked"` // HS256 only; write-only
	JWKSURL   string `json:"jwksUrl,omitempty"`                                           // RS256, ES256
}

// JWT algorithms a tenant may pin.
const (
	AlgHS256 = "HS256"
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// Tenant limits.
const (
	MaxTenantIDLength      = 64
	MinJWTSecretBytes      = 32
	MaxJWTSecretBytes      = 1024
	MaxIssuerLength        = 512
	MaxAudienceLength      = 512
	MaxHeaderNameLength    = 100
	PreviousSecretLifetime = 24 * time.Hour
)

// ErrIssuerTaken is returned by stores when another tenant already uses a JWT issuer.
var ErrIssuerTaken = errors.New("issuer already used by another tenant")

// IsTenantScope reports whether s is a scope a tenant credential may hold.
func IsTenantScope(s string) bool {
	for _, t := range AllTenantScopes {
		if s == t {
			return true
		}
	}
	return false
}

// TenantInput is what the platform operator sends to create a tenant.
type TenantInput struct {
	ID   *string `json:"id" doc:"optional tenant id; generated when left out"`
	Name *string `json:"name" doc:"the tenant's display name"`
}

// NewTenant validates in and returns a new tenant created at now: its id (generated
// when in has none), its defaults, and its default secret. Every tenant has one from
// its creation: it signs the tenant's callbackUrl deliveries.
func NewTenant(in TenantInput, now time.Time) (Tenant, error) {
	var errs []FieldError
	t := Tenant{AllowedEventTypesOnly: true}
	if in.ID != nil {
		if msg := checkTenantID(*in.ID); msg != "" {
			errs = append(errs, FieldError{Field: "id", Message: msg})
		}
		t.ID = *in.ID
	}
	if in.Name == nil {
		errs = append(errs, FieldError{Field: "name", Message: "is required"})
	} else {
		t.Name = strings.TrimSpace(*in.Name)
		if msg := checkTenantName(t.Name); msg != "" {
			errs = append(errs, FieldError{Field: "name", Message: msg})
		}
	}
	if len(errs) > 0 {
		return Tenant{}, Invalid(errs...)
	}
	now = now.UTC()
	if t.ID == "" {
		t.ID = NewID(PrefixTenant, now)
	}
	t.Secret, t.CreatedAt, t.UpdatedAt = NewSecret(), now, now
	return t, nil
}

func checkTenantID(id string) string {
	if id == "" || len(id) > MaxTenantIDLength {
		return fmt.Sprintf("must be 1-%d characters", MaxTenantIDLength)
	}
	for i, r := range id {
		alnum := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || r != '_' && r != '-') {
			return "may contain only letters, digits, '_' and '-', starting with a letter or digit"
		}
	}
	return ""
}

func checkTenantName(name string) string {
	if n := utf8.RuneCountInString(name); n < 1 || n > MaxNameLength {
		return fmt.Sprintf("must be 1-%d characters", MaxNameLength)
	}
	if strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "must not contain control characters"
	}
	return ""
}

// Validate checks t's settings, naming each invalid field.
func (t Tenant) Validate(policy TargetPolicy) error {
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	if msg := checkTenantName(t.Name); msg != "" {
		bad("name", msg)
	}
	if t.SignatureHeader != "" {
		if msg := checkSignatureHeader(t.SignatureHeader); msg != "" {
			bad("signatureHeader", msg)
		}
	}
	if t.PublicBaseURL != "" {
		if msg := checkPublicBaseURL(t.PublicBaseURL); msg != "" {
			bad("publicBaseUrl", msg)
		}
	}
	if t.JWT != nil {
		for _, fe := range t.JWT.validate(policy) {
			bad("jwt."+fe.Field, fe.Message)
		}
	}
	if len(errs) > 0 {
		return Invalid(errs...)
	}
	return nil
}

func (j JWTSettings) validate(policy TargetPolicy) []FieldError {
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	switch {
	case j.Issuer == "":
		bad("issuer", "is required")
	case len(j.Issuer) > MaxIssuerLength || strings.ContainsFunc(j.Issuer, isControl):
		bad("issuer", fmt.Sprintf("must be at most %d characters without control characters", MaxIssuerLength))
	}
	switch {
	case j.Audience == "":
		bad("audience", "is required")
	case len(j.Audience) > MaxAudienceLength || strings.ContainsFunc(j.Audience, isControl):
		bad("audience", fmt.Sprintf("must be at most %d characters without control characters", MaxAudienceLength))
	}
	switch j.Algorithm {
	case AlgHS256:
		switch {
		case j.Secret == "":
			bad("secret", "is required for HS256")
		case len(j.Secret) < MinJWTSecretBytes || len(j.Secret) > MaxJWTSecretBytes:
			bad("secret", fmt.Sprintf("must be %d-%d bytes", MinJWTSecretBytes, MaxJWTSecretBytes))
		}
		if j.JWKSURL != "" {
			bad("jwksUrl", "is only used with RS256 and ES256")
		}
	case AlgRS256, AlgES256:
		if j.JWKSURL == "" {
			bad("jwksUrl", "is required for "+j.Algorithm)
		} else if msg := checkJWKSURL(j.JWKSURL, policy); msg != "" {
			bad("jwksUrl", msg)
		}
		if j.Secret != "" {
			bad("secret", "is only used with HS256")
		}
	case "":
		bad("algorithm", "is required: HS256, RS256 or ES256")
	default:
		bad("algorithm", "must be HS256, RS256 or ES256")
	}
	return errs
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// reservedSignatureHeaders are set by every delivery and cannot carry the signature.
var reservedSignatureHeaders = map[string]bool{
	"host": true, "content-length": true, "content-type": true, "transfer-encoding": true,
	"connection": true, "user-agent": true,
}

func checkSignatureHeader(name string) string {
	if len(name) > MaxHeaderNameLength {
		return fmt.Sprintf("must be at most %d characters", MaxHeaderNameLength)
	}
	for _, r := range name {
		if !isTokenChar(r) {
			return "is not a valid header name"
		}
	}
	lower := strings.ToLower(name)
	if reservedSignatureHeaders[lower] || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "x-gancho-") {
		return "is a reserved header name"
	}
	return ""
}

// isTokenChar reports whether r may appear in a header name (RFC 9110 token).
func isTokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
}

func checkPublicBaseURL(raw string) string {
	if len(raw) > MaxURLLength {
		return fmt.Sprintf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute http(s) URL with a host"
	}
	if u.User != nil {
		return "must not carry credentials"
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "must not have a query"
	}
	if u.Fragment != "" {
		return "must not have a fragment"
	}
	return ""
}

func checkJWKSURL(raw string, policy TargetPolicy) string {
	// The same rules as a receiver's URL: the key set is fetched by the same guarded
	// client.
	return checkURL(raw, policy)
}

// Masked returns t as reads show it: write-only values masked, an expired
// previous secret dropped.
func (t Tenant) Masked(now time.Time) Tenant {
	t.Secret = Mask(t.Secret)
	if t.PreviousValidUntil(now) == nil {
		t.PreviousSecret, t.PreviousSecretValidUntil = "", nil
	} else {
		t.PreviousSecret = Mask(t.PreviousSecret)
	}
	if t.JWT != nil {
		j := *t.JWT
		j.Secret = Mask(j.Secret)
		t.JWT = &j
	}
	return t
}

var tenantReadOnly = map[string]string{
	"id":                       "cannot be changed",
	"secret":                   "cannot be set here; use POST /v1/tenant/secret/rotate",
	"previousSecret":           "cannot be set",
	"previousSecretValidUntil": "cannot be set",
	"createdAt":                "cannot be set",
	"updatedAt":                "cannot be set",
}

var jwtFields = map[string]bool{"issuer": true, "audience": true, "algorithm": true, "secret": true, "jwksUrl": true}

// tenantWritable are the settings a client changes; PATCH merges into them.
var tenantWritable = []string{"name", "signatureHeader", "publicBaseUrl", "allowedEventTypesOnly", "jwt"}

// TenantSettings is the tenant's writable settings as PATCH /v1/tenant reads them,
// after the merge: a member left out (or removed with null) takes its default.
type TenantSettings struct {
	Name                  *string      `json:"name" doc:"the tenant's display name; cannot be cleared"`
	SignatureHeader       *string      `json:"signatureHeader" doc:"an extra header carrying sha256=<hex HMAC-SHA256 of the body>, e.g. X-JuriChat-Signature; null removes it"`
	PublicBaseURL         *string      `json:"publicBaseUrl" doc:"base of the links in notices; null removes it"`
	AllowedEventTypesOnly *bool        `json:"allowedEventTypesOnly" doc:"confines subscriptions and publishes to the catalog; null restores the default, true"`
	JWT                   *JWTSettings `json:"jwt" doc:"the JWT issuer: iss, aud, an HS256 secret (write-only; sent back masked, it is kept) or a JWKS URL, the pinned algorithm; null removes it"`
}

// Patch applies a JSON merge patch (RFC 7396) to t's settings and validates the
// result. null clears an optional setting (allowedEventTypesOnly returns to true);
// a jwt.secret that is omitted or sent back in its masked form keeps the stored one.
// Errors name the field (e.g. "jwt.issuer").
func (t Tenant) Patch(patch []byte, policy TargetPolicy) (Tenant, error) {
	p, err := decodePatch(patch)
	if err != nil {
		return t, err
	}
	var errs []FieldError
	bad := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }
	for k := range p {
		switch {
		case slices.Contains(tenantWritable, k):
		case tenantReadOnly[k] != "":
			bad(k, tenantReadOnly[k])
		default:
			bad(k, "is not a known field")
		}
	}
	jwtPatch, jwtIsObject := p["jwt"].(map[string]any)
	if v, ok := p["jwt"]; ok && v != nil && !jwtIsObject {
		bad("jwt", "must be an object or null")
	}
	for k := range jwtPatch {
		if !jwtFields[k] {
			bad("jwt."+k, "is not a known field")
		}
	}
	if v, ok := p["name"]; ok && v == nil {
		bad("name", "is required and cannot be cleared")
	}
	if len(errs) > 0 {
		return t, Invalid(errs...)
	}
	merged, err := mergeWritable(t.Masked(time.Time{}), tenantWritable, p)
	if err != nil {
		return t, err
	}
	var in TenantSettings
	if err := DecodeJSON(merged, &in); err != nil {
		return t, err
	}

	out := t
	out.Name = strings.TrimSpace(deref(in.Name))
	out.SignatureHeader = deref(in.SignatureHeader)
	out.PublicBaseURL = strings.TrimRight(deref(in.PublicBaseURL), "/")
	out.AllowedEventTypesOnly = in.AllowedEventTypesOnly == nil || *in.AllowedEventTypesOnly
	out.JWT = nil
	if j := in.JWT; j != nil {
		kept := t.JWT != nil && t.JWT.Secret != "" && j.Secret == Mask(t.JWT.Secret)
		if kept {
			j.Secret = t.JWT.Secret // the masked form read or sent back: keep
		}
		// A value inherited from the previous algorithm does not apply to the new one:
		// a secret not sent (or sent back masked), a jwksUrl not sent.
		_, urlSent := jwtPatch["jwksUrl"]
		if j.Algorithm != AlgHS256 && (kept || jwtPatch["secret"] == nil) {
			j.Secret = ""
		}
		if j.Algorithm == AlgHS256 && !urlSent {
			j.JWKSURL = ""
		}
		out.JWT = j
	}
	if err := out.Validate(policy); err != nil {
		return t, err
	}
	return out, nil
}

// deref is *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
