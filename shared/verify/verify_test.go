package verify_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
	"github.com/gancho-dev/gancho/shared/verify"
)

// signer makes the webhook-signature value for secrets: Gancho's own signing package
// and the official Standard Webhooks library must be interchangeable.
type signer func(t *testing.T, secrets []string, id string, ts time.Time, body []byte) string

var signers = map[string]signer{
	"gancho": func(t *testing.T, secrets []string, id string, ts time.Time, body []byte) string {
		keys := make([]signature.Key, len(secrets))
		for i, s := range secrets {
			k, err := signature.ParseSecret(s)
			if err != nil {
				t.Fatal(err)
			}
			keys[i] = k
		}
		return signature.Header(keys, id, ts.Unix(), body)
	},
	"official": func(t *testing.T, secrets []string, id string, ts time.Time, body []byte) string {
		sigs := make([]string, len(secrets))
		for i, s := range secrets {
			wh, err := standardwebhooks.NewWebhook(s)
			if err != nil {
				t.Fatal(err)
			}
			if sigs[i], err = wh.Sign(id, ts, body); err != nil {
				t.Fatal(err)
			}
		}
		return strings.Join(sigs, " ")
	},
}

// Both verifiers, ours and the official one, must accept and refuse the same
// deliveries, whichever of the two signed them.
func TestInteroperatesWithOfficialLibrary(t *testing.T) {
	secret, other := gancho.NewSecret(), gancho.NewSecret()
	body := []byte(`{"id":"evt_1","type":"order.created","createdAt":"2026-11-29T03:00:00Z","data":{"orderId":42}}`)
	const id = "dlv_1"
	type msg struct {
		h    http.Header
		body []byte
	}
	cases := []struct {
		name     string
		signWith []string                                // secrets the sender signs with
		at       time.Duration                           // signing time relative to now
		mutate   func(t *testing.T, sign signer, m *msg) // after signing
		wantErr  error                                   // nil: accepted
	}{
		{name: "valid", signWith: []string{secret}},
		{name: "empty body", signWith: []string{secret}, mutate: func(t *testing.T, s signer, m *msg) {
			m.body = nil
			m.h.Set("webhook-signature", s(t, []string{secret}, id, time.Unix(mustAtoi(t, m.h.Get("webhook-timestamp")), 0), nil))
		}},
		{name: "four minutes old", signWith: []string{secret}, at: -4 * time.Minute},
		{name: "four minutes ahead", signWith: []string{secret}, at: 4 * time.Minute},
		{name: "changed body", signWith: []string{secret}, wantErr: verify.ErrNoMatchingSignature,
			mutate: func(_ *testing.T, _ signer, m *msg) { m.body = []byte(strings.Replace(string(m.body), "42", "43", 1)) }},
		{name: "changed id", signWith: []string{secret}, wantErr: verify.ErrNoMatchingSignature,
			mutate: func(_ *testing.T, _ signer, m *msg) { m.h.Set("webhook-id", "dlv_2") }},
		{name: "changed timestamp", signWith: []string{secret}, wantErr: verify.ErrNoMatchingSignature,
			mutate: func(t *testing.T, _ signer, m *msg) {
				m.h.Set("webhook-timestamp", strconv.FormatInt(mustAtoi(t, m.h.Get("webhook-timestamp"))+1, 10))
			}},
		{name: "timestamp with a leading zero", signWith: []string{secret}, // both read the number, not the text
			mutate: func(_ *testing.T, _ signer, m *msg) { m.h.Set("webhook-timestamp", "0"+m.h.Get("webhook-timestamp")) }},
		{name: "old timestamp", signWith: []string{secret}, at: -6 * time.Minute, wantErr: verify.ErrTooOld},
		{name: "timestamp in the future", signWith: []string{secret}, at: 6 * time.Minute, wantErr: verify.ErrTooNew},
		{name: "timestamp not a number", signWith: []string{secret}, wantErr: verify.ErrInvalidTimestamp,
			mutate: func(_ *testing.T, _ signer, m *msg) { m.h.Set("webhook-timestamp", "2026-11-29T03:00:00Z") }},
		{name: "wrong secret", signWith: []string{other}, wantErr: verify.ErrNoMatchingSignature},
		{name: "rotation, second signature matches", signWith: []string{other, secret}},
		{name: "rotation, first signature matches", signWith: []string{secret, other}},
		{name: "unknown version ignored", signWith: []string{secret},
			mutate: func(_ *testing.T, _ signer, m *msg) {
				m.h.Set("webhook-signature", "v2,Zm9vYmFy v1a,"+base64.StdEncoding.EncodeToString(make([]byte, 64))+" "+m.h.Get("webhook-signature"))
			}},
		{name: "only unknown versions", signWith: []string{secret}, wantErr: verify.ErrNoMatchingSignature,
			mutate: func(_ *testing.T, _ signer, m *msg) {
				m.h.Set("webhook-signature", strings.Replace(m.h.Get("webhook-signature"), "v1,", "v2,", 1))
			}},
		{name: "signature without version", signWith: []string{secret}, wantErr: verify.ErrNoMatchingSignature,
			mutate: func(_ *testing.T, _ signer, m *msg) {
				m.h.Set("webhook-signature", strings.TrimPrefix(m.h.Get("webhook-signature"), "v1,"))
			}},
		{name: "missing id", signWith: []string{secret}, wantErr: verify.ErrMissingHeader,
			mutate: func(_ *testing.T, _ signer, m *msg) { m.h.Del("webhook-id") }},
		{name: "missing timestamp", signWith: []string{secret}, wantErr: verify.ErrMissingHeader,
			mutate: func(_ *testing.T, _ signer, m *msg) { m.h.Del("webhook-timestamp") }},
		{name: "missing signature", signWith: []string{secret}, wantErr: verify.ErrMissingHeader,
			mutate: func(_ *testing.T, _ signer, m *msg) { m.h.Del("webhook-signature") }},
	}
	ours, err := verify.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	official, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	for signerName, sign := range signers {
		for _, c := range cases {
			t.Run(signerName+"/"+c.name, func(t *testing.T) {
				ts := time.Now().Add(c.at)
				m := &msg{h: http.Header{}, body: body}
				m.h.Set("webhook-id", id)
				m.h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
				m.h.Set("webhook-signature", sign(t, c.signWith, id, ts, body))
				if c.mutate != nil {
					c.mutate(t, sign, m)
				}
				err := ours.Verify(m.h, m.body)
				if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
					t.Errorf("ours: Verify = %v, want %v", err, c.wantErr)
				}
				var ve *verify.Error
				if err != nil && !errors.As(err, &ve) {
					t.Errorf("ours: %v is not a *verify.Error", err)
				}
				if oerr := official.Verify(m.body, m.h); (oerr == nil) != (c.wantErr == nil) {
					t.Errorf("official: Verify = %v, want accepted=%v", oerr, c.wantErr == nil)
				}
			})
		}
	}
}

