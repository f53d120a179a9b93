package loadbench

import (
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// receiver is the subscription's endpoint on loopback: it answers 200 at once and
// records when each delivery first arrived.
type receiver struct {
	srv *http.Server
	URL string

	mu    sync.Mutex
	seen  map[string]bool      // webhook-id (delivery id): retries count once
	first map[string]time.Time // event id → first receipt
	times []time.Time          // first receipts, in arrival order
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &receiver{URL: "http://" + ln.Addr().String() + "/hook", seen: map[string]bool{}, first: map[string]time.Time{}}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	_, _ = io.Copy(io.Discard, req.Body)
	w.WriteHeader(http.StatusOK)
	id, ev := req.Header.Get("Webhook-Id"), req.Header.Get("X-Gancho-Event")
	r.mu.Lock()
	defer r.mu.Unlock()
	if id == "" || r.seen[id] {
		return
	}
	r.seen[id] = true
	r.times = append(r.times, at)
	if _, ok := r.first[ev]; !ok {
		r.first[ev] = at
	}
}

func (r *receiver) close() { _ = r.srv.Close() }

// count is the deliveries received.
func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

// between counts the deliveries first received within [from, to).
func (r *receiver) between(from, to time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.times {
		if !t.Before(from) && t.Before(to) {
			n++
		}
	}
	return n
}

// latencies are the publish-to-receive times of events, sorted; an event not
// received is math.MaxInt64 (beyond every wait).
func (r *receiver) latencies(events []sent) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Duration, 0, len(events))
	for _, e := range events {
		if t, ok := r.first[e.id]; ok {
			out = append(out, t.Sub(e.at))
		} else {
			out = append(out, math.MaxInt64)
		}
	}
	slices.Sort(out)
	return out
}
