package gancho

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Subscription defaults and limits (the API contract, "A subscription").
const (
	DefaultTimeoutSeconds = 15
	MaxTimeoutSeconds     = 30
	MaxHeaders            = 20
	MaxURLLength          = 2048
	MaxNameLength         = 100
	MaxDescriptionLength  = 500
	MaxMetadataBytes      = 4096
	MaxRetrySteps         = 20
	MaxRetryStepSeconds   = 24 * 60 * 60
	MaxEventPatterns      = 40 // keeps an update's match-index rewrite in one transaction
	MaxRateLimitPerSecond = 1000
	MaxTokenBodyFields    = 50
)

// DefaultRetrySchedule is 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
func DefaultRetrySchedule() []int { return []int{5, 300, 1800, 7200, 18000, 36000, 36000} }

// SubscriptionInput is the writable part of a subscription as a client sends it.
// Pointers tell an omitted field from a zero value.
type SubscriptionInput struct {
	Name           *string           `json:"name"`
	Description    *string           `json:"description"`
	URL            *string           `json:"url" doc:"the receiver; required unless destination is an SQS queue or SNS topic"`
	Method         *string           `json:"method"`
	Events         *[]string         `json:"events"`
	OwnerID        *string           `json:"ownerId"`
	Context        *string           `json:"context"`
	Headers        map[string]string `json:"headers"`
	Auth           *AuthInput        `json:"auth"`
	Mode           *string           `json:"mode"`
	Format         *string           `json:"format"`
	IsActive       *bool             `json:"isActive"`
	TimeoutSeconds *int              `json:"timeoutSeconds"`
	RateLimit      *int              `json:"rateLimitPerSecond"`
	RetrySchedule  *[]int            `json:"retrySchedule"`
	Ordered        *bool             `json:"ordered"`
	Metadata       json.RawMessage   `json:"metadata"`
	Signature      *SignatureInput   `json:"signature"`
	Destination    *Target           `json:"destination"`
}

// AuthInput is the writable form of Auth; pointers tell omitted from empty.
type AuthInput struct {
	Type           string            `json:"type"`
	Header         *string           `json:"header"`
	Value          *string           `json:"value"`
	URL            *string           `json:"url"`
	Method         *string           `json:"method"`
	Headers        map[string]string `json:"headers"`
	Body           map[string]string `json:"body"`
	BodyEncoding   *string           `json:"bodyEncoding"`
	TokenField     *string           `json:"tokenField"`
	ExpiresInField *string           `json:"expiresInField"`
	Scheme         *string           `json:"scheme"`
}

// KeepWriteOnly fills write-only values that an update omitted, or sent back in
// their masked form, from the stored subscription, before validation.
//
// Stored write-only values only ever go to the origin they were given for: when the
// update moves the url, or the token endpoint (auth.url), to another origin (scheme,
// host, port), nothing is carried over, and it returns one field error for each value
// the update must send again (auth.value, headers.<Name>, auth.headers.<Name>,
// auth.body.<field>). Those values are cleared from in, so a masked form can never be
// stored as if it were a credential.
func (in *SubscriptionInput) KeepWriteOnly(stored Subscription) []FieldError {
	a := in.Auth
	sameAuth := a != nil && a.Type == stored.Auth.Type
	moved := ""
	switch {
	case in.URL != nil && Origin(*in.URL) != Origin(stored.URL):
		moved = "url"
	case sameAuth && a.Type == AuthToken && a.URL != nil && Origin(*a.URL) != Origin(stored.Auth.URL):
		moved = "auth.url"
	}
	var missing []FieldError
	keep := func(field string, update *string, old string) {
		if *update != "" && *update != Mask(old) {
			return // a new value
		}
		if moved == "" {
			*update = old
			return
		}
		*update = ""
		missing = append(missing, FieldError{Field: field, Message: fmt.Sprintf(
			"must be sent again: %s moved to another origin, and a stored write-only value only goes to the origin it was given for", moved)})
	}
	keepSensitive := func(prefix string, update, old map[string]string) {
		for _, k := range slices.Sorted(maps.Keys(update)) {
			if prev, ok := old[k]; ok && Sensitive(k) {
				v := update[k]
				keep(prefix+k, &v, prev)
				update[k] = v
			}
		}
	}
	if sameAuth {
		if a.Type == AuthStatic {
			v := ""
			if a.Value != nil {
				v = *a.Value
			}
			keep("auth.value", &v, stored.Auth.Value)
			a.Value = &v
		}
		keepSensitive("auth.body.", a.Body, stored.Auth.Body)
		keepSensitive("auth.headers.", a.Headers, stored.Auth.Headers)
	}
	keepSensitive("headers.", in.Headers, stored.Headers)
	return missing
}

