package verify_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
	"github.com/gancho-dev/gancho/shared/verify"
)

// Whatever the headers hold, verification never panics, and it accepts only when the
// signature list holds a genuine signature of exactly this id, timestamp and body.
func FuzzVerifySignature(f *testing.F) {
	secret := gancho.NewSecret()
	key, _ := signature.ParseSecret(secret)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, err := verify.New(secret)
	if err != nil {
		f.Fatal(err)
	}
	v = v.WithPublicKey(pub)
	now := time.Now().Unix()
	ts := strconv.FormatInt(now, 10)
	body := `{"id":"evt_1","type":"a.b","data":{}}`
	v1a := "v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte("dlv_1."+ts+"."+body)))
	f.Add("dlv_1", ts, key.Sign("dlv_1", now, []byte(body)), body)
	f.Add("dlv_1", ts, "v2,abc "+key.Sign("dlv_1", now, []byte(body))+" v1,x", body)
	f.Add("dlv_1", ts, v1a, body)
	f.Add("dlv_1", ts, "v1a,"+strings.Repeat("A", 86)+"== "+v1a, body)
	f.Add("dlv_1", "+"+ts, key.Sign("dlv_1", now, nil), "")
	f.Add("", "", "", "")
	f.Add("a.b", "0", "v1,,,, ,v1 v1a,", "\x00")
	f.Fuzz(func(t *testing.T, id, timestamp, sigs, body string) {
		if v.VerifySignature(id, timestamp, sigs, []byte(body)) != nil {
			return
		}
		secs, err := strconv.ParseInt(timestamp, 10, 64)
		if err != nil {
			t.Fatalf("accepted timestamp %q", timestamp)
		}
		signed := id + "." + strconv.FormatInt(secs, 10) + "." + body
		for _, s := range strings.Split(sigs, " ") {
			if s == key.Sign(id, secs, []byte(body)) {
				return
			}
			if raw, ok := strings.CutPrefix(s, "v1a,"); ok {
				if b, err := base64.StdEncoding.DecodeString(raw); err == nil && ed25519.Verify(pub, []byte(signed), b) {
					return
				}
			}
		}
		t.Fatalf("accepted %q %q %q %q without a genuine signature", id, timestamp, sigs, body)
	})
}
