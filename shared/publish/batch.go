package publish

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/queue"
)

// BatchItem is one event of a batch publish, validated, with its idempotency key (see
// ScopedKey) and request hash, both empty without a key.
type BatchItem struct {
	Event     gancho.Event
	Key, Hash string
}

// BatchOutcome is what publishing one item of a batch did: Result, or Err.
type BatchOutcome struct {
	Result Result
	Err    error
}

// BatchStore is what a batch publish needs from storage beyond Store: the same
// writes grouped into few calls.
type BatchStore interface {
	ClaimPublishKeys(ctx context.Context, reqs []gancho.KeyClaim) []gancho.KeyClaimResult
	LoadEvents(ctx context.Context, refs []gancho.EventRef) (map[string]gancho.Event, error)
	PutEvents(ctx context.Context, evs []gancho.Event, keyed []bool) []error
	PutFanOuts(ctx context.Context, ws []gancho.FanOutWrite) []error
	MarkEventsQueued(ctx context.Context, evs []gancho.Event, at time.Time, dests [][]gancho.Destination) []error
}

// DefaultBatchInlineFanOut is the most deliveries one batch queues while the
// publisher waits; the fan-outs of the events past it continue in the background.
const DefaultBatchInlineFanOut = 500

// batchParallelism bounds the concurrent matching queries and queue sends of a batch.
const batchParallelism = 8

// PublishBatch publishes items as Publish publishes each one, and returns one outcome
// per item, in order. Each item succeeds or fails on its own: a failed item changes
// nothing for the others. The work is shared: the idempotency keys are claimed
// together, events with the same tenant, type, owner and context are matched once,
// and the events, inbox entries and queue messages are written in batches. The write
// plans and crash safety are Publish's: an event queued first is stored once after
// its messages are on the queue; the others are stored in the outbox before any of
// their deliveries is queued, and leave it only once they all are.
//
// Items that share an idempotency key: the first publishes, a later one with the
// same request gets its outcome as a replay, one with another request a conflict.
func (p *Publisher) PublishBatch(ctx context.Context, items []BatchItem) []BatchOutcome {
	out := make([]BatchOutcome, len(items))
	b := &batch{p: p, bs: p.store, items: items, out: out, state: make([]itemState, len(items))}
	b.claimKeys(ctx)
	b.takeOver(ctx)
	b.publishNew(ctx)
	for i, st := range b.state {
		if st.sameAs >= 0 {
			out[i] = out[st.sameAs]
			if out[i].Err == nil {
				out[i].Result.Replayed = true
			}
		}
	}
	for _, o := range out {
		if o.Err == nil {
			p.record(o.Result)
		}
	}
	return out
}

type itemState struct {
	done     bool // out is set
	sameAs   int  // >= 0: a later item with the key of that one
	takeover bool // stores its event under an earlier claim's event id
	claim    gancho.PublishClaim
	claimed  bool // this run holds the key's claim
}

type batch struct {
	p     *Publisher
	bs    BatchStore
	items []BatchItem
	out   []BatchOutcome
	state []itemState
}

func (b *batch) fail(i int, err error) {
	b.out[i], b.state[i].done = BatchOutcome{Err: err}, true
}

// claimKeys claims every item's key, and settles the items whose key was already
// claimed: replays of the first event, conflicts, or takeovers.
func (b *batch) claimKeys(ctx context.Context) {
	now := b.p.now().UTC()
	first := map[[2]string]int{}
	var reqs []gancho.KeyClaim
	var owners []int
	for i, it := range b.items {
		b.state[i].sameAs = -1
		if it.Key == "" {
			continue
		}
		k := [2]string{it.Event.TenantID, it.Key}
		if j, ok := first[k]; ok {
			if b.items[j].Hash != it.Hash {
				b.fail(i, reused())
			} else {
				b.state[i].sameAs, b.state[i].done = j, true
			}
			continue
		}
		first[k] = i
		reqs = append(reqs, gancho.KeyClaim{Tenant: it.Event.TenantID, Key: it.Key,
			Claim: gancho.PublishClaim{EventID: it.Event.ID, Hash: it.Hash, ClaimedAt: now}})
		owners = append(owners, i)
	}
	if len(reqs) == 0 {
		return
	}
	var replays []int
	var refs []gancho.EventRef
	for j, res := range b.bs.ClaimPublishKeys(ctx, reqs) {
		i := owners[j]
		switch {
		case res.Err != nil:
			b.fail(i, res.Err)
		case res.Fresh:
			b.state[i].claim, b.state[i].claimed = res.Claim, true
		case res.Claim.Hash != b.items[i].Hash:
			b.fail(i, reused())
		default:
			b.state[i].claim = res.Claim
			replays = append(replays, i)
			refs = append(refs, gancho.EventRef{TenantID: b.items[i].Event.TenantID, ID: res.Claim.EventID})
		}
	}
	if len(replays) == 0 {
		return
	}
	stored, err := b.bs.LoadEvents(ctx, refs)
	for _, i := range replays {
		claim := b.state[i].claim
		ev, ok := stored[claim.EventID]
		switch {
		case err != nil:
			b.fail(i, err)
		case ok && ev.TenantID == b.items[i].Event.TenantID:
			b.out[i], b.state[i].done = BatchOutcome{Result: Result{Event: ev, Deliveries: ev.DeliveryCount, Replayed: true}}, true
		case b.p.now().Sub(claim.ClaimedAt) < b.p.takeover:
			b.fail(i, stillRunning())
		default:
			// The first publish died before storing its event: finish its work
			// under its event id, as Publish does.
			b.items[i].Event.ID = claim.EventID
			b.state[i].takeover, b.state[i].claimed = true, true
		}
	}
}