// Origin is the scheme, host and port of an absolute URL, normalised (lower case,
// default port made explicit) so equal origins compare equal. A URL that does not
// parse is its own origin.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return scheme + "://" + net.JoinHostPort(host, port)
}

// TargetPolicy says which receiver URLs a deployment accepts.
type TargetPolicy struct {
	// AllowInsecure permits http:// and loopback or private literal addresses (local runs).
	AllowInsecure bool
	// AWSAccount is the deployment's own AWS account: a queue or topic there is a
	// destination without a role, if its name starts with DestinationPrefix (default
	// DefaultDestinationPrefix). Empty: every queue or topic needs a role.
	AWSAccount        string
	DestinationPrefix string
	// OwnQueues are the URLs of the deployment's own queues, never a destination
	// (even when a stack's name starts with the destination prefix).
	OwnQueues []string
}

func (p TargetPolicy) destinationPrefix() string {
	if p.DestinationPrefix == "" {
		return DefaultDestinationPrefix
	}
	return p.DestinationPrefix
}

// NewSubscription validates in and returns a subscription with defaults applied.
// It reports every invalid field at once.
func NewSubscription(in SubscriptionInput, policy TargetPolicy) (Subscription, error) {
	var errs []FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	s := Subscription{
		Method:         "POST",
		Events:         []string{"*"},
		Headers:        map[string]string{},
		Auth:           Auth{Type: AuthNone},
		Mode:           ModePush,
		Format:         "envelope",
		IsActive:       true,
		TimeoutSeconds: DefaultTimeoutSeconds,
		RetrySchedule:  DefaultRetrySchedule(),
	}

	s.Destination = Target{Type: DestinationHTTP}
	if in.Destination != nil {
		s.Destination = checkTarget(*in.Destination, policy, bad)
	}
	queue := s.Destination.IsAWS()
	switch {
	case queue && in.URL != nil && *in.URL != "":
		bad("url", "must be omitted (or null) for a %s destination: it goes to the %s", s.Destination.Type, queueNoun(s.Destination.Type))
	case queue:
	case in.URL == nil || strings.TrimSpace(*in.URL) == "":
		bad("url", "is required")
	default:
		if msg := checkURL(*in.URL, policy); msg != "" {
			bad("url", "%s", msg)
		} else {
			s.URL = *in.URL
		}
	}

	if in.Name != nil {
		n := utf8.RuneCountInString(strings.TrimSpace(*in.Name))
		if n < 1 || n > MaxNameLength {
			bad("name", "must be 1-%d characters", MaxNameLength)
		}
		s.Name = strings.TrimSpace(*in.Name)
	} else if s.URL != "" {
		u, _ := url.Parse(s.URL)
		s.Name = defaultName(u.Hostname())
	} else if queue {
		s.Name = defaultName(s.Destination.Resource().Name)
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > MaxDescriptionLength {
			bad("description", "must be at most %d characters", MaxDescriptionLength)
		}
		s.Description = *in.Description
	}
	if in.Method != nil {
		m := strings.ToUpper(*in.Method)
		switch m {
		case "POST", "PUT", "PATCH", "GET", "DELETE":
			s.Method = m
		default:
			bad("method", "must be one of POST, PUT, PATCH, GET, DELETE")
		}
	}
	if in.Events != nil {
		evs := *in.Events
		switch {
		case len(evs) == 0:
			bad("events", "must list at least one event type (or be omitted for every type)")
		case len(evs) > MaxEventPatterns:
			bad("events", "must list at most %d entries", MaxEventPatterns)
		}
		seen := map[string]bool{}
		s.Events = s.Events[:0]
		for i, e := range evs {
			if msg := checkPattern(e); msg != "" {
				bad(fmt.Sprintf("events[%d]", i), "%s", msg)
				continue
			}
			if !seen[e] {
				seen[e] = true
				s.Events = append(s.Events, e)
			}
		}
	}
	if in.OwnerID != nil {
		if msg := checkToken(*in.OwnerID); msg != "" {
			bad("ownerId", "%s", msg)
		}
		s.OwnerID = *in.OwnerID
	}
	if in.Context != nil {
		if msg := checkToken(*in.Context); msg != "" {
			bad("context", "%s", msg)
		}
		s.Context = *in.Context
	}
	if len(in.Headers) > MaxHeaders {
		bad("headers", "must have at most %d entries", MaxHeaders)
	}
	for name, value := range in.Headers {
		if msg := checkHeader(name, value); msg != "" {
			bad("headers."+name, "%s", msg)
			continue
		}
		s.Headers[name] = value
	}
	if in.Auth != nil {
		s.Auth = checkAuth(*in.Auth, policy, bad)
	}
	if in.Mode != nil {
		switch *in.Mode {
		case ModePush, ModeNotify:
			s.Mode = *in.Mode
		default:
			bad("mode", "must be push or notify")
		}
	}
	if in.RateLimit != nil {
		if *in.RateLimit < 1 || *in.RateLimit > MaxRateLimitPerSecond {
			bad("rateLimitPerSecond", "must be between 1 and %d (or null for no limit)", MaxRateLimitPerSecond)
		}
		v := *in.RateLimit
		s.RateLimitPerSecond = &v
	}
	if in.Ordered != nil {
		s.Ordered = *in.Ordered
	}
	if in.Format != nil {
		switch *in.Format {
		case "envelope", "raw":
			s.Format = *in.Format
		default:
			bad("format", "must be envelope or raw")
		}
	}
	if in.IsActive != nil {
		s.IsActive = *in.IsActive
	}
	if in.TimeoutSeconds != nil {
		if *in.TimeoutSeconds < 1 || *in.TimeoutSeconds > MaxTimeoutSeconds {
			bad("timeoutSeconds", "must be between 1 and %d", MaxTimeoutSeconds)
		}
		s.TimeoutSeconds = *in.TimeoutSeconds
	}
	if in.RetrySchedule != nil {
		s.RetrySchedule = checkRetrySchedule(*in.RetrySchedule, bad)
	}
	if len(in.Metadata) > 0 && !bytes.Equal(bytes.TrimSpace(in.Metadata), []byte("null")) {
		var obj map[string]any
		if err := json.Unmarshal(in.Metadata, &obj); err != nil {
			bad("metadata", "must be a JSON object")
		} else if len(in.Metadata) > MaxMetadataBytes {
			bad("metadata", "must be at most %d bytes", MaxMetadataBytes)
		} else {
			s.Metadata = in.Metadata
		}
	}
	s.Signature.Scheme = SchemeHMAC
	if in.Signature != nil && in.Signature.Scheme != nil {
		switch sc := *in.Signature.Scheme; sc {
		case SchemeHMAC, SchemeEd25519:
			s.Signature.Scheme = sc
		default:
			bad("signature.scheme", "must be %s or %s", SchemeHMAC, SchemeEd25519)
		}
	}
	if queue {
		checkQueueDestination(s, bad)
	}
	if len(errs) > 0 {
		return Subscription{}, Invalid(errs...)
	}
	return s, nil
}

