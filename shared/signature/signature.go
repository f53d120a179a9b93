// Package signature signs webhook requests as the Standard Webhooks specification
// describes (https://www.standardwebhooks.com), plus the single-header
// "sha256=<hex>" form some providers use.
package signature

import (
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

// Header returns the webhook-signature value: one space-separated signature per key,
// so receivers accept the message with either the current or a rotated-out secret.
func Header(keys []Key, id string, timestamp int64, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, k.Sign(id, timestamp, body))
	}
	return strings.Join(sigs, " ")
}
