package signature_test

import (
	"net/http"
	"strconv"
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
