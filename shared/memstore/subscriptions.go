package memstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// CreateSubscription stores sub (gancho.ErrConflict if its id is taken).
func (st *Store) CreateSubscription(_ context.Context, sub gancho.Subscription) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := k2(sub.TenantID, sub.ID)
	if _, ok := st.subs[k]; ok {
		return fmt.Errorf("create subscription %s: %w", sub.ID, gancho.ErrConflict)
	}
	st.subs[k] = &subscription{sub: cloneSub(sub)}
	return nil
}

// GetSubscription reads one subscription of tenant.
func (st *Store) GetSubscription(_ context.Context, tenant, id string) (gancho.Subscription, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subs[k2(tenant, id)]
	if !ok {
		return gancho.Subscription{}, fmt.Errorf("subscription %s: %w", id, gancho.ErrNotFound)
	}
	return cloneSub(s.sub), nil
}

// ListSubscriptions returns tenant's subscriptions, newest first.
func (st *Store) ListSubscriptions(_ context.Context, tenant string, f gancho.SubscriptionFilter, p gancho.Page) ([]gancho.Subscription, string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var all []gancho.Subscription
	for _, s := range st.subs {
		sub := s.sub
		switch {
		case sub.TenantID != tenant:
		case f.OwnerID != "" && sub.OwnerID != f.OwnerID:
		case f.Event != "" && !contains(sub.Events, f.Event):
		case f.IsActive != nil && sub.IsActive != *f.IsActive:
		default:
			all = append(all, cloneSub(sub))
		}
	}
	out, next, err := pageDesc(all, func(s gancho.Subscription) string { return s.ID }, "S#"+tenant, p)
	if len(out) == 0 {
		out = nil // as the DynamoDB store answers an empty page
	}
	return out, next, err
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// UpdateSubscription replaces old with sub, failing with ErrConflict if old was
// changed since it was read (its updatedAt) or is gone. Only the attributes that
// differ between old and sub are written, so what other writers keep on the
// subscription meanwhile (the status block, the notice flag) survives.
func (st *Store) UpdateSubscription(_ context.Context, old, sub gancho.Subscription) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.updateSub(old, sub)
}

func (st *Store) updateSub(old, sub gancho.Subscription) error {
	s, ok := st.subs[k2(sub.TenantID, sub.ID)]
	if !ok || !s.sub.UpdatedAt.Equal(old.UpdatedAt) {
		return fmt.Errorf("subscription %s changed meanwhile: %w", sub.ID, gancho.ErrConflict)
	}
	before, after, stored := attrs(old), attrs(sub), attrs(s.sub)
	for k, v := range after {
		if !bytes.Equal(before[k], v) {
			stored[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			delete(stored, k)
		}
	}
	b, err := json.Marshal(stored)
	if err != nil {
		return fmt.Errorf("update subscription: %w", err)
	}
	var merged gancho.Subscription
	if err := json.Unmarshal(b, &merged); err != nil {
		return fmt.Errorf("update subscription: %w", err)
	}
	switch _, written := after["metadata"]; {
	case !bytes.Equal(before["metadata"], after["metadata"]) && written:
		merged.Metadata = rawCopy(sub.Metadata)
	case written || before["metadata"] == nil:
		merged.Metadata = rawCopy(s.sub.Metadata)
	}
	s.sub = merged
	return nil
}

// attrs is a subscription's top-level attributes, as the DynamoDB store writes them.
func attrs(sub gancho.Subscription) map[string]json.RawMessage {
	b, err := json.Marshal(sub)
	if err != nil {
		panic(fmt.Sprintf("memstore: marshal subscription: %v", err))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("memstore: subscription attributes: %v", err))
	}
	return m
}

// DisableSubscription deactivates sub with a reason, unless it changed since it was
// read: then it is read again once.
func (st *Store) DisableSubscription(_ context.Context, sub gancho.Subscription, reason string, at time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	for try := 0; try < 2; try++ {
		if !sub.IsActive {
			return nil
		}
		off := sub
		off.IsActive, off.DisabledReason, off.UpdatedAt = false, reason, at.UTC()
		err := st.updateSub(sub, off)
		if !errors.Is(err, gancho.ErrConflict) {
			return err
		}
		s, ok := st.subs[k2(sub.TenantID, sub.ID)]
		if !ok {
			return fmt.Errorf("subscription %s: %w", sub.ID, gancho.ErrNotFound)
		}
		sub = cloneSub(s.sub)
	}
	return fmt.Errorf("disable subscription %s: %w", sub.ID, gancho.ErrConflict)
}

// DeleteSubscription removes sub (gancho.ErrNotFound if it is gone already).
func (st *Store) DeleteSubscription(_ context.Context, sub gancho.Subscription) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	k := k2(sub.TenantID, sub.ID)
	if _, ok := st.subs[k]; !ok {
		return fmt.Errorf("subscription %s: %w", sub.ID, gancho.ErrNotFound)
	}
	delete(st.subs, k)
	return nil
}

// MatchSubscriptions finds the active subscriptions that receive ev: those with a
// pattern that accepts its type (gancho.MatchPatterns), owner-less or of its owner
// (every owner for a broadcast), and no context or ev's. They come in the DynamoDB
// store's order: by pattern, most specific first, then owner-less ones, then by
// owner and id. (The DynamoDB store may reuse match entries for MatchCacheTTL; this
// one always reads the current subscriptions.)
func (st *Store) MatchSubscriptions(_ context.Context, ev gancho.Event) ([]gancho.Match, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	prefixes := []string{"0#"}
	switch ev.OwnerID {
	case "":
	case gancho.BroadcastOwner:
		prefixes = []string{""}
	default:
		prefixes = append(prefixes, "1#"+ev.OwnerID+"#")
	}
	type entry struct {
		sk  string
		sub gancho.Subscription
	}
	seen := map[string]bool{}
	var out []gancho.Match
	for _, pattern := range gancho.MatchPatterns(ev.Type) {
		var entries []entry
		for _, s := range st.subs {
			sub := s.sub
			if sub.TenantID != ev.TenantID || !sub.IsActive || !contains(sub.Events, pattern) {
				continue
			}
			sk := "0#" + sub.ID
			if sub.OwnerID != "" {
				sk = "1#" + sub.OwnerID + "#" + sub.ID
			}
			entries = append(entries, entry{sk, sub})
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].sk < entries[j].sk })
		for _, prefix := range prefixes {
			for _, e := range entries {
				sub := e.sub
				if !strings.HasPrefix(e.sk, prefix) || seen[sub.ID] || (sub.Context != "" && sub.Context != ev.Context) {
					continue
				}
				seen[sub.ID] = true
				m := gancho.Match{SubscriptionID: sub.ID, OwnerID: sub.OwnerID, Ordered: sub.Ordered}
				if sub.Mode == gancho.ModeNotify {
					m.Mode = sub.Mode
				}
				out = append(out, m)
			}
		}
	}
	return out, nil
}

// RecordSubscriptionOutcome updates a subscription's status block with one batch's
// outcome. A subscription deleted meanwhile is left alone.
func (st *Store) RecordSubscriptionOutcome(_ context.Context, tenant, subID string, o gancho.Outcome) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.subs[k2(tenant, subID)]
	if !ok {
		return nil
	}
	s.sub.Status = s.sub.Status.Apply(o)
	return nil
}
