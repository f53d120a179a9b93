package soak

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFaultsPick(t *testing.T) {
	f := Faults{ServerError: 0.1, Hang: 0.05, Reset: 0.05}
	for _, tc := range []struct {
		u    float64
		want string
	}{
		{0, answer5xx}, {0.099, answer5xx}, {0.101, answerHang}, {0.149, answerHang},
		{0.151, answerReset}, {0.199, answerReset}, {0.201, answerOK}, {0.999, answerOK},
	} {
		if got := f.pick(tc.u); got != tc.want {
			t.Errorf("pick(%v) = %s, want %s", tc.u, got, tc.want)
		}
	}
	if got := (Faults{}).pick(0); got != answerOK {
		t.Errorf("no faults: pick(0) = %s", got)
	}
}

func post(t *testing.T, hc *http.Client, url string, seq int) (int, error) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": "evt_x", "type": eventType, "data": map[string]any{"seq": seq}})
	res, err := hc.Post(url, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}

func TestReceiverAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		faults   Faults
		wantCode int
		wantErr  bool
		received bool
	}{
		{"acknowledged", Faults{}, http.StatusNoContent, false, true},
		{"server error", Faults{ServerError: 1}, 0, false, false},
		{"hang past the timeout", Faults{Hang: 1}, 0, true, false},
		{"connection reset", Faults{Reset: 1}, 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			r, err := startReceiver(3, tc.faults, l)
			if err != nil {
				t.Fatal(err)
			}
			defer r.close()
			hc := &http.Client{Timeout: 300 * time.Millisecond}
			code, err := post(t, hc, r.URL, 7)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantCode != 0 && code != tc.wantCode {
				t.Errorf("code = %d, want %d", code, tc.wantCode)
			}
			if err == nil && code >= 200 && code < 300 != tc.received {
				t.Errorf("code = %d for received = %v", code, tc.received)
			}
			if got := l.Has(Pair{Seq: 7, Sub: 3}); got != tc.received {
				t.Errorf("received = %v, want %v", got, tc.received)
			}
		})
	}
}

func TestReceiverRefusesForeignBody(t *testing.T) {
	l := NewLedger()
	r, err := startReceiver(0, Faults{}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	res, err := http.Post(r.URL, "application/json", strings.NewReader(`{"id":"evt_x","data":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || l.Received() != 0 {
		t.Errorf("code %d, received %d", res.StatusCode, l.Received())
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    error
		want   bool
	}{
		{0, errors.New("connection refused"), true},
		{http.StatusInternalServerError, nil, true},
		{http.StatusServiceUnavailable, nil, true},
		{http.StatusTooManyRequests, nil, true},
		{http.StatusConflict, nil, true},
		{http.StatusAccepted, nil, false},
		{http.StatusUnprocessableEntity, nil, false},
		{http.StatusUnauthorized, nil, false},
	} {
		if got := retryable(response{status: tc.status}, tc.err); got != tc.want {
			t.Errorf("retryable(%d, %v) = %v, want %v", tc.status, tc.err, got, tc.want)
		}
	}
}

// TestPublishUntilAccepted: a client that gets no answer, then 409 while the first
// request runs, sends the same request with the same key until it is accepted.
func TestPublishUntilAccepted(t *testing.T) {
	for _, form := range []string{keyHeader, keyBody, keyBoth} {
		t.Run(form, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			var bodies, keys []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies, keys = append(bodies, string(b)), append(keys, r.Header.Get("Idempotency-Key"))
				mu.Unlock()
				switch calls.Add(1) {
				case 1:
					reset(w)
				case 2:
					w.WriteHeader(http.StatusConflict)
				default:
					w.Header().Set("Idempotent-Replayed", "true")
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write([]byte(`{"id":"evt_1"}`))
				}
			}))
			defer srv.Close()
			a := newAPI(srv.URL, "k", 1)
			req := publishRequest{eventType: eventType, payload: map[string]any{"seq": 1}, key: "run-1", form: form}
			res, tries, err := publishUntilAccepted(context.Background(), a, req)
			if err != nil || res.ID != "evt_1" || !res.Replayed || tries != 3 {
				t.Fatalf("res %+v, tries %d, err %v", res, tries, err)
			}
			for i := range bodies {
				if bodies[i] != bodies[0] || keys[i] != keys[0] {
					t.Errorf("request %d differs: %s %q, first %s %q", i, bodies[i], keys[i], bodies[0], keys[0])
				}
			}
			inBody := strings.Contains(bodies[0], `"idempotencyKey":"run-1"`)
			inHeader := keys[0] == "run-1"
			if inBody != (form != keyHeader) || inHeader != (form != keyBody) {
				t.Errorf("form %s: key in body %v, in header %v", form, inBody, inHeader)
			}
		})
	}
}

func TestPublishGivesUpOnClientError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
	}))
	defer srv.Close()
	_, tries, err := publishUntilAccepted(context.Background(), newAPI(srv.URL, "k", 1), publishRequest{eventType: eventType, key: "k", form: keyBody})
	if err == nil || tries != 1 {
		t.Fatalf("tries %d, err %v", tries, err)
	}
}

func TestProbeVerdict(t *testing.T) {
	accepted := func(id string) response {
		return response{status: http.StatusAccepted, body: []byte(`{"id":"` + id + `"}`)}
	}
	for _, tc := range []struct {
		name string
		p    probe
		pass bool
	}{
		{"same event, one stored", probe{firstErr: errors.New("reset"), retryID: "evt_a", listed: []string{"evt_a"}}, true},
		{"answered before the kill, replayed", probe{firstRes: accepted("evt_a"), retryID: "evt_a", listed: []string{"evt_a"}}, true},
		{"a second event", probe{firstErr: errors.New("reset"), retryID: "evt_b", listed: []string{"evt_b", "evt_a"}}, false},
		{"retry answered another id", probe{firstRes: accepted("evt_a"), retryID: "evt_b", listed: []string{"evt_b"}}, false},
		{"retry answered an id that is not stored", probe{firstErr: errors.New("reset"), retryID: "evt_b", listed: []string{"evt_a"}}, false},
		{"nothing stored", probe{firstErr: errors.New("reset"), retryID: "evt_b"}, false},
		{"retry never accepted", probe{retryErr: errors.New("409 for 3 minutes")}, false},
	} {
		if got, detail := tc.p.verdict(); got != tc.pass {
			t.Errorf("%s: passed = %v (%s), want %v", tc.name, got, detail, tc.pass)
		}
	}
}

func TestGateHoldsAndDrops(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer up.Close()
	g, err := startGate(strings.TrimPrefix(up.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	hc := &http.Client{Transport: &http.Transport{}}

	get := func() (int, error) {
		res, err := hc.Get(g.URL)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	if code, err := get(); err != nil || code != http.StatusNoContent {
		t.Fatalf("open gate: %d %v", code, err)
	}

	// Held: the request waits, and arrives on release.
	g.hold()
	done := make(chan error, 1)
	go func() { _, err := get(); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("request passed a held gate: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	g.release()
	if err := <-done; err != nil || hits.Load() != 2 {
		t.Fatalf("after release: err %v, hits %d", err, hits.Load())
	}

	// Dropped: what was held never arrives, and the caller sees the connection end.
	hc.CloseIdleConnections()
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.conns) == 0 })
	g.hold()
	conn, err := net.Dial("tcp", strings.TrimPrefix(g.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.conns) == 2 })
	g.drop()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("a dropped connection still answered")
	}
	if hits.Load() != 2 {
		t.Errorf("held request arrived after drop: hits %d", hits.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
