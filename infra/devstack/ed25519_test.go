package devstack_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/verify"
)

// A subscription with signature.scheme ed25519, end to end: the API shows its public
// key (never a private key), a receiver holding only that key verifies the delivery
// with package verify, the scheme cannot be changed by PUT, and a rotation signs with
// both keys during the overlap.
func TestEd25519SubscriptionEndToEnd(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}

	var mu sync.Mutex
	verified := map[string]int{} // delivery id -> requests that verified
	var v *verify.Verifier
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ver := v
		mu.Unlock()
		ver.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dl, _ := verify.FromContext(r.Context())
			mu.Lock()
			verified[dl.ID]++
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	var sub gancho.Subscription
	var raw map[string]any
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": srv.URL, "signature": map[string]any{"scheme": "ed25519"}}, &raw); code != 201 {
		t.Fatalf("create: %d %v", code, raw)
	}
	c.do("GET", "/v1/subscriptions/"+raw["id"].(string), nil, &sub)
	if _, has := raw["secret"]; has || sub.Signature.Scheme != gancho.SchemeEd25519 || !strings.HasPrefix(sub.Signature.PublicKey, gancho.PublicKeyPrefix) {
		t.Fatalf("created %v; read signature %+v", raw, sub.Signature)
	}
	var secret map[string]any
	c.do("GET", "/v1/subscriptions/"+sub.ID+"/secret", nil, &secret)
	if secret["publicKey"] != sub.Signature.PublicKey || secret["secret"] != nil {
		t.Fatalf("secret route = %v", secret)
	}
	for _, s := range []string{raw["signature"].(map[string]any)["publicKey"].(string), sub.Signature.PublicKey} {
		if strings.Contains(s, gancho.SigningKeyPrefix) {
			t.Fatal("a private key was shown")
		}
	}
	var err error
	mu.Lock()
	v, err = verify.NewPublicKey(sub.Signature.PublicKey)
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	first := waitDelivery(t, c, firstDelivery(t, c, "order.created"), 20*time.Second)
	mu.Lock()
	ok := verified[first.ID]
	mu.Unlock()
	if first.Status != gancho.StatusDelivered || ok != 1 {
		t.Fatalf("delivery %s, verified %d times", first.Status, ok)
	}

	// The scheme is fixed: a PUT naming another is 422, one leaving it out keeps it.
	var problem struct {
		Errors []gancho.FieldError `json:"errors"`
	}
	if code := c.do("PUT", "/v1/subscriptions/"+sub.ID, map[string]any{"url": srv.URL, "signature": map[string]any{"scheme": "hmac-sha256"}}, &problem); code != 422 ||
		len(problem.Errors) == 0 || problem.Errors[0].Field != "signature.scheme" {
		t.Fatalf("PUT with another scheme: %d %+v", code, problem)
	}
	var kept gancho.Subscription
	if code := c.do("PUT", "/v1/subscriptions/"+sub.ID, map[string]any{"url": srv.URL, "name": "renamed"}, &kept); code != 200 ||
		kept.Signature != sub.Signature {
		t.Fatalf("PUT without a scheme: %d, signature %+v", code, kept.Signature)
	}

	// Rotation: the receiver still holding the old public key verifies during the overlap.
	var rotated map[string]any
	c.do("POST", "/v1/subscriptions/"+sub.ID+"/secret/rotate", nil, &rotated)
	if rotated["publicKey"] == sub.Signature.PublicKey || rotated["previousPublicKey"] != sub.Signature.PublicKey || rotated["secret"] != nil {
		t.Fatalf("rotate = %v", rotated)
	}
	var pub struct{ ID string }
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{"n": 2}}, &pub)
	second := waitDelivery(t, c, gancho.DeliveryID(pub.ID, sub.ID), 20*time.Second)
	mu.Lock()
	ok = verified[second.ID]
	mu.Unlock()
	if second.Status != gancho.StatusDelivered || ok != 1 {
		t.Fatalf("after rotation: delivery %s, verified with the old key %d times", second.Status, ok)
	}
}
