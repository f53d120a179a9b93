package gancho_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func TestSigningSecrets(t *testing.T) {
	tests := []struct {
		scheme, prefix string
		publicKey      bool
	}{
		{gancho.SchemeHMAC, gancho.SecretPrefix, false},
		{gancho.SchemeEd25519, gancho.SigningKeyPrefix, true},
	}
	for _, tc := range tests {
		t.Run(tc.scheme, func(t *testing.T) {
			s := gancho.NewSigningSecret(tc.scheme)
			if !strings.HasPrefix(s, tc.prefix) || gancho.SecretScheme(s) != tc.scheme {
				t.Fatalf("secret %.8s... scheme %s", s, gancho.SecretScheme(s))
			}
			if pub := gancho.PublicKeyOf(s); (pub != "") != tc.publicKey || tc.publicKey && !strings.HasPrefix(pub, gancho.PublicKeyPrefix) {
				t.Fatalf("public key %q", pub)
			}
			if gancho.NewSigningSecret(tc.scheme) == s {
				t.Fatal("two secrets alike")
			}
		})
	}
}

// An ed25519 subscription shows its scheme and public key in reads, never its
// private key; a rotation keeps the scheme and the previous key's public half is
// shown while it still signs.
func TestEd25519SubscriptionKeys(t *testing.T) {
	scheme := gancho.SchemeEd25519
	in := gancho.SubscriptionInput{URL: ref("https://example.com/h"), Signature: &gancho.SignatureInput{Scheme: &scheme}}
	sub, err := gancho.NewSubscription(in, gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	sub = sub.WithNewSecret(now)
	first := sub.Secret
	read := sub.Redacted()
	raw, _ := json.Marshal(read)
	if read.Signature.Scheme != gancho.SchemeEd25519 || read.Signature.PublicKey != gancho.PublicKeyOf(first) ||
		strings.Contains(string(raw), gancho.SigningKeyPrefix) || strings.Contains(string(raw), first[5:]) {
		t.Fatalf("read = %s", raw)
	}
	rotated := sub.WithNewSecret(now)
	if rotated.SignatureScheme() != gancho.SchemeEd25519 || rotated.Secret == first || rotated.PreviousSecret != first {
		t.Fatalf("rotation: scheme %s, previous kept %v", rotated.SignatureScheme(), rotated.PreviousSecret == first)
	}
	if got := rotated.PreviousPublicKey(now.Add(time.Hour)); got != gancho.PublicKeyOf(first) {
		t.Fatalf("previous public key within 24 h = %q", got)
	}
	if got := rotated.PreviousPublicKey(now.Add(25 * time.Hour)); got != "" {
		t.Fatalf("previous public key after 24 h = %q", got)
	}
	// Subscriptions stored before schemes existed sign with HMAC.
	legacy := gancho.Subscription{Secret: gancho.NewSecret()}
	if legacy.SignatureScheme() != gancho.SchemeHMAC || legacy.Redacted().Signature.Scheme != gancho.SchemeHMAC {
		t.Fatal("a subscription without a stored scheme must read as hmac-sha256")
	}
	bad := "rsa"
	if _, err := gancho.NewSubscription(gancho.SubscriptionInput{URL: ref("https://example.com/h"), Signature: &gancho.SignatureInput{Scheme: &bad}}, gancho.TargetPolicy{}); err == nil ||
		!strings.Contains(err.Error(), "signature.scheme") {
		t.Fatalf("scheme rsa: %v", err)
	}
}
