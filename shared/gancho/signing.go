package gancho

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"time"
)

// Signature schemes (Standard Webhooks): a symmetric secret signs "v1" (HMAC-SHA256),
// an ed25519 key pair signs "v1a"; the receiver of a v1a signature needs only the
// public key.
const (
	SchemeHMAC    = "hmac-sha256"
	SchemeEd25519 = "ed25519"
	// SigningKeyPrefix starts an ed25519 private key (its 32-byte seed, base64):
	// stored sealed like a secret, never shown.
	SigningKeyPrefix = "whsk_"
	// PublicKeyPrefix starts an ed25519 public key (32 bytes, base64).
	PublicKeyPrefix = "whpk_"
)

// Signature is how a subscription's deliveries are signed.
type Signature struct {
	Scheme string `json:"scheme" schema:"enum=hmac-sha256|ed25519" doc:"hmac-sha256 (v1 signatures with a secret; the default) or ed25519 (v1a signatures, verified with publicKey); set at creation"`
	// PublicKey is derived from the secret for reads (Subscription.Redacted); it is
	// not kept apart from it.
	PublicKey string `json:"publicKey,omitempty" schema:"readOnly" doc:"ed25519 only: whpk_ + base64 of the 32-byte public key that verifies v1a signatures"`
}

// SignatureInput is the writable form of Signature. publicKey may be sent back as
// read (it is ignored), so that what GET returns can be PUT again.
type SignatureInput struct {
	Scheme    *string `json:"scheme"`
	PublicKey *string `json:"publicKey" schema:"readOnly"`
}

// NewSigningSecret returns a new secret for scheme: a "whsec_" secret for HMAC, a
// "whsk_" private key for ed25519.
func NewSigningSecret(scheme string) string {
	if scheme != SchemeEd25519 {
		return NewSecret()
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("crypto/rand: " + err.Error()) // the system's randomness is gone: nothing is safe
	}
	return SigningKeyPrefix + base64.StdEncoding.EncodeToString(priv.Seed())
}

// SecretScheme is the scheme a stored secret signs with.
func SecretScheme(secret string) string {
	if strings.HasPrefix(secret, SigningKeyPrefix) {
		return SchemeEd25519
	}
	return SchemeHMAC
}

// PublicKeyOf returns the public key of an ed25519 signing key, or "" for any other
// secret.
func PublicKeyOf(secret string) string {
	seed, ok := SigningKeySeed(secret)
	if !ok {
		return ""
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	return PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// SigningKeySeed decodes a "whsk_" key into its 32-byte ed25519 seed.
func SigningKeySeed(secret string) ([]byte, bool) {
	raw, ok := strings.CutPrefix(secret, SigningKeyPrefix)
	if !ok {
		return nil, false
	}
	seed, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, false
	}
	return seed, true
}

// SignatureScheme is the scheme s signs with; subscriptions stored before schemes
// existed sign with HMAC.
func (s Subscription) SignatureScheme() string {
	if s.Signature.Scheme != "" {
		return s.Signature.Scheme
	}
	return SecretScheme(s.Secret)
}

// WithNewSecret returns s with a new secret of its scheme, created at now: the first
// one, or a rotation that keeps the previous one signing for PreviousSecretLifetime.
func (s Subscription) WithNewSecret(now time.Time) Subscription {
	scheme := s.SignatureScheme()
	if s.Secret == "" {
		s.Secret = NewSigningSecret(scheme)
	} else {
		s = s.Rotate(NewSigningSecret(scheme), now)
	}
	s.Signature = Signature{Scheme: scheme} // its public key is derived from the secret when read (Redacted)
	return s
}

// PreviousPublicKey is the public key of s's previous signing key while it still
// signs at now, else "".
func (s Subscription) PreviousPublicKey(now time.Time) string {
	if s.PreviousValidUntil(now) == nil {
		return ""
	}
	return PublicKeyOf(s.PreviousSecret)
}
