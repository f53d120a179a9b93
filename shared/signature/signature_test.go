package signature_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

// The test vector published with the Standard Webhooks specification.
func TestSignMatchesSpecVector(t *testing.T) {
	key, err := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := key.Sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	const want = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestParseSecretRejects(t *testing.T) {
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := signature.ParseSecret(s); err == nil {
			t.Errorf("ParseSecret(%q) accepted", s)
		}
	}
}

// The official library verifies what we sign, with the current and a rotated-out secret.
func TestOfficialLibraryVerifiesBothSignatures(t *testing.T) {
	oldSecret, newSecret := gancho.NewSecret(), gancho.NewSecret()
	oldKey, _ := signature.ParseSecret(oldSecret)
	newKey, _ := signature.ParseSecret(newSecret)
	body := []byte(`{"id":"evt_1","type":"a.b","data":{}}`)
	ts := time.Now().Unix()
	h := http.Header{}
	h.Set("webhook-id", "dlv_1")
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", signature.Header([]signature.Key{newKey, oldKey}, "dlv_1", ts, body))
	for _, secret := range []string{oldSecret, newSecret} {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("verify with %s...: %v", secret[:10], err)
		}
	}
	third, _ := standardwebhooks.NewWebhook(gancho.NewSecret())
	if err := third.Verify(body, h); err == nil {
		t.Error("a foreign secret verified the signature")
	}
	if err := func() error { wh, _ := standardwebhooks.NewWebhook(newSecret); return wh.Verify([]byte("tampered"), h) }(); err == nil {
		t.Error("a tampered body verified")
	}
}

func TestSignBody(t *testing.T) {
	key, _ := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	// HMAC-SHA256 of "{}" under that key, computed independently with openssl.
	const want = "sha256=0975dbf64619b2320969cf81869d63ef060a0a952cfe498ae7ad2c70a828d1e8"
	if got := key.SignBody([]byte("{}")); got != want {
		t.Fatalf("SignBody = %q, want %q", got, want)
	}
}

// edFixture is an ed25519 subscription key and what it signs.
func edFixture(t *testing.T) (signature.EdKey, string) {
	t.Helper()
	secret := gancho.NewSigningSecret(gancho.SchemeEd25519)
	s, err := signature.ParseSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	key, ok := s.(signature.EdKey)
	if !ok {
		t.Fatalf("ParseSigner(%s...) = %T, want an EdKey", secret[:6], s)
	}
	return key, gancho.PublicKeyOf(secret)
}

// v1a signatures verify with Go's crypto/ed25519 given only the public key, as
// Standard Webhooks defines them, and tampering with id, timestamp or body fails.
func TestEdKeySignsV1a(t *testing.T) {
	key, pubText := edFixture(t)
	pub, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(pubText, gancho.PublicKeyPrefix))
	if err != nil || len(pub) != ed25519.PublicKeySize || !strings.HasPrefix(pubText, gancho.PublicKeyPrefix) {
		t.Fatalf("public key %q (%v)", pubText, err)
	}
	body := []byte(`{"type":"order.created","data":{"n":1}}`)
	sig := key.Sign("dlv_1", 1700000000, body)
	raw, ok := strings.CutPrefix(sig, "v1a,")
	if !ok {
		t.Fatalf("signature %q does not start with v1a,", sig)
	}
	decoded, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		id        string
		ts        string
		body      string
		wantValid bool
	}{
		{"as signed", "dlv_1", "1700000000", string(body), true},
		{"another id", "dlv_2", "1700000000", string(body), false},
		{"another timestamp", "dlv_1", "1700000001", string(body), false},
		{"another body", "dlv_1", "1700000000", string(body) + " ", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := []byte(tc.id + "." + tc.ts + "." + tc.body)
			if got := ed25519.Verify(ed25519.PublicKey(pub), msg, decoded); got != tc.wantValid {
				t.Fatalf("verify = %v, want %v", got, tc.wantValid)
			}
		})
	}
	// Two keys during a rotation: one v1a signature each, space-separated.
	other, _ := edFixture(t)
	if h := signature.Header([]signature.Signer{key, other}, "dlv_1", 1700000000, body); len(strings.Fields(h)) != 2 || !strings.HasPrefix(strings.Fields(h)[1], "v1a,") {
		t.Fatalf("rotation header = %q", h)
	}
}

func TestParseSignerRejects(t *testing.T) {
	for _, s := range []string{"whsk_", "whsk_!!!", "whsk_" + base64.StdEncoding.EncodeToString(make([]byte, 31)), "whpk_abc"} {
		if _, err := signature.ParseSigner(s); err == nil {
			t.Errorf("ParseSigner(%q) accepted", s)
		}
	}
}

// An independent implementation: Python's cryptography package verifies Gancho's v1a
// signature from the public key alone, and refuses it for a changed body.
func TestV1aVerifiedByPythonCryptography(t *testing.T) {
	py := pythonWithCryptography(t)
	key, pub := edFixture(t)
	body := `{"type":"order.created","data":{"orderId":42,"note":"ação"}}`
	sig := key.Sign("dlv_py", 1700000123, []byte(body))
	const script = `
import base64, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.exceptions import InvalidSignature
pub, msg_id, ts, body, header = sys.argv[1:6]
key = Ed25519PublicKey.from_public_bytes(base64.b64decode(pub.removeprefix("whpk_")))
def ok(b):
    for part in header.split():
        version, _, sig = part.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(sig), f"{msg_id}.{ts}.{b}".encode())
            return True
        except InvalidSignature:
            pass
    return False
if not ok(body):
    sys.exit("valid signature refused")
if ok(body + " "):
    sys.exit("signature of another body accepted")
print("ok")
`
	out, err := exec.Command(py, "-c", script, pub, "dlv_py", "1700000123", body, sig).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python verification: %v: %s", err, out)
	}
}

// pythonWithCryptography finds a Python 3 that has the cryptography package
// (infra/local/install.sh installs Debian's python3-cryptography when none has it).
func pythonWithCryptography(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import cryptography.hazmat.primitives.asymmetric.ed25519").Run() == nil {
			return py
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no python3 with the cryptography package in CI (infra/local/install.sh installs it)")
	}
	t.Skip("no python3 with the cryptography package (run infra/local/install.sh)")
	return ""
}
