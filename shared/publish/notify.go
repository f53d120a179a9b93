package publish

// The pull side of publishing (pull results). A matched notify subscription gets the event
// in its inbox, which POST /v1/subscriptions/{id}/results reads. A push subscription
// gets no inbox items: the event lists it among its destinations, and its results are
// read from there (the store's ReadDelivered, package results). A notify subscription
// gets a thin notice instead of the event: an ordinary delivery (its id is the one a
// push delivery of this event would have), whose body the
// consumer builds from the subscription (deliver.Body). Notices are coalesced: the
// first event claims the subscription's pending-notice flag and queues a notice; while
// that notice is queued or retried, later events only set needView. The consumer
// clears the flag when the notice ends and extends its lease while it waits for a
// retry, so a flag left behind by a dead process only holds notices off for
// gancho.NoticeLease. A scheduled event (deliverAt) neither claims the flag nor joins
// a pending notice: it gets its own, sent at deliverAt.

import (
	"context"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Inbox is what the pull side of publishing needs from storage.
type Inbox interface {
	PutInbox(ctx context.Context, ev gancho.Event, subIDs []string, onlyNew bool) error
	ClaimNotice(ctx context.Context, tenant, subID, deliveryID string, at time.Time) (bool, error)
}

// noticeClaims bounds the notify subscriptions claimed at once during one fan-out.
const noticeClaims = 16

// pull puts ev in the inbox of every matched notify subscription and returns the matches
// that get a delivery now: push subscriptions, and notify subscriptions whose notice
// this event queues (no other one pending). With repair, inbox items already written
// are kept as they are.
func (p *Publisher) pull(ctx context.Context, ev gancho.Event, matches []gancho.Match, repair bool) ([]gancho.Match, error) {
	inbox := p.store
	var ids []string
	var notify []int
	for i, m := range matches {
		if m.Mode == gancho.ModeNotify {
			ids = append(ids, m.SubscriptionID)
			notify = append(notify, i)
		}
	}
	if len(notify) == 0 {
		return matches, nil
	}
	// The inbox first: a receiver told that there is something new must find it.
	if err := inbox.PutInbox(ctx, ev, ids, repair); err != nil {
		return nil, err
	}
	at := p.now().UTC()
	if ev.DeliverDelay(at) > 0 {
		// A scheduled event's notice is its own, queued for its deliverAt: joined to a
		// pending one it would tell the receiver before the event can be read (pull
		// results show it from deliverAt) and never after; claiming the flag would hold
		// the notices of the events published after it until its deliverAt. Its notice
		// does not settle another's flag (SettleNotice names the delivery).
		return matches, nil
	}
	claimed := make([]bool, len(matches))
	errs := make([]error, len(matches))
	sem := make(chan struct{}, noticeClaims)
	var wg sync.WaitGroup
	for _, i := range notify {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sub := matches[i].SubscriptionID
			claimed[i], errs[i] = inbox.ClaimNotice(ctx, ev.TenantID, sub, gancho.DeliveryID(ev.ID, sub), at)
		}()
	}
	wg.Wait()
	out := make([]gancho.Match, 0, len(matches))
	for i, m := range matches {
		if errs[i] != nil {
			// The event stays in the outbox; the sweeper's repair claims again.
			return nil, errs[i]
		}
		if m.Mode != gancho.ModeNotify || claimed[i] {
			out = append(out, m)
		}
	}
	return out, nil
}
