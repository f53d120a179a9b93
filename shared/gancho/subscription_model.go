package gancho

import (
	"encoding/json"
	"strings"
	"time"
)

// Subscription is a customer's endpoint for a set of event types.
type Subscription struct {
	ID                 string            `json:"id"`
	TenantID           string            `json:"tenantId"`
	Name               string            `json:"name"`
	Description        string            `json:"description,omitempty"`
	URL                string            `json:"url"`
	Method             string            `json:"method" schema:"enum=POST|PUT|PATCH|GET|DELETE"`
	Events             []string          `json:"events"`
	OwnerID            string            `json:"ownerId,omitempty"`
	Context            string            `json:"context,omitempty"`
	Headers            map[string]string `json:"headers"`
	Auth               Auth              `json:"auth"`
	Mode               string            `json:"mode"`
	Format             string            `json:"format" schema:"enum=envelope|raw"`
	IsActive           bool              `json:"isActive"`
	TimeoutSeconds     int               `json:"timeoutSeconds"`
	RateLimitPerSecond *int              `json:"rateLimitPerSecond"`
	RetrySchedule      []int             `json:"retrySchedule" doc:"seconds before each retry"`
	Ordered            bool              `json:"ordered"`
	Metadata           json.RawMessage   `json:"metadata,omitempty"`
	Signature          Signature         `json:"signature"`
	Destination        Target            `json:"destination"`
	Secret             string            `json:"secret,omitempty" doc:"on create only (hmac-sha256)"`
	// PreviousSecret still signs, next to Secret, until PreviousSecretValidUntil.
	PreviousSecret           string     `json:"previousSecret,omitempty"`
	PreviousSecretValidUntil *time.Time `json:"previousSecretValidUntil,omitempty"`
	CreatedAt                time.Time  `json:"createdAt"`
	UpdatedAt                time.Time  `json:"updatedAt"`
	Status
}

// Status is the per-subscription status block: the last attempt's outcome, failures.
type Status struct {
	LastStatusCode      int        `json:"lastStatusCode,omitempty"`
	LastResponse        string     `json:"lastResponse,omitempty"`
	LastAttemptAt       *time.Time `json:"lastAttemptAt,omitempty" doc:"a run of successes that changes nothing else in the status block updates it at most once a minute: up to 60 s behind the last attempt"`
	LastSuccessAt       *time.Time `json:"lastSuccessAt,omitempty" doc:"up to 60 s behind the last success, as lastAttemptAt"`
	LastUpdateAt        *time.Time `json:"lastUpdateAt,omitempty"`
	LastViewedAt        *time.Time `json:"lastViewedAt,omitempty"`
	NeedView            bool       `json:"needView"`
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	FailingSince        *time.Time `json:"failingSince,omitempty"`
	DisabledReason      string     `json:"disabledReason,omitempty"`
}

// Auth is how a delivery authenticates to the receiver: a static header, or a token
// fetched from the receiver's login endpoint.
type Auth struct {
	Type string `json:"type"` // none | static | token
	// static and token: the header that carries the credential.
	Header string `json:"header,omitempty"`
	// static: the header's whole value (write-only).
	Value string `json:"value,omitempty"`
	// token: where and how to fetch it.
	URL            string            `json:"url,omitempty"`
	Method         string            `json:"method,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Body           map[string]string `json:"body,omitempty"`
	BodyEncoding   string            `json:"bodyEncoding,omitempty"` // json | form
	TokenField     string            `json:"tokenField,omitempty"`
	ExpiresInField string            `json:"expiresInField,omitempty"`
	Scheme         string            `json:"scheme,omitempty"` // e.g. Bearer; empty sends the bare token
}

// Auth types.
const (
	AuthNone   = "none"
	AuthStatic = "static"
	AuthToken  = "token"
)

// Modes.
const (
	ModePush   = "push"
	ModeNotify = "notify"
)

// Sensitive reports whether a header or field name holds a credential, so its value
// is write-only: Authorization, Cookie, or a name containing key, token, secret or
// password.
func Sensitive(name string) bool {
	n := strings.ToLower(name)
	if n == "authorization" || n == "proxy-authorization" || n == "cookie" {
		return true
	}
	for _, part := range []string{"key", "token", "secret", "passw", "credential"} {
		if strings.Contains(n, part) {
			return true
		}
	}
	return false
}

// Mask is how reads show a write-only value: "****" plus its last 4 characters
// (only "****" for values too short to keep that safe).
func Mask(v string) string {
	if v == "" {
		return ""
	}
	r := []rune(v)
	if len(r) <= 8 {
		return "****"
	}
	return "****" + string(r[len(r)-4:])
}

// MapSecrets returns a copy of the subscription with every write-only value (its
// secrets, the static auth value, sensitive header and token-request values) passed
// through f: sealing at rest and opening again use it.
func (s Subscription) MapSecrets(f func(string) (string, error)) (Subscription, error) {
	var err error
	for _, p := range []*string{&s.Secret, &s.PreviousSecret, &s.Auth.Value} {
		if *p, err = f(*p); err != nil {
			return s, err
		}
	}
	for _, m := range []*map[string]string{&s.Headers, &s.Auth.Headers, &s.Auth.Body} {
		if *m, err = mapSensitive(*m, f); err != nil {
			return s, err
		}
	}
	return s, nil
}

func mapSensitive(m map[string]string, f func(string) (string, error)) (map[string]string, error) {
	if m == nil {
		return nil, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if Sensitive(k) {
			var err error
			if v, err = f(v); err != nil {
				return nil, err
			}
		}
		out[k] = v
	}
	return out, nil
}

// Redacted returns the subscription as reads show it: no secrets, write-only
// values masked.
func (s Subscription) Redacted() Subscription {
	s.Signature = Signature{Scheme: s.SignatureScheme(), PublicKey: PublicKeyOf(s.Secret)}
	s.Destination.Type = s.Destination.Kind()
	if s.Destination.RoleARN != "" {
		s.Destination.SessionName = SessionName(s.TenantID, s.OwnerID)
	}
	s.Secret, s.PreviousSecret, s.PreviousSecretValidUntil = "", "", nil
	s, _ = s.MapSecrets(func(v string) (string, error) { return Mask(v), nil })
	return s
}

// MarshalJSON writes a token auth's scheme and expiresInField even when empty: an
// empty scheme sends the bare token, and leaving it out would read back as the
// default ("Bearer") on a PUT of what GET returned.
func (a Auth) MarshalJSON() ([]byte, error) {
	type plain Auth
	if a.Type != AuthToken {
		return json.Marshal(plain(a))
	}
	return json.Marshal(struct {
		plain
		ExpiresInField string `json:"expiresInField"`
		Scheme         string `json:"scheme"`
	}{plain(a), a.ExpiresInField, a.Scheme})
}
