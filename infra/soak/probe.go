package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// When a probe's first request was cut off by the kill.
const (
	cutAfterStore    = "killed after its event was stored, before its answer"
	cutAfterAnswer   = "killed after its answer (the client ignores it)"
	cutBeforeStore   = "killed before its event was stored"
	cutNotSeen       = "killed with no sign of its event or answer"
	probeRetryWindow = 3 * time.Minute
)

// probe checks that a publish retried with the same idempotency key after a crash
// yields the same event and stores only one: its first request is sent, the server is
// killed while it runs (once its event is stored, if the soak catches that), and a
// retry with the same key after the restart must answer with the same event id, and
// the event type (one per probe) must list exactly one event.
type probe struct {
	req publishRequest

	first    chan struct{} // closed when the first request ended
	firstRes response
	firstErr error
	cut      string

	retryID  string
	retryErr error
	listed   []string
}

func newProbe(name, form, run string) *probe {
	return &probe{req: publishRequest{eventType: "soak.idem." + name, payload: map[string]any{"probe": name},
		key: run + "-" + name, form: form}, first: make(chan struct{})}
}

// begin sends the first request in the background.
func (p *probe) begin(ctx context.Context, a *api) {
	go func() {
		defer close(p.first)
		p.firstRes, p.firstErr = p.req.send(ctx, a)
	}()
}

// awaitStored returns once the probe's event is listed (true) or its first request
// ended: the moment to kill the server.
func (p *probe) awaitStored(ctx context.Context, a *api) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case <-p.first:
			return false
		default:
		}
		res, err := a.call(ctx, http.MethodGet, "/v1/events?limit=1&type="+p.req.eventType, nil, nil)
		if err == nil && res.status == http.StatusOK && strings.Contains(string(res.body), `"id"`) {
			return true
		}
	}
	return false
}

// killed records, after the kill, what the first request had got to.
func (p *probe) killed(stored bool) {
	<-p.first
	switch {
	case p.firstErr == nil && p.firstRes.status == http.StatusAccepted:
		p.cut = cutAfterAnswer
	case stored:
		p.cut = cutAfterStore
	case p.firstErr != nil:
		p.cut = cutBeforeStore
	default:
		p.cut = cutNotSeen
	}
}

// finish retries the publish with the same key after the restart and lists the
// events of the probe's type.
func (p *probe) finish(ctx context.Context, a *api) {
	ctx, cancel := context.WithTimeout(ctx, probeRetryWindow)
	defer cancel()
	res, _, err := publishUntilAccepted(ctx, a, p.req)
	if err != nil {
		p.retryErr = err
		return
	}
	p.retryID = res.ID
	evs, err := a.events(ctx, p.req.eventType)
	if err != nil {
		p.retryErr = err
		return
	}
	for _, e := range evs {
		p.listed = append(p.listed, e.ID)
	}
}

// firstID is the event id of the first request's answer, if it got one.
func (p *probe) firstID() string {
	if p.firstErr != nil || p.firstRes.status != http.StatusAccepted {
		return ""
	}
	var out publishResult
	_ = json.Unmarshal(p.firstRes.body, &out)
	return out.ID
}

// verdict says whether the probe passed, and why not.
func (p *probe) verdict() (bool, string) {
	switch {
	case p.retryErr != nil:
		return false, "retry failed: " + p.retryErr.Error()
	case p.firstID() != "" && p.firstID() != p.retryID:
		return false, fmt.Sprintf("retry answered %s, the first request %s", p.retryID, p.firstID())
	case len(p.listed) != 1:
		return false, fmt.Sprintf("%d events stored for one publish: %s", len(p.listed), strings.Join(p.listed, ", "))
	case p.listed[0] != p.retryID:
		return false, fmt.Sprintf("retry answered %s, the stored event is %s", p.retryID, p.listed[0])
	}
	return true, "same event " + p.retryID + ", one stored"
}