// The values of the three headers, given directly, verify as the headers do.
func TestVerifySignature(t *testing.T) {
	v, _ := verify.New("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	v = v.WithClock(func() time.Time { return time.Unix(1614265330, 0) })
	// The test vector published with the Standard Webhooks specification.
	const sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	if err := v.VerifySignature("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, []byte(`{"test": 2432232314}`)); err != nil {
		t.Fatalf("spec vector refused: %v", err)
	}
	if err := v.VerifySignature("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig, []byte(`{"test": 2432232315}`)); !errors.Is(err, verify.ErrNoMatchingSignature) {
		t.Fatalf("tampered body: %v", err)
	}
}

func TestTolerance(t *testing.T) {
	secret := gancho.NewSecret()
	key, _ := signature.ParseSecret(secret)
	now := time.Unix(1_800_000_000, 0)
	base, _ := verify.New(secret)
	base = base.WithClock(func() time.Time { return now })
	for _, c := range []struct {
		name      string
		tolerance time.Duration // 0: the default
		age       time.Duration
		wantErr   error
	}{
		{name: "default, at the limit", age: 5 * time.Minute},
		{name: "default, a second over", age: 5*time.Minute + time.Second, wantErr: verify.ErrTooOld},
		{name: "default, ahead at the limit", age: -5 * time.Minute},
		{name: "default, ahead a second over", age: -5*time.Minute - time.Second, wantErr: verify.ErrTooNew},
		{name: "widened", tolerance: time.Hour, age: 59 * time.Minute},
		{name: "narrowed", tolerance: 30 * time.Second, age: time.Minute, wantErr: verify.ErrTooOld},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := base
			if c.tolerance != 0 {
				v = v.WithTolerance(c.tolerance)
			}
			ts := now.Add(-c.age).Unix()
			err := v.VerifySignature("dlv_1", strconv.FormatInt(ts, 10), key.Sign("dlv_1", ts, []byte("{}")), []byte("{}"))
			if !errors.Is(err, c.wantErr) || (err == nil) != (c.wantErr == nil) {
				t.Fatalf("Verify = %v, want %v", err, c.wantErr)
			}
		})
	}
}

