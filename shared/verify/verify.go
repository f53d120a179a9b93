// Package verify checks the signatures of webhooks sent by Gancho, or by any sender
// that follows the Standard Webhooks specification (https://www.standardwebhooks.com).
//
// It depends only on the standard library, so a receiver can import it alone:
//
//	v, err := verify.New(os.Getenv("WEBHOOK_SECRET"))
//	...
//	http.Handle("POST /webhooks", v.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//		d, _ := verify.FromContext(r.Context())
//		...
//	})))
//
// Symmetric signatures ("v1", HMAC-SHA256 with a "whsec_..." secret) and asymmetric
// ones ("v1a", ed25519 with a "whpk_..." public key) are both checked; signatures of
// any other version are ignored, so a sender may add a new scheme next to the ones a
// receiver knows without breaking it.
package verify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Key prefixes: a symmetric secret and an ed25519 public key.
const (
	SecretPrefix    = "whsec_"
	PublicKeyPrefix = "whpk_"
)

// Defaults. A sender stamps every attempt with the time it is sent, so five minutes
// covers clock skew and transit while bounding how long a captured request can be
// replayed.
const (
	DefaultTolerance    = 5 * time.Minute
	DefaultMaxBodyBytes = 1 << 20
)

// maxSignatures bounds how many signatures of a known version one request may make
// the verifier try: a sender sends one per live key (two during a rotation), and an
// unbounded list of ed25519 signatures would let anyone spend the receiver's CPU.
const maxSignatures = 10

// The reasons a delivery is refused; test with errors.Is. Every error Verify returns
// is an *Error wrapping one of them.
var (
	ErrMissingHeader       = errors.New("missing header")
	ErrInvalidTimestamp    = errors.New("not a Unix time in seconds")
	ErrTooOld              = errors.New("timestamp too old")
	ErrTooNew              = errors.New("timestamp too new")
	ErrNoMatchingSignature = errors.New("no matching signature")
	ErrBodyTooLarge        = errors.New("body too large")
)

// Error is a refused delivery: the header (or "body") at fault and why. Its text
// never holds a signature, a key or the body.
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Verifier checks deliveries against a set of keys. It is safe for concurrent use;
// the With methods return a modified copy.
type Verifier struct {
	secrets      [][]byte
	publicKeys   []ed25519.PublicKey
	tolerance    time.Duration
	maxBodyBytes int64
	now          func() time.Time
}

// New returns a Verifier for one or more "whsec_..." secrets. Give several while a
// secret is being rotated: a delivery signed with any of them is accepted.
func New(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("verify: no secret given")
	}
	v := newVerifier()
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("verify: secret %d: %w", i+1, err)
		}
		v.secrets = append(v.secrets, key)
	}
	return v, nil
}

// NewPublicKey returns a Verifier for one or more "whpk_..." ed25519 public keys,
// for subscriptions signed with the asymmetric scheme ("v1a").
func NewPublicKey(publicKeys ...string) (*Verifier, error) {
	if len(publicKeys) == 0 {
		return nil, errors.New("verify: no public key given")
	}
	v := newVerifier()
	for i, s := range publicKeys {
		pk, err := ParsePublicKey(s)
		if err != nil {
			return nil, fmt.Errorf("verify: public key %d: %w", i+1, err)
		}
		v.publicKeys = append(v.publicKeys, pk)
	}
	return v, nil
}

func newVerifier() *Verifier {
	return &Verifier{tolerance: DefaultTolerance, maxBodyBytes: DefaultMaxBodyBytes, now: time.Now}
}

// ParseSecret decodes a "whsec_..." secret into its HMAC key. The prefix may be
// left out, as the Standard Webhooks libraries allow.
func ParseSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("secret is not %s followed by base64: %w", SecretPrefix, err)
	}
	if len(key) == 0 {
		return nil, errors.New("secret is empty")
	}
	return key, nil
}

// ParsePublicKey decodes a "whpk_..." public key (base64 of the 32 raw bytes).
func ParsePublicKey(publicKey string) (ed25519.PublicKey, error) {
	raw, ok := strings.CutPrefix(publicKey, PublicKeyPrefix)
	if !ok {
		return nil, errors.New("public key must start with " + PublicKeyPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("public key is not base64: %w", err)
	}
	if len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key must be %d bytes, got %d", ed25519.PublicKeySize, len(key))
	}
	return ed25519.PublicKey(key), nil
}