// takeOver publishes the items that finish a dead publish's work one by one: their
// event may have been stored meanwhile, which only a conditional write can tell.
func (b *batch) takeOver(ctx context.Context) {
	for i, st := range b.state {
		if st.takeover && !st.done {
			it := b.items[i]
			res, err := b.p.storeAndFanOut(ctx, it.Event, it.Key, st.claim)
			b.out[i], b.state[i].done = BatchOutcome{Result: res, Err: err}, true
		}
	}
}

// pending is one new event of the batch on its way through publishNew.
type pending struct {
	i          int
	ev         gancho.Event
	matches    []gancho.Match
	background bool
	// later: scheduled beyond the queue's delay, it waits in the outbox and is
	// matched when the sweeper hands it over, as in a single publish.
	later bool
	first bool // stored before its deliveries are queued
	err   error
}

// publishNew stores the batch's new events and queues their deliveries.
func (b *batch) publishNew(ctx context.Context) {
	var ps []*pending
	start := b.p.now()
	for i, st := range b.state {
		if !st.done {
			ev := b.items[i].Event
			ps = append(ps, &pending{i: i, ev: ev, later: scheduledAfterLead(ev, start)})
		}
	}
	if len(ps) == 0 {
		return
	}
	b.match(ctx, ps)

	// Decide what is fanned out here: each event up to the inline limit, the batch
	// up to DefaultBatchInlineFanOut; an event with nothing to deliver is stored as
	// queued already. Once one event's fan-out goes to the background, every later
	// one with deliveries goes too: a later event queued inline would overtake it,
	// which an ordered subscription or a callback with the same reference must never
	// see.
	now := b.p.now().UTC()
	left := b.p.batchInline
	background := false
	var toStore []*pending
	for _, pd := range ps {
		if pd.err != nil {
			continue
		}
		switch n := len(pd.matches); {
		case pd.later:
			// Not matched yet (see match): it waits in the outbox.
			pd.background = true
		case n > 0 && pd.ev.DeliverAt != nil:
			// A scheduled event is fanned out by the consumer, which delays its
			// messages until its deliverAt (or, further ahead, by the sweeper's
			// repair when its fan-out is due). It does not send the later events of
			// the batch to the background: it is meant to come after them.
			pd.background = true
		case n > 0 && (background || n > b.p.inline || n > left):
			pd.background, background = true, true
		case n == 0:
			pd.ev.QueuedAt = &now
		default:
			left -= n
		}
		// Stored first: the events fanned out in the background or with nothing to
		// deliver, and those queuedFirst leaves out.
		pd.first = pd.background || pd.ev.QueuedAt != nil || !queuedFirst(pd.ev, pd.matches, b.p.inline)
		toStore = append(toStore, pd)
	}
	first := keep(toStore, func(pd *pending) bool { return pd.first })
	b.store(ctx, first)
	for _, pd := range first {
		switch {
		case errors.Is(pd.err, gancho.ErrConflict):
			// A repeat took this key over while this run stalled, and stored the
			// event under the same id: it is that run's to fan out, not this one's.
			pd.err = fmt.Errorf("%w: %w", errNotStored, stillRunning())
		case pd.err != nil:
			b.abandon(ctx, pd)
		}
	}

	// From here every failure of an event stored first leaves it in the outbox,
	// which the sweeper repairs.
	inline := keep(toStore, func(pd *pending) bool { return pd.err == nil && !pd.background && pd.ev.QueuedAt == nil })
	b.writeFanOuts(ctx, inline)
	b.send(ctx, toStore)
	if marked := keep(inline, func(pd *pending) bool { return pd.err == nil && pd.first }); len(marked) > 0 {
		evs, dests := make([]gancho.Event, len(marked)), make([][]gancho.Destination, len(marked))
		for j, pd := range marked {
			evs[j], dests[j] = pd.ev, destinationsOf(pd.matches)
		}
		for j, err := range b.bs.MarkEventsQueued(ctx, evs, b.p.now(), dests) {
			marked[j].err = err
		}
	}
	// The events queued first are stored now, once, marked queued.
	last := keep(inline, func(pd *pending) bool { return !pd.first })
	queuedAt := b.p.now().UTC()
	for _, pd := range last {
		if pd.err == nil {
			pd.ev.QueuedAt, pd.ev.DeliveryCount, pd.ev.Destinations = &queuedAt, len(pd.matches), destinationsOf(pd.matches)
		}
	}
	b.store(ctx, keep(last, func(pd *pending) bool { return pd.err == nil }))
	for _, pd := range last {
		switch {
		case errors.Is(pd.err, gancho.ErrConflict):
			pd.err = fmt.Errorf("%w: %w", errNotStored, stillRunning())
		case pd.err != nil:
			pd.ev.QueuedAt = nil
			b.abandon(ctx, pd)
		}
	}
	for _, pd := range ps {
		switch {
		case pd.err != nil && pd.ev.QueuedAt == nil && !errors.Is(pd.err, errNotStored):
			b.fail(pd.i, fmt.Errorf("queue deliveries of %s (the sweeper will retry): %w", pd.ev.ID, pd.err))
		case pd.err != nil:
			b.fail(pd.i, pd.err)
		case pd.background:
			b.out[pd.i] = BatchOutcome{Result: Result{Event: pd.ev, Background: true}}
		default:
			pd.ev.DeliveryCount = len(pd.matches)
			b.out[pd.i] = BatchOutcome{Result: Result{Event: pd.ev, Deliveries: len(pd.matches)}}
		}
		b.state[pd.i].done = true
	}
}

