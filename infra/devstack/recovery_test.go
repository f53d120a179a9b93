package devstack_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

func TestAutoDisableAfterFailingTooLong(t *testing.T) {
	// "Five days" shortened to one second.
	d := startDev(t, func(o *devstack.Options) {
		o.DeliverOptions = []deliver.Option{deliver.WithDisableAfter(time.Second)}
	})
	c := client{t: t, base: d.URL, key: d.APIKey}
	_, url := newMisbehaving(t, status(500))
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": url, "retrySchedule": []int{1, 1, 1, 1}}, &sub)
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{}}, nil)
	off := waitSubscription(t, c, sub.ID, func(s gancho.Subscription) bool { return !s.IsActive })
	if !strings.Contains(off.DisabledReason, "failing since") || off.FailingSince == nil || off.ConsecutiveFailures < 2 {
		t.Fatalf("disabled subscription = %+v", off.Status)
	}
	// Re-enabling starts afresh.
	var on gancho.Subscription
	if code := c.do("PATCH", "/v1/subscriptions/"+sub.ID, map[string]any{"isActive": true}, &on); code != 200 {
		t.Fatalf("re-enable: %d", code)
	}
	if !on.IsActive || on.FailingSince != nil || on.ConsecutiveFailures != 0 || on.DisabledReason != "" {
		t.Fatalf("re-enabled = %+v", on)
	}
}

func TestManualRetryRecoverAndRedrive(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if healthy.Load() {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(500)
	}))
	t.Cleanup(srv.Close)
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": srv.URL, "retrySchedule": []int{1}}, &sub)
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, firstDeliveryOf(t, c, sub.ID))
	}
	for _, id := range ids {
		if dl := waitDelivery(t, c, id, 20*time.Second); dl.Status != gancho.StatusFailed || len(dl.Attempts) != 2 {
			t.Fatalf("before recovery: %+v", dl)
		}
	}
	healthy.Store(true)

	// retry: one more attempt of one delivery, now.
	var retried map[string]any
	if code := c.do("POST", "/v1/deliveries/"+ids[0]+"/retry", nil, &retried); code != 202 {
		t.Fatalf("retry: %d %v", code, retried)
	}
	if dl := waitDelivery(t, c, ids[0], 20*time.Second); dl.Status != gancho.StatusDelivered || len(dl.Attempts) != 3 {
		t.Fatalf("after retry: %+v", dl)
	}
	if code := c.do("POST", "/v1/deliveries/"+ids[0]+"/retry", nil, nil); code != 202 {
		t.Fatalf("retrying a delivered delivery sends it again: %d", code)
	}

	// recover: the other failed one of this subscription, since a time.
	var rec struct{ Requeued int }
	if code := c.do("POST", "/v1/subscriptions/"+sub.ID+"/recover", map[string]any{"since": time.Now().Add(-time.Hour).Format(time.RFC3339)}, &rec); code != 202 || rec.Requeued != 2 {
		t.Fatalf("recover: %d %+v", code, rec)
	}
	if dl := waitDelivery(t, c, ids[1], 20*time.Second); dl.Status != gancho.StatusDelivered {
		t.Fatalf("after recover: %+v", dl)
	}

	// redrive: the dead-letter queue holds the exhausted deliveries; moving it back
	// makes one more attempt of each and empties it.
	var moved struct{ Moved int }
	if code := (client{t: t, base: d.URL, key: d.AdminKey}).do("POST", "/v1/dead-letters/redrive", nil, &moved); code != 202 || moved.Moved != 3 {
		t.Fatalf("redrive: %d %+v", code, moved)
	}
	if dl := waitDelivery(t, c, ids[2], 20*time.Second); dl.Status != gancho.StatusDelivered {
		t.Fatalf("after redrive: %+v", dl)
	}
	res, err := d.App.Clients.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &d.Config.DLQURL, WaitTimeSeconds: 1})
	if err != nil || len(res.Messages) != 0 {
		t.Fatalf("dead-letter queue after redrive: %d messages, %v", len(res.Messages), err)
	}
	if code := c.do("POST", "/v1/dead-letters/redrive", nil, nil); code != 403 {
		t.Fatalf("redrive with a tenant key: %d, want 403", code)
	}
}

// firstDeliveryOf publishes an event and returns its delivery to sub.
func firstDeliveryOf(t *testing.T, c client, subID string) string {
	t.Helper()
	var pub struct{ ID string }
	if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "payload": map[string]any{}}, &pub); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	return gancho.DeliveryID(pub.ID, subID)
}

// A single-header signature and token auth, end to end.
func TestSignatureHeaderAndTokenAuth(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	if code := c.do("PATCH", "/v1/tenant", map[string]any{"signatureHeader": "X-JuriChat-Signature"}, nil); code != 200 {
		t.Fatalf("set signatureHeader: %d", code)
	}
	var issued atomic.Int32
	login := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(b), "password=root") {
			w.WriteHeader(401)
			return
		}
		n := issued.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-" + string(rune('0'+n)), "expires_in": 3600})
	}))
	t.Cleanup(login.Close)
	var got []http.Header
	var bodies [][]byte
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Header.Clone())
		bodies = append(bodies, b)
		if r.Header.Get("Authorization") != "Bearer tok-1" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(rcv.Close)
	var sub gancho.Subscription
	c.do("POST", "/v1/subscriptions", map[string]any{"url": rcv.URL + "/ocr_feedback/:id", "method": "PUT",
		"auth": map[string]any{"type": "token", "url": login.URL + "/login", "bodyEncoding": "form",
			"body": map[string]string{"username": "root", "password": "root"}}}, &sub)
	var pub struct{ ID string }
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "subject": "a7046a49", "payload": map[string]any{"n": 1}}, &pub)
	dl := waitDelivery(t, c, gancho.DeliveryID(pub.ID, sub.ID), 20*time.Second)
	if dl.Status != gancho.StatusDelivered || len(got) != 1 || issued.Load() != 1 {
		t.Fatalf("delivery %s, %d requests, %d tokens", dl.Status, len(got), issued.Load())
	}
	key, _ := signature.ParseSecret(sub.Secret)
	mac := hmac.New(sha256.New, key)
	mac.Write(bodies[0])
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); got[0].Get("X-JuriChat-Signature") != want {
		t.Fatalf("X-JuriChat-Signature = %q, want %q", got[0].Get("X-JuriChat-Signature"), want)
	}
}
