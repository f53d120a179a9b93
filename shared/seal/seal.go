// Package seal encrypts the values Gancho must be able to read back but a dump of the
// table must not reveal: signing secrets, auth values, sensitive header values and
// stored idempotent replays. AES-256-GCM; the sealed form names its key so keys can
// be rotated.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Sealer encrypts and decrypts short strings.
type Sealer struct {
	id      string
	current cipher.AEAD
	byID    map[string]cipher.AEAD
}

// prefix starts every sealed value: "sealed:v1:<key id>:<base64 nonce+ciphertext>".
const prefix = "sealed:v1:"

// KeySize is the length of a key in bytes.
const KeySize = 32

// New returns a Sealer that seals with the first key and opens with any of them.
// Keys are "id:base64(32 bytes)" strings, e.g. "k1:3q2+7w...".
func New(keys ...string) (*Sealer, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no key")
	}
	s := &Sealer{byID: map[string]cipher.AEAD{}}
	for i, k := range keys {
		id, b64, ok := strings.Cut(k, ":")
		if !ok || id == "" || strings.ContainsRune(id, ':') {
			return nil, fmt.Errorf("seal: key %d must be id:base64", i)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != KeySize {
			return nil, fmt.Errorf("seal: key %q must be %d base64-encoded bytes", id, KeySize)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if i == 0 {
			s.id, s.current = id, aead
		}
		s.byID[id] = aead
	}
	return s, nil
}

// NewKey returns a fresh key string for New, with the given id.
func NewKey(id string) string {
	return id + ":" + base64.StdEncoding.EncodeToString(gancho.RandomToken(KeySize))
}

// Seal encrypts plaintext. The empty string stays empty.
func (s *Sealer) Seal(plaintext string) (string, error) {
	if plaintext == "" {
		return "", nil
	}
	nonce := gancho.RandomToken(s.current.NonceSize())
	out := s.current.Seal(nonce, nonce, []byte(plaintext), []byte(s.id))
	return prefix + s.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value made by Seal.
func (s *Sealer) Open(sealed string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", errors.New("seal: value is not sealed")
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok {
		return "", errors.New("seal: malformed value")
	}
	aead, ok := s.byID[id]
	if !ok {
		return "", fmt.Errorf("seal: unknown key %q", id)
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", errors.New("seal: malformed value")
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(id))
	if err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	return string(plain), nil
}
