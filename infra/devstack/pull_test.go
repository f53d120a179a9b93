package devstack_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/gancho-dev/gancho/shared/dynamo"
	"github.com/gancho-dev/gancho/shared/gancho"
)

// gatedReceiver records every request; the first one is answered only when release
// is closed, so a test decides what happens while a delivery is in flight.
type gatedReceiver struct {
	mu      sync.Mutex
	got     []received
	arrived chan struct{}
	release chan struct{}
}

func newGatedReceiver(t *testing.T) (*gatedReceiver, string) {
	g := &gatedReceiver{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		g.mu.Lock()
		first := len(g.got) == 0
		g.got = append(g.got, received{header: req.Header.Clone(), body: body, at: time.Now()})
		g.mu.Unlock()
		g.arrived <- struct{}{}
		if first {
			<-g.release
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		select {
		case <-g.release:
		default:
			close(g.release)
		}
		srv.Close()
	})
	return g, srv.URL
}

func (g *gatedReceiver) requests() []received {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]received(nil), g.got...)
}

func (g *gatedReceiver) wait(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	deadline := time.After(within)
	for {
		if got := g.requests(); len(got) >= n {
			return got
		}
		select {
		case <-g.arrived:
		case <-deadline:
			t.Fatalf("receiver got %d requests, want %d within %s", len(g.requests()), n, within)
		}
	}
}

type pulled struct {
	Data []struct {
		ID   string         `json:"id"`
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	} `json:"data"`
	Total int `json:"total"`
}

func (p pulled) ids() []string {
	out := []string{}
	for _, ev := range p.Data {
		out = append(out, ev.ID)
	}
	return out
}