// defaultName is the name of a subscription created without one, cut to
// MaxNameLength (a host or topic name can be longer), so an update that sends it back
// is valid.
func defaultName(n string) string {
	if r := []rune(n); len(r) > MaxNameLength {
		return string(r[:MaxNameLength])
	}
	return n
}

func queueNoun(destType string) string {
	if destType == DestinationSNS {
		return "topic in destination.topicArn"
	}
	return "queue in destination.queueUrl"
}

// checkQueueDestination refuses the HTTP-only fields on a subscription whose
// deliveries go to a queue or topic: they would be silently unused.
func checkQueueDestination(s Subscription, bad func(field, format string, args ...any)) {
	why := "applies only to http destinations"
	if s.Method != "POST" {
		bad("method", "%s", why)
	}
	if len(s.Headers) > 0 {
		bad("headers", "%s: a queue or topic message carries the webhook-* values as message attributes", why)
	}
	if s.Auth.Type != AuthNone {
		bad("auth", "%s: a queue or topic is reached with AWS credentials (destination.roleArn)", why)
	}
	if s.Mode != ModePush {
		bad("mode", "must be push for a %s destination: notify sends an HTTP notice", s.Destination.Type)
	}
}

// checkRetrySchedule validates a retry schedule (a subscription's or an event
// type's) and returns a copy of it.
func checkRetrySchedule(rs []int, bad func(field, format string, args ...any)) []int {
	if len(rs) < 1 || len(rs) > MaxRetrySteps {
		bad("retrySchedule", "must have 1-%d steps", MaxRetrySteps)
	}
	for i, d := range rs {
		if d < 1 || d > MaxRetryStepSeconds {
			bad(fmt.Sprintf("retrySchedule[%d]", i), "must be between 1 and %d seconds", MaxRetryStepSeconds)
		}
	}
	return append([]int(nil), rs...)
}

