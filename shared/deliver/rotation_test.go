package deliver

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// While a rotated-out secret is valid, both secrets sign and a receiver holding
// either one verifies with the official library; afterwards only the new one signs.
func TestBothSecretsSignDuringRotation(t *testing.T) {
	oldSecret, newSecret := gancho.NewSecret(), gancho.NewSecret()
	now := time.Now()
	until := now.Add(24 * time.Hour)
	r := tokenRequest("https://client.example/h", "", "", nil)
	r.sub.Auth.Type = "none"
	r.sub.Secret, r.sub.PreviousSecret, r.sub.PreviousSecretValidUntil = newSecret, oldSecret, &until

	req, err := r.build(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := Body(r.sub, r.event)
	if n := len(strings.Fields(req.Header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures during rotation, want 2", n)
	}
	for _, s := range []string{oldSecret, newSecret} {
		wh, _ := standardwebhooks.NewWebhook(s)
		if err := wh.Verify(body, req.Header); err != nil {
			t.Errorf("verify with %s...: %v", s[:10], err)
		}
	}
	later, err := r.build(context.Background(), until.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(later.Header.Get("webhook-signature"))); n != 1 {
		t.Fatalf("%d signatures after the overlap, want 1", n)
	}
	wh, _ := standardwebhooks.NewWebhook(oldSecret)
	if err := wh.VerifyIgnoringTimestamp(body, later.Header); err == nil {
		t.Error("the expired secret still verifies")
	}
}

// An ed25519 subscription's requests carry v1a signatures that its public keys verify
// (both during a rotation), and no single-header HMAC form even when the tenant asks
// for one: there is no symmetric secret to make it with.
func TestEd25519SubscriptionSignsV1a(t *testing.T) {
	oldKey, newKey := gancho.NewSigningSecret(gancho.SchemeEd25519), gancho.NewSigningSecret(gancho.SchemeEd25519)
	now := time.Now()
	until := now.Add(24 * time.Hour)
	r := tokenRequest("https://client.example/h", "", "", nil)
	r.sub.Auth.Type = "none"
	r.sub.Signature = gancho.Signature{Scheme: gancho.SchemeEd25519}
	r.sub.Secret, r.sub.PreviousSecret, r.sub.PreviousSecretValidUntil = newKey, oldKey, &until
	r.tenant.SignatureHeader = "X-Provider-Signature"

	req, err := r.build(context.Background(), now)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := Body(r.sub, r.event)
	sigs := strings.Fields(req.Header.Get("webhook-signature"))
	if len(sigs) != 2 || req.Header.Get("X-Provider-Signature") != "" {
		t.Fatalf("signatures %q, single header %q", sigs, req.Header.Get("X-Provider-Signature"))
	}
	msg := []byte(req.Header.Get("webhook-id") + "." + req.Header.Get("webhook-timestamp") + "." + string(body))
	for i, secret := range []string{newKey, oldKey} {
		pub, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(gancho.PublicKeyOf(secret), gancho.PublicKeyPrefix))
		raw, ok := strings.CutPrefix(sigs[i], "v1a,")
		sig, _ := base64.StdEncoding.DecodeString(raw)
		if !ok || !ed25519.Verify(pub, msg, sig) {
			t.Errorf("signature %d (%q) does not verify with its public key", i, sigs[i])
		}
	}
}