// Pull results: a thin notice for a burst of events, then the receiver pulls.
func TestPullResultsAfterThinNotice(t *testing.T) {
	d := startDev(t)
	c := client{t: t, base: d.URL, key: d.APIKey}
	if code := c.do("PATCH", "/v1/tenant", map[string]any{"publicBaseUrl": d.URL}, nil); code != 200 {
		t.Fatalf("set publicBaseUrl: %d", code)
	}
	notices, noticeURL := newGatedReceiver(t)
	pushRcv, pushURL := newReceiver(t, http.StatusOK)

	var sub, push gancho.Subscription
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": noticeURL + "/distribution", "events": []string{"order.*"},
		"ownerId": "carteira-7", "mode": "notify"}, &sub); code != 201 {
		t.Fatalf("create notify subscription: %d", code)
	}
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": pushURL, "events": []string{"order.created"}}, &push); code != 201 {
		t.Fatalf("create push subscription: %d", code)
	}

	// A burst of three events: the first one's notice is held at the receiver while
	// the other two are published.
	var published []string
	for i := range 3 {
		var pub struct{ ID string }
		if code := c.do("POST", "/v1/events", map[string]any{"type": "order.created", "ownerId": "carteira-7",
			"payload": map[string]any{"processo": i}}, &pub); code != 202 {
			t.Fatalf("publish %d: %d", i, code)
		}
		published = append(published, pub.ID)
		if i == 0 {
			notices.wait(t, 1, 20*time.Second)
		}
	}
	close(notices.release)
	pushRcv.wait(t, 3, 20*time.Second)
	waitQuiet(t, d, 20*time.Second) // a second notice would have arrived by now
	got := notices.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d notices for a burst, want 1 (coalesced)", len(got))
	}
	notice := got[0]

	wh, err := standardwebhooks.NewWebhook(sub.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(notice.body, notice.header); err != nil {
		t.Fatalf("the notice's signature does not verify: %v", err)
	}
	var body struct {
		WebhookID    string     `json:"webhookId"`
		OwnerID      string     `json:"ownerId"`
		LastUpdateAt *time.Time `json:"lastUpdateAt"`
		LastViewedAt *time.Time `json:"lastViewedAt"`
		Endpoints    struct {
			Result   string `json:"result"`
			Callback string `json:"callback"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(notice.body, &body); err != nil {
		t.Fatalf("notice body %s: %v", notice.body, err)
	}
	base := d.URL + "/v1/subscriptions/" + sub.ID
	if body.WebhookID != sub.ID || body.OwnerID != "carteira-7" || body.LastUpdateAt == nil || body.LastViewedAt != nil ||
		body.Endpoints.Result != base+"/results" || body.Endpoints.Callback != base+"/callback" {
		t.Fatalf("notice body = %s", notice.body)
	}
	if notice.header.Get("X-Gancho-Event") != published[0] {
		t.Errorf("X-Gancho-Event = %s, want the first event of the burst %s", notice.header.Get("X-Gancho-Event"), published[0])
	}

	// The receiver follows the notice's links.
	link := client{t: t, key: d.APIKey}
	var cb struct {
		NeedView *bool `json:"needView"`
	}
	if code := link.do("GET", body.Endpoints.Callback, nil, &cb); code != 200 || cb.NeedView == nil || !*cb.NeedView {
		t.Fatalf("callback: %d needView %v, want true", code, cb.NeedView)
	}
	var first pulled
	if code := link.do("POST", body.Endpoints.Result, nil, &first); code != 200 {
		t.Fatalf("results: %d", code)
	}
	if !slices.Equal(first.ids(), published) || first.Total != 3 || first.Data[2].Data["processo"] != 2.0 {
		t.Fatalf("results = %+v, want the burst %v oldest first", first, published)
	}
	if code := link.do("GET", body.Endpoints.Callback, nil, &cb); code != 200 || *cb.NeedView {
		t.Fatalf("callback after reading: %d needView %v, want false", code, *cb.NeedView)
	}
	var again pulled
	if code := link.do("POST", body.Endpoints.Result, map[string]any{}, &again); code != 200 || len(again.Data) != 0 || again.Total != 0 {
		t.Fatalf("second results: %d %+v, want nothing new", code, again)
	}
	var all pulled
	if code := c.do("POST", "/v1/subscriptions/"+sub.ID+"/results?all=true", map[string]any{"from": "0", "size": "2"}, &all); code != 200 {
		t.Fatalf("all results: %d", code)
	}
	if len(all.Data) != 2 || all.Total != 3 || all.Data[0].ID != published[2] {
		t.Fatalf("all results page = %+v, want the 2 newest of 3", all)
	}
	var s gancho.Subscription
	c.do("GET", "/v1/subscriptions/"+sub.ID, nil, &s)
	if s.NeedView || s.LastViewedAt == nil || s.LastUpdateAt == nil || s.LastStatusCode != 200 {
		t.Fatalf("status block after pulling: %+v", s.Status)
	}

	// The notice has ended, so the next event gets a notice of its own.
	var next struct{ ID string }
	c.do("POST", "/v1/events", map[string]any{"type": "order.created", "ownerId": "carteira-7", "payload": map[string]any{}}, &next)
	second := notices.wait(t, 2, 20*time.Second)[1]
	if err := wh.Verify(second.body, second.header); err != nil {
		t.Fatalf("second notice: %v", err)
	}
	if second.header.Get("webhook-id") == notice.header.Get("webhook-id") {
		t.Fatal("the second notice reused the first one's delivery id")
	}
	if err := json.Unmarshal(second.body, &body); err != nil || body.LastViewedAt == nil {
		t.Fatalf("second notice %s: want lastViewedAt set by the read", second.body)
	}

	// Pull works for push subscriptions too: their deliveries say what they were sent,
	// and an event shows as new once its fan-out has settled (dynamo.FanOutSettle).
	if code := c.do("GET", "/v1/subscriptions/"+push.ID+"/callback", nil, &cb); code != 200 || !*cb.NeedView {
		t.Fatalf("push callback: %d %v", code, cb.NeedView)
	}
	want := append(slices.Clone(published), next.ID)
	var pushedIDs []string
	waitFor(t, dynamo.FanOutSettle+20*time.Second, "the push subscription's results", func() bool {
		var pushed pulled
		if code := c.do("POST", "/v1/subscriptions/"+push.ID+"/results", map[string]any{"size": "10"}, &pushed); code != 200 {
			t.Fatalf("push results: %d", code)
		}
		pushedIDs = append(pushedIDs, pushed.ids()...)
		return len(pushedIDs) >= len(want)
	})
	if !slices.Equal(pushedIDs, want) {
		t.Fatalf("push subscription's results = %v, want %v", pushedIDs, want)
	}
}