// checkAuth validates an auth block and applies its defaults.
func checkAuth(in AuthInput, policy TargetPolicy, bad func(field, format string, args ...any)) Auth {
	str := func(p *string, def string) string {
		if p == nil {
			return def
		}
		return *p
	}
	a := Auth{Type: in.Type}
	headerName := func() {
		a.Header = str(in.Header, "Authorization")
		if msg := checkHeader(a.Header, ""); msg != "" {
			bad("auth.header", "%s", msg)
		}
	}
	switch in.Type {
	case AuthNone:
		for _, p := range []*string{in.Header, in.Value, in.URL, in.Method, in.BodyEncoding, in.TokenField, in.ExpiresInField, in.Scheme} {
			if p != nil && *p != "" {
				bad("auth", "type none takes no other fields")
				break
			}
		}
	case AuthStatic:
		headerName()
		a.Value = str(in.Value, "")
		if a.Value == "" {
			bad("auth.value", "is required for type static")
		} else if msg := checkHeaderValue(a.Value); msg != "" {
			bad("auth.value", "%s", msg)
		}
	case AuthToken:
		headerName()
		a.URL = str(in.URL, "")
		if a.URL == "" {
			bad("auth.url", "is required for type token")
		} else if msg := checkURL(a.URL, policy); msg != "" {
			bad("auth.url", "%s", msg)
		}
		a.Method = strings.ToUpper(str(in.Method, "POST"))
		if a.Method != "POST" && a.Method != "GET" && a.Method != "PUT" {
			bad("auth.method", "must be POST, GET or PUT")
		}
		if len(in.Headers) > MaxHeaders {
			bad("auth.headers", "must have at most %d entries", MaxHeaders)
		}
		for name, value := range in.Headers {
			if msg := checkHeader(name, value); msg != "" {
				bad("auth.headers."+name, "%s", msg)
			}
		}
		a.Headers = in.Headers
		if len(in.Body) > MaxTokenBodyFields {
			bad("auth.body", "must have at most %d fields", MaxTokenBodyFields)
		}
		a.Body = in.Body
		a.BodyEncoding = str(in.BodyEncoding, "json")
		if a.BodyEncoding != "json" && a.BodyEncoding != "form" {
			bad("auth.bodyEncoding", "must be json or form")
		}
		a.TokenField = str(in.TokenField, "access_token")
		a.ExpiresInField = str(in.ExpiresInField, "expires_in")
		if a.TokenField == "" {
			bad("auth.tokenField", "must not be empty")
		}
		a.Scheme = str(in.Scheme, "Bearer")
		if strings.ContainsAny(a.Scheme, " \r\n") {
			bad("auth.scheme", "must be one word, e.g. Bearer, or empty")
		}
	default:
		bad("auth.type", "must be none, static or token")
	}
	return a
}

