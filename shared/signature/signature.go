// Package signature signs webhook requests as the Standard Webhooks specification
// describes (https://www.standardwebhooks.com), plus the single-header
// "sha256=<hex>" form some providers use.
package signature

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = gancho.SecretPrefix

// Key is a decoded signing key.
type Key []byte

// ParseSecret decodes a "whsec_..." secret into its HMAC key.
func ParseSecret(secret string) (Key, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("secret must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return nil, fmt.Errorf("decode secret: %w", err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("secret key must be 24-64 bytes, got %d", len(key))
	}
	return Key(key), nil
}

// Sign returns "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>".
func (k Key) Sign(id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, timestamp, 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignBody returns "sha256=<hex HMAC-SHA256(key, body)>".
func (k Key) SignBody(body []byte) string {
	mac := hmac.New(sha256.New, k)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Signer signs one message for the webhook-signature header.
type Signer interface {
	Sign(id string, timestamp int64, body []byte) string
}

// EdKey is an ed25519 private key; it signs "v1a" (Standard Webhooks' asymmetric
// scheme): the receiver verifies with the public key alone.
type EdKey ed25519.PrivateKey

// Sign returns "v1a,<base64 ed25519 signature of id.timestamp.body>".
func (k EdKey) Sign(id string, timestamp int64, body []byte) string {
	msg := make([]byte, 0, len(id)+len(body)+24)
	msg = append(msg, id...)
	msg = append(msg, '.')
	msg = strconv.AppendInt(msg, timestamp, 10)
	msg = append(msg, '.')
	msg = append(msg, body...)
	return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(ed25519.PrivateKey(k), msg))
}

// ParseSigner decodes a signing secret: "whsec_..." (HMAC, v1) or "whsk_..."
// (ed25519, v1a).
func ParseSigner(secret string) (Signer, error) {
	if strings.HasPrefix(secret, gancho.SigningKeyPrefix) {
		seed, ok := gancho.SigningKeySeed(secret)
		if !ok {
			return nil, errors.New("signing key must be " + gancho.SigningKeyPrefix + " followed by the base64 of a 32-byte ed25519 seed")
		}
		return EdKey(ed25519.NewKeyFromSeed(seed)), nil
	}
	return ParseSecret(secret)
}

// Header returns the webhook-signature value: one space-separated signature per key,
// so receivers accept the message with either the current or a rotated-out secret.
func Header[S Signer](keys []S, id string, timestamp int64, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, k.Sign(id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}