// WithPublicKey returns a copy of v that also accepts "v1a" signatures made with
// any of keys, for a receiver that moves from a secret to a key pair.
func (v *Verifier) WithPublicKey(keys ...ed25519.PublicKey) *Verifier {
	c := *v
	c.publicKeys = append(append([]ed25519.PublicKey(nil), v.publicKeys...), keys...)
	return &c
}

// WithTolerance returns a copy of v that accepts timestamps up to d away from now
// (DefaultTolerance otherwise).
func (v *Verifier) WithTolerance(d time.Duration) *Verifier {
	c := *v
	c.tolerance = d
	return &c
}

// WithMaxBodyBytes returns a copy of v whose Handler refuses bodies over n bytes
// with 413 (DefaultMaxBodyBytes otherwise).
func (v *Verifier) WithMaxBodyBytes(n int64) *Verifier {
	c := *v
	c.maxBodyBytes = n
	return &c
}

// WithClock returns a copy of v that reads the time from now.
func (v *Verifier) WithClock(now func() time.Time) *Verifier {
	c := *v
	c.now = now
	return &c
}

// Verify checks the Standard Webhooks headers of a delivery against its body, exactly
// as received.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	_, err := v.verify(h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body)
	return err
}

// VerifySignature checks the values of the three headers against the body, for
// transports that carry them elsewhere (message attributes of a queue, say).
func (v *Verifier) VerifySignature(id, timestamp, signatures string, body []byte) error {
	_, err := v.verify(id, timestamp, signatures, body)
	return err
}

func (v *Verifier) verify(id, timestamp, signatures string, body []byte) (time.Time, error) {
	for _, h := range [...]struct{ name, value string }{{HeaderID, id}, {HeaderTimestamp, timestamp}, {HeaderSignature, signatures}} {
		if h.value == "" {
			return time.Time{}, &Error{Field: h.name, Err: ErrMissingHeader}
		}
	}
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return time.Time{}, &Error{Field: HeaderTimestamp, Err: ErrInvalidTimestamp}
	}
	ts := time.Unix(secs, 0)
	now := v.now()
	if now.Sub(ts) > v.tolerance {
		return ts, &Error{Field: HeaderTimestamp, Err: ErrTooOld}
	}
	if ts.After(now.Add(v.tolerance)) {
		return ts, &Error{Field: HeaderTimestamp, Err: ErrTooNew}
	}
	// The timestamp is signed as the sender formats it, in decimal without sign or
	// leading zeros; the reference libraries read it the same way.
	if v.match(id, strconv.FormatInt(secs, 10), signatures, body) {
		return ts, nil
	}
	return ts, &Error{Field: HeaderSignature, Err: ErrNoMatchingSignature}
}

// match reports whether any signature in the space-separated list is valid for one
// of v's keys. The signed content is "{id}.{timestamp}.{body}".
func (v *Verifier) match(id, timestamp, signatures string, body []byte) bool {
	// Every expected HMAC is computed once, whatever the header holds.
	expected := make([][]byte, len(v.secrets))
	for i, key := range v.secrets {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(timestamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		expected[i] = base64.StdEncoding.AppendEncode(nil, mac.Sum(nil))
	}
	var signed []byte // for ed25519, built only if a v1a signature is present
	tried := 0
	for _, s := range strings.Split(signatures, " ") {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || (version != "v1" && version != "v1a") {
			continue // unknown versions are for other receivers
		}
		if tried++; tried > maxSignatures {
			return false
		}
		switch version {
		case "v1":
			// The base64 text is compared, as the reference libraries do, so only the
			// one canonical encoding of the MAC is accepted.
			for _, want := range expected {
				if hmac.Equal([]byte(sig), want) {
					return true
				}
			}
		case "v1a":
			if len(v.publicKeys) == 0 {
				continue
			}
			raw, err := base64.StdEncoding.Strict().DecodeString(sig)
			if err != nil || len(raw) != ed25519.SignatureSize {
				continue
			}
			if signed == nil {
				signed = make([]byte, 0, len(id)+len(timestamp)+len(body)+2)
				signed = append(append(append(append(append(signed, id...), '.'), timestamp...), '.'), body...)
			}
			for _, pk := range v.publicKeys {
				if ed25519.Verify(pk, signed, raw) {
					return true
				}
			}
		}
	}
	return false
}