// store writes the events of ps, each under its idempotency key's condition if it
// has one, and sets each one's error.
func (b *batch) store(ctx context.Context, ps []*pending) {
	if len(ps) == 0 {
		return
	}
	evs, keyed := make([]gancho.Event, len(ps)), make([]bool, len(ps))
	for j, pd := range ps {
		evs[j], keyed[j] = pd.ev, b.items[pd.i].Key != ""
	}
	for j, err := range b.bs.PutEvents(ctx, evs, keyed) {
		ps[j].err = err
	}
}

// errNotStored marks the failures that left an event unstored.
var errNotStored = errors.New("event not stored")

// abandon lets a retry take over at once the key of an event that was not stored, as
// Publish does.
func (b *batch) abandon(ctx context.Context, pd *pending) {
	if !errors.Is(pd.err, errNotStored) {
		pd.err = fmt.Errorf("%w: %w", errNotStored, pd.err)
	}
	st := b.state[pd.i]
	if !st.claimed {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	claim := st.claim
	claim.EventID = pd.ev.ID
	if err := b.p.store.AbandonPublishKey(actx, pd.ev.TenantID, b.items[pd.i].Key, claim); err != nil {
		pd.err = errors.Join(pd.err, err)
	}
}

// match finds each event's destinations, querying once per tenant, type, owner and
// context (what matching depends on). Events scheduled beyond the queue's delay are
// left unmatched: the consumer matches them when their fan-out is due, as after a
// single publish (a match now would be a read for nothing, and one that found
// nothing would store the event as queued for nobody).
func (b *batch) match(ctx context.Context, ps []*pending) {
	groups := map[string][]*pending{}
	var order []string
	for _, pd := range ps {
		ev := pd.ev
		switch {
		case pd.later:
		case ev.TargetSubscriptionID != "":
			pd.matches = []gancho.Match{{SubscriptionID: ev.TargetSubscriptionID, OwnerID: ev.OwnerID}}
		case ev.CallbackURL != "":
			pd.matches = []gancho.Match{{SubscriptionID: gancho.CallbackDestination, OwnerID: ev.OwnerID, Ordered: true}}
		default:
			k := strings.Join([]string{ev.TenantID, ev.Type, ev.OwnerID, ev.Context}, "\x00")
			if groups[k] == nil {
				order = append(order, k)
			}
			groups[k] = append(groups[k], pd)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, batchParallelism)
	for _, k := range order {
		g := groups[k]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			matches, err := b.p.store.MatchSubscriptions(ctx, g[0].ev)
			for _, pd := range g {
				pd.matches, pd.err = matches, err
				if err != nil {
					pd.err = fmt.Errorf("%w: %w", errNotStored, err)
				}
			}
		}()
	}
	wg.Wait()
}

// writeFanOuts writes the inbox entries of the events fanned out here (those with
// notify subscriptions, which are stored first); notify subscriptions' notices are
// coalesced as in a single publish (pull).
func (b *batch) writeFanOuts(ctx context.Context, ps []*pending) {
	inbox, hasInbox := b.p.store.(Inbox)
	if len(ps) == 0 || !hasInbox {
		return
	}
	ws := make([]gancho.FanOutWrite, len(ps))
	notify := false
	for j, pd := range ps {
		ws[j].Event = pd.ev
		if pd.ev.CallbackURL != "" || pd.ev.TargetSubscriptionID != "" {
			continue
		}
		// Inbox items only for notify subscriptions, as in a single publish (pull):
		// a push subscription's results are read from the events.
		for _, m := range pd.matches {
			if m.Mode == gancho.ModeNotify {
				ws[j].Inbox = append(ws[j].Inbox, m.SubscriptionID)
				notify = true
			}
		}
	}
	if !notify {
		return
	}
	// The inbox first: a receiver told that there is something new must find it.
	for j, err := range b.bs.PutFanOuts(ctx, ws) {
		ps[j].err = err
	}
	b.claimNotices(ctx, inbox, ps, b.p.now().UTC())
}

// claimNotices takes the pending-notice flag of each notify subscription the batch
// reaches, for the first event that reaches it; the later ones are coalesced into
// that notice (their claims would fail on its flag), as are all of them when another
// notice holds the flag.
func (b *batch) claimNotices(ctx context.Context, inbox Inbox, ps []*pending, now time.Time) {
	type claim struct {
		pd      *pending
		sub     string
		claimed bool
		err     error
	}
	seen := map[[2]string]bool{}
	var claims []*claim
	drop := map[*pending]map[string]bool{}
	for _, pd := range ps {
		if pd.err != nil {
			continue
		}
		for _, m := range pd.matches {
			if m.Mode != gancho.ModeNotify {
				continue
			}
			k := [2]string{pd.ev.TenantID, m.SubscriptionID}
			if seen[k] {
				if drop[pd] == nil {
					drop[pd] = map[string]bool{}
				}
				drop[pd][m.SubscriptionID] = true
				continue
			}
			seen[k] = true
			claims = append(claims, &claim{pd: pd, sub: m.SubscriptionID})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, noticeClaims)
	for _, c := range claims {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.claimed, c.err = inbox.ClaimNotice(ctx, c.pd.ev.TenantID, c.sub, gancho.DeliveryID(c.pd.ev.ID, c.sub), now)
		}()
	}
	wg.Wait()
	for _, c := range claims {
		switch {
		case c.err != nil:
			if c.pd.err == nil {
				c.pd.err = c.err // the event stays in the outbox; the repair claims again
			}
		case !c.claimed:
			if drop[c.pd] == nil {
				drop[c.pd] = map[string]bool{}
			}
			drop[c.pd][c.sub] = true
		}
	}
	for pd, subs := range drop {
		pd.matches = keepMatches(pd.matches, func(m gancho.Match) bool { return !subs[m.SubscriptionID] })
	}
}

// send queues the first attempt of every delivery, and the fan-out of each event
// handed to the background: the deliveries queue's messages ten per call, several
// calls at once; the ordered ones in publish order.
func (b *batch) send(ctx context.Context, ps []*pending) {
	var msgs, ordered []queue.Message
	var owners, orderedOwners []*pending
	var groups []string
	for _, pd := range ps {
		switch {
		case pd.err != nil || pd.ev.QueuedAt != nil || pd.later:
		case pd.background:
			msgs = append(msgs, queue.Message{Kind: queue.KindFanOut, TenantID: pd.ev.TenantID, EventID: pd.ev.ID})
			owners = append(owners, pd)
		default:
			m, o, g := messagesOf(pd.ev, pd.matches)
			msgs = append(msgs, m...)
			for range m {
				owners = append(owners, pd)
			}
			ordered, groups = append(ordered, o...), append(groups, g...)
			for range o {
				orderedOwners = append(orderedOwners, pd)
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, batchParallelism)
	for start := 0; start < len(msgs); start += 10 {
		end := min(start+10, len(msgs))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := b.p.queue.Send(ctx, msgs[start:end], 0); err != nil {
				mu.Lock()
				for _, pd := range owners[start:end] {
					if pd.err == nil {
						pd.err = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(ordered) > 0 {
		if err := b.p.queue.SendOrdered(ctx, ordered, groups); err != nil {
			for _, pd := range orderedOwners {
				if pd.err == nil {
					pd.err = err
				}
			}
		}
	}
}

func keep(ps []*pending, ok func(*pending) bool) []*pending {
	var out []*pending
	for _, pd := range ps {
		if ok(pd) {
			out = append(out, pd)
		}
	}
	return out
}

func keepMatches(ms []gancho.Match, ok func(gancho.Match) bool) []gancho.Match {
	out := make([]gancho.Match, 0, len(ms))
	for _, m := range ms {
		if ok(m) {
			out = append(out, m)
		}
	}
	return out
}