// "v1a" signatures: ed25519 over the same content, with keys made here.
func TestPublicKeySignatures(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	secret := gancho.NewSecret()
	key, _ := signature.ParseSecret(secret)
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"id":"evt_1"}`)
	v1a := func(k ed25519.PrivateKey, body []byte) string {
		return "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(k, []byte("dlv_1."+ts+"."+string(body))))
	}
	byKey, err := verify.NewPublicKey(verify.PublicKeyPrefix + base64.StdEncoding.EncodeToString(pub))
	if err != nil {
		t.Fatal(err)
	}
	bySecret, _ := verify.New(secret)
	both := bySecret.WithPublicKey(pub)
	for _, c := range []struct {
		name string
		v    *verify.Verifier
		sigs string
		body []byte
		ok   bool
	}{
		{name: "valid", v: byKey, sigs: v1a(priv, body), ok: true},
		{name: "tampered body", v: byKey, sigs: v1a(priv, body), body: []byte(`{"id":"evt_2"}`)},
		{name: "other key", v: byKey, sigs: v1a(otherPriv, body)},
		{name: "rotation, second key matches", v: byKey, sigs: v1a(otherPriv, body) + " " + v1a(priv, body), ok: true},
		{name: "next to v1, key only", v: byKey, sigs: key.Sign("dlv_1", now.Unix(), body) + " " + v1a(priv, body), ok: true},
		{name: "v1a only, secret only", v: bySecret, sigs: v1a(priv, body)},
		{name: "secret and key, v1 matches", v: both, sigs: v1a(otherPriv, body) + " " + key.Sign("dlv_1", now.Unix(), body), ok: true},
		{name: "secret and key, v1a matches", v: both, sigs: v1a(priv, body), ok: true},
		{name: "truncated", v: byKey, sigs: v1a(priv, body)[:50]},
		{name: "not base64", v: byKey, sigs: "v1a,!!!!"},
		{name: "WithPublicKey leaves the original alone", v: bySecret, sigs: v1a(priv, body)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := body
			if c.body != nil {
				b = c.body
			}
			err := c.v.VerifySignature("dlv_1", ts, c.sigs, b)
			if c.ok != (err == nil) || (err != nil && !errors.Is(err, verify.ErrNoMatchingSignature)) {
				t.Fatalf("Verify = %v, want accepted=%v", err, c.ok)
			}
		})
	}
}

// A flood of signatures does not make the verifier try them all.
func TestSignatureCountBounded(t *testing.T) {
	secret := gancho.NewSecret()
	key, _ := signature.ParseSecret(secret)
	v, _ := verify.New(secret)
	ts := time.Now().Unix()
	good := key.Sign("dlv_1", ts, nil)
	junk := strings.Repeat("v1,AAAA ", 10)
	if err := v.VerifySignature("dlv_1", strconv.FormatInt(ts, 10), strings.Repeat("v1,AAAA ", 9)+good, nil); err != nil {
		t.Fatalf("tenth signature refused: %v", err)
	}
	if err := v.VerifySignature("dlv_1", strconv.FormatInt(ts, 10), junk+good, nil); !errors.Is(err, verify.ErrNoMatchingSignature) {
		t.Fatalf("eleventh signature: %v, want refused", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		new  func() (*verify.Verifier, error)
	}{
		{"no secret", func() (*verify.Verifier, error) { return verify.New() }},
		{"empty secret", func() (*verify.Verifier, error) { return verify.New("") }},
		{"empty after prefix", func() (*verify.Verifier, error) { return verify.New("whsec_") }},
		{"not base64", func() (*verify.Verifier, error) { return verify.New("whsec_!!!") }},
		{"one of two bad", func() (*verify.Verifier, error) { return verify.New(gancho.NewSecret(), "whsec_!!!") }},
		{"public key as secret", func() (*verify.Verifier, error) { return verify.New("whpk_" + strings.Repeat("A", 43) + "=") }},
		{"no public key", func() (*verify.Verifier, error) { return verify.NewPublicKey() }},
		{"public key without prefix", func() (*verify.Verifier, error) { return verify.NewPublicKey(strings.Repeat("A", 43) + "=") }},
		{"public key too short", func() (*verify.Verifier, error) { return verify.NewPublicKey("whpk_AAAA") }},
		{"secret as public key", func() (*verify.Verifier, error) { return verify.NewPublicKey(gancho.NewSecret()) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.new(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// The official library also takes a secret without its prefix.
	if _, err := verify.New(strings.TrimPrefix(gancho.NewSecret(), "whsec_")); err != nil {
		t.Fatalf("secret without prefix: %v", err)
	}
}

func mustAtoi(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
