package gancho

import (
	"encoding/base64"
	"time"
)

// SecretPrefix starts every signing secret, as in Standard Webhooks.
const SecretPrefix = "whsec_"

// NewSecret returns a new signing secret: SecretPrefix + base64 of 32 random bytes.
// Subscriptions get one when created, tenants too (it signs their callbackUrl
// deliveries), and a rotation replaces one with another.
func NewSecret() string {
	return SecretPrefix + base64.StdEncoding.EncodeToString(RandomToken(32))
}

// The signing overlap, one rule for subscriptions and tenants: a rotation keeps the
// secret it replaces signing for PreviousSecretLifetime, so receivers can move to the
// new one without a moment in which they reject Gancho's signatures.

// rotated returns the previous secret and its end after a rotation at now that
// replaces current (none without a current secret).
func rotated(current string, now time.Time) (string, *time.Time) {
	if current == "" {
		return "", nil
	}
	until := now.UTC().Add(PreviousSecretLifetime)
	return current, &until
}

// previousValid returns until when previous still signs at now, else nil.
func previousValid(previous string, until *time.Time, now time.Time) *time.Time {
	if previous == "" || until == nil || !now.Before(*until) {
		return nil
	}
	return until
}

// signing returns the secrets that sign at now: current, then previous while valid.
func signing(current, previous string, until *time.Time, now time.Time) []string {
	var out []string
	if current != "" {
		out = append(out, current)
	}
	if previousValid(previous, until, now) != nil {
		out = append(out, previous)
	}
	return out
}

// Rotate returns s with secret as its current secret and the old one signing for
// PreviousSecretLifetime more.
func (s Subscription) Rotate(secret string, now time.Time) Subscription {
	s.PreviousSecret, s.PreviousSecretValidUntil = rotated(s.Secret, now)
	s.Secret = secret
	return s
}

// SigningSecrets returns the secrets that sign s's deliveries at now: the current
// one, then the previous one while it is still valid.
func (s Subscription) SigningSecrets(now time.Time) []string {
	return signing(s.Secret, s.PreviousSecret, s.PreviousSecretValidUntil, now)
}

// PreviousValidUntil is when s's previous secret stops signing, or nil if it no
// longer does at now.
func (s Subscription) PreviousValidUntil(now time.Time) *time.Time {
	return previousValid(s.PreviousSecret, s.PreviousSecretValidUntil, now)
}

// Rotate returns t with secret as its current secret and the old one signing for
// PreviousSecretLifetime more.
func (t Tenant) Rotate(secret string, now time.Time) Tenant {
	t.PreviousSecret, t.PreviousSecretValidUntil = rotated(t.Secret, now)
	t.Secret = secret
	return t
}

// SigningSecrets returns the secrets that sign at now: the current one, then the
// previous one while it is still valid.
func (t Tenant) SigningSecrets(now time.Time) []string {
	return signing(t.Secret, t.PreviousSecret, t.PreviousSecretValidUntil, now)
}

// PreviousValidUntil is when t's previous secret stops signing, or nil if it no
// longer does at now.
func (t Tenant) PreviousValidUntil(now time.Time) *time.Time {
	return previousValid(t.PreviousSecret, t.PreviousSecretValidUntil, now)
}
