package deliver

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
)

// RateLimiter counts sends per subscription in one-second windows shared by every
// consumer, so rateLimitPerSecond holds however many Lambda instances deliver.
// TakeRateToken counts one send in the second of at and returns that window's count,
// this send included; the send may go when the count is within the limit.
type RateLimiter interface {
	TakeRateToken(ctx context.Context, tenant, subID string, at time.Time) (int64, error)
}

// WithRateLimiter sets the shared limiter (by default the store); nil turns rate
// limits off.
func WithRateLimiter(l RateLimiter) Option {
	return func(h *Handler) {
		h.rate = nil
		if l != nil {
			h.rate = newRateGate(l)
		}
	}
}

// rateGate takes tokens from a RateLimiter and remembers, per subscription, the window
// this process already saw full: counts only grow within a window, so later takers of
// the same second are refused without another call.
type rateGate struct {
	limiter RateLimiter

	mu   sync.Mutex
	full map[rateKey]fullWindow
}

type rateKey struct{ tenant, sub string }

// fullWindow is a window seen full, with the last count this process knows of.
type fullWindow struct{ second, count int64 }

// maxFullWindows bounds the memory of full windows (one entry per busy subscription).
const maxFullWindows = 10000

func newRateGate(l RateLimiter) *rateGate {
	return &rateGate{limiter: l, full: map[rateKey]fullWindow{}}
}

// take asks for one send at now. It returns 0 when the send may go, otherwise the
// caller's place among this window's refused takers (1, 2, ...).
func (g *rateGate) take(ctx context.Context, tenant, sub string, limit int, now time.Time) (int64, error) {
	k, sec := rateKey{tenant, sub}, now.Unix()
	g.mu.Lock()
	if w, ok := g.full[k]; ok && w.second == sec {
		w.count++
		g.full[k] = w
		g.mu.Unlock()
		return max(w.count-int64(limit), 1), nil
	}
	g.mu.Unlock()
	count, err := g.limiter.TakeRateToken(ctx, tenant, sub, now)
	if err != nil {
		return 0, err
	}
	if count <= int64(limit) {
		return 0, nil
	}
	g.mu.Lock()
	if len(g.full) >= maxFullWindows {
		for k, w := range g.full {
			if w.second < sec {
				delete(g.full, k)
			}
		}
		if len(g.full) >= maxFullWindows {
			clear(g.full)
		}
	}
	if w := g.full[k]; w.second != sec || w.count < count {
		g.full[k] = fullWindow{second: sec, count: count}
	}
	g.mu.Unlock()
	return count - int64(limit), nil
}

// delay is how long a refused send waits: its place in the queue of refused takers
// says which later second it should aim for (the first `limit` of them the next
// second, the following `limit` the one after, ...), so a backlog spreads over the
// coming seconds instead of coming back all at once; plus 0 or 1 s at random (SQS
// counts delays in whole seconds, so finer jitter would be rounded away).
func rateDelay(place int64, limit int) time.Duration {
	slots := (place + int64(limit) - 1) / int64(limit)
	d := time.Duration(max(slots, 1)+rand.Int64N(2)) * time.Second
	return min(d, queue.MaxDelay)
}

// rateLimited takes a send token for a subscription with a rateLimitPerSecond (no
// call at all for the others) and reports whether the send must wait. Nothing is then
// sent or recorded, so the delivery keeps its status and attempt count, and the
// message is processed like the first time when it comes back:
//   - a standard-queue message goes back on the queue as it is (same attempt) for a
//     later second, and the current one may be acknowledged once Send succeeded;
//   - an ordered (FIFO) message is not re-sent, which would take it out of its group:
//     hold is how long the caller keeps it in flight, the rest of its group behind it.
func (h *Handler) rateLimited(ctx context.Context, m queue.Message, sub gancho.Subscription, now time.Time, ordered bool, log *slog.Logger) (hold time.Duration, limited bool, err error) {
	if sub.RateLimitPerSecond == nil || h.rate == nil {
		return 0, false, nil
	}
	limit := max(*sub.RateLimitPerSecond, 1)
	place, err := h.rate.take(ctx, m.TenantID, sub.ID, limit, now)
	if err != nil {
		if ctx.Err() != nil {
			// Out of time: the message comes back, as for any unfinished item.
			return 0, true, ctx.Err()
		}
		// The shared count is unavailable (throttled, most likely: the very load
		// it measures). Hold back rather than risk exceeding the receiver's limit.
		log.Warn("rate limit not checked; delaying", "subscriptionId", sub.ID, "err", err)
		place = 1
	}
	if place == 0 {
		return 0, false, nil
	}
	delay := rateDelay(place, limit)
	if ordered {
		log.Info("rate limited", "subscriptionId", sub.ID, "limit", limit, "holdS", delay.Seconds())
		return delay, true, nil
	}
	if err := h.queue.Send(ctx, []queue.Message{m}, delay); err != nil {
		return 0, true, err
	}
	log.Info("rate limited", "subscriptionId", sub.ID, "limit", limit, "delayS", delay.Seconds())
	return 0, true, nil
}