func checkURL(raw string, policy TargetPolicy) string {
	if len(raw) > MaxURLLength {
		return fmt.Sprintf("must be at most %d characters", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Hostname() == "" {
		return "must be an absolute http(s) URL with a host"
	}
	if u.User != nil {
		return "must not carry credentials; use headers or auth"
	}
	if u.Fragment != "" {
		return "must not have a fragment"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !policy.AllowInsecure {
			return "must use https"
		}
	default:
		return "must be an absolute http(s) URL with a host"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "must have a port between 1 and 65535"
		}
	}
	if !policy.AllowInsecure {
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		if host == "localhost" || strings.HasSuffix(host, ".localhost") {
			return "must not point at a loopback host"
		}
		if ip, err := netip.ParseAddr(host); err == nil && !PublicAddr(ip) {
			return "must not point at a private, loopback or reserved address"
		}
	}
	return ""
}

// checkPattern accepts an event type ("a.b"), a prefix wildcard ("a.*") or "*".
func checkPattern(p string) string {
	if p == "*" {
		return ""
	}
	base := strings.TrimSuffix(p, ".*")
	if msg := checkEventType(base); msg != "" {
		return msg
	}
	return ""
}

// checkEventType accepts dot-separated names of letters, digits, '_' and '-'.
func checkEventType(t string) string {
	if t == "" || len(t) > 200 {
		return "must be an event type of 1-200 characters"
	}
	for _, part := range strings.Split(t, ".") {
		if part == "" {
			return "must not have empty segments"
		}
		for _, r := range part {
			if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return "may contain only letters, digits, '_', '-' and '.' (and end in '.*' as a wildcard)"
			}
		}
	}
	return ""
}

// checkToken validates owner ids and contexts: 1-200 printable characters without '#'.
func checkToken(v string) string {
	if v == "" || len(v) > 200 {
		return "must be 1-200 characters"
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == '#' {
			return "must not contain control characters or '#'"
		}
	}
	return ""
}

var reservedHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true, "user-agent": true,
}

func checkHeader(name, value string) string {
	lower := strings.ToLower(name)
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r)
	}) >= 0 {
		return "is not a valid header name"
	}
	if reservedHeaders[lower] || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "x-gancho-") {
		return "is a reserved header name"
	}
	return checkHeaderValue(value)
}

// checkHeaderValue refuses values a receiver could read differently from what was
// set: any control character (line breaks, NUL, tab, escape, DEL, C1 controls).
func checkHeaderValue(value string) string {
	if strings.IndexFunc(value, unicode.IsControl) >= 0 || len(value) > 4096 {
		return "must be at most 4096 characters without control characters"
	}
	return ""
}

// PublicAddr reports whether ip is a globally routable unicast address: not loopback,
// private, link-local, CGNAT, multicast, unspecified, documentation, or an IPv4-mapped
// or NAT64 form of one of those. The other IPv6 forms that embed an IPv4 address
// (IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d, local-use NAT64, 6to4,
// Teredo) are never public: no receiver needs them, and some stacks or translators
// turn them into the IPv4 address they carry.
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		return PublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range reservedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

var reservedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"2001:db8::/32", "fc00::/7", "fe80::/10", "100::/64", "2001::/32", "2002::/16",
		"::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()
