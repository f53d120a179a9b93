package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// publisher offers events to POST /v1/events at a fixed rate (open loop: a slow
// answer does not delay the next publish).
type publisher struct {
	base, key string
	hc        *http.Client
	slots     chan struct{} // publishes in flight
	inflight  sync.WaitGroup
	accepted  atomic.Int64
	seq       atomic.Int64
}

func newPublisher(base, key string, maxInFlight int) *publisher {
	return &publisher{base: base, key: key, hc: client(maxInFlight, 30*time.Second), slots: make(chan struct{}, maxInFlight)}
}

// sent is an accepted event and when its publish was sent.
type sent struct {
	id string
	at time.Time
}

// window is what one run of the publisher offered and got back.
type window struct {
	start, end                       time.Time
	offered, refused, failed, unsent int

	mu     sync.Mutex
	events []sent // accepted, as their answers arrive
}

func (w *window) accepted() []sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]sent(nil), w.events...)
}

// setUp registers the event type and subscribes the receiver to it.
func (p *publisher) setUp(ctx context.Context, receiverURL string) error {
	if err := p.must(ctx, http.MethodPut, "/v1/event-types/"+eventType, map[string]any{"description": "load"}, http.StatusOK, http.StatusCreated); err != nil {
		return err
	}
	return p.must(ctx, http.MethodPost, "/v1/subscriptions", map[string]any{
		"name": "load", "url": receiverURL, "events": []string{eventType}, "timeoutSeconds": 5,
	}, http.StatusCreated)
}

func (p *publisher) must(ctx context.Context, method, path string, body any, want ...int) error {
	status, b, err := p.call(ctx, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	for _, w := range want {
		if status == w {
			return nil
		}
	}
	return fmt.Errorf("%s %s: %d %s", method, path, status, b)
}

func (p *publisher) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := p.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	return res.StatusCode, out, err
}

// run offers rate events per second for d. tick, when set, is called about ten
// times a second with the time elapsed. Publishes still in flight when it returns
// keep adding to the window's accepted events until wait.
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration, tick func(time.Duration)) *window {
	w := &window{start: time.Now()}
	w.end = w.start.Add(d)
	var mu sync.Mutex // the counters below, from the publishing goroutines
	lastTick := w.start
	for i := 0; ; i++ {
		due := w.start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if !due.Before(w.end) || ctx.Err() != nil {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		if tick != nil && time.Since(lastTick) >= 100*time.Millisecond {
			lastTick = time.Now()
			tick(lastTick.Sub(w.start))
		}
		w.offered++
		select {
		case p.slots <- struct{}{}:
		default:
			w.unsent++
			continue
		}
		p.inflight.Add(1)
		go func() {
			defer p.inflight.Done()
			defer func() { <-p.slots }()
			at := time.Now()
			status, body, err := p.call(ctx, http.MethodPost, "/v1/events", map[string]any{
				"type": eventType, "payload": map[string]any{"n": p.seq.Add(1)},
			})
			var ev struct {
				ID string `json:"id"`
			}
			switch {
			case err == nil && status == http.StatusAccepted && json.Unmarshal(body, &ev) == nil && ev.ID != "":
				p.accepted.Add(1)
				w.mu.Lock()
				w.events = append(w.events, sent{id: ev.ID, at: at})
				w.mu.Unlock()
			case err == nil && (status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests):
				mu.Lock()
				w.refused++
				mu.Unlock()
			default:
				mu.Lock()
				w.failed++
				mu.Unlock()
			}
		}()
	}
	if tick != nil {
		tick(time.Since(w.start))
	}
	return w
}

// wait waits for every publish in flight to be answered.
func (p *publisher) wait() { p.inflight.Wait() }

func (p *publisher) acceptedCount() int { return int(p.accepted.Load()) }
