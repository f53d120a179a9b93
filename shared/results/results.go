// Package results is the pull side of delivery: a subscription's matched events read
// by the receiver instead of (or as well as) pushed to it.
//
// Pull results: GET /v1/subscriptions/{id}/callback says whether there is
// something new, POST /v1/subscriptions/{id}/results returns it. A notify
// subscription's events come from its inbox (dynamo/inbox.go), written at fan-out; a
// push subscription has no inbox (its events are not written twice): its events come
// from its deliveries, and what is new from a cursor past the last one read, new
// results stopping at the fan-out horizon (gancho.FanOutSettle). An event with a
// deliverAt is left out of both until then, and then comes as new, once: it sorts
// among new results at its deliverAt (gancho.ScheduledResultsKey).
//
// Decisions where the API contract is silent:
//   - Without ?all=true the page is the oldest unseen events first, at most size
//     (default 20); total counts every event that was unseen before the call, so a
//     client calls again while len(data) < total (needView stays true until then).
//     Events returned are marked seen: the response is the acknowledgement, as in
//     the pull-results API. Send an Idempotency-Key to be able to fetch the same page again.
//   - Two concurrent readers never get the same unseen event: marking is all or
//     nothing per page, and the loser reads again.
//   - from, year, month and day apply only with ?all=true (422 otherwise; from 0 is
//     accepted): skipping or filtering unseen events would mark unread ones seen.
//   - With ?all=true the events are newest first, like every other list.
//   - calendarInterval chooses the period (year, month or day) and needs the fields
//     down to it; finer fields it does not select are ignored. Without
//     calendarInterval the period is the finest field given. A day needs a month, a
//     month needs a year. Without year, month and day there is no date filter (the
//     pull-results API's clients send calendarInterval "year" with null dates by
//     default).
//   - Numbers may be JSON numbers or strings holding an integer ("2026"); null is the
//     same as leaving the field out.
//   - ?all (no value) is all=true.
//   - A page stops early rather than exceed MaxBytes of events: continue with
//     from + len(data).
package results

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Store is what the pull routes need from storage.
type Store interface {
	ReadInbox(ctx context.Context, tenant, subID string, q gancho.InboxQuery) (gancho.InboxPage, error)
	HasUnseen(ctx context.Context, tenant, subID string) (bool, error)
	MarkSeen(ctx context.Context, tenant, subID string, eventIDs []string) error
	MarkViewed(ctx context.Context, tenant, subID string, at time.Time, clearNeedView bool, lastUpdateAt *time.Time) error
	GetEvents(ctx context.Context, tenant string, ids []string) ([]gancho.Event, error)
	// A push subscription's results, from its deliveries.
	ResultsCursor(ctx context.Context, tenant, subID string) (string, error)
	ReadDelivered(ctx context.Context, tenant, subID, cursor string, q gancho.InboxQuery) (gancho.InboxPage, error)
	HasDelivered(ctx context.Context, tenant, subID string) (bool, error)
	AdvanceResultsCursor(ctx context.Context, tenant, subID, from, to string) error
	GetSubscription(ctx context.Context, tenant, id string) (gancho.Subscription, error)
}

// Limits of the results route.
const (
	DefaultSize = 20
	MaxSize     = gancho.MaxMarkSeen
	// MaxBytes keeps a page within what API Gateway and Lambda can return.
	MaxBytes = 5 << 20
	// tries bounds how often a reader that lost unseen events to a concurrent reader
	// reads again.
	tries = 3
)

// Service reads subscriptions' results.
type Service struct {
	store Store
	now   func() time.Time
	log   *slog.Logger
}

// New returns the results service on store.
func New(store Store, now func() time.Time, log *slog.Logger) *Service {
	return &Service{store: store, now: now, log: log}
}

// Page is one response of the results route.
type Page struct {
	Data  []gancho.Envelope `json:"data"`
	Total int               `json:"total"`
}

// Body is the optional body of POST results; numbers may come as strings.
type Body struct {
	From             json.RawMessage `json:"from"`
	Size             json.RawMessage `json:"size"`
	CalendarInterval *string         `json:"calendarInterval"`
	Year             json.RawMessage `json:"year"`
	Month            json.RawMessage `json:"month"`
	Day              json.RawMessage `json:"day"`
	TimeZone         *string         `json:"timeZone"`
}

// Query is a validated results request.
type Query struct {
	All          bool
	From, Size   int
	Since, Until *time.Time // All only: the period asked for
}

// pullsFromInbox reports whether sub's results come from its inbox (notify) rather
// than from its deliveries (push).
func pullsFromInbox(sub gancho.Subscription) bool { return sub.Mode == gancho.ModeNotify }

// NeedView reports whether sub has matched events not yet read.
func (s *Service) NeedView(ctx context.Context, sub gancho.Subscription) (bool, error) {
	if pullsFromInbox(sub) {
		return s.store.HasUnseen(ctx, sub.TenantID, sub.ID)
	}
	return s.store.HasDelivered(ctx, sub.TenantID, sub.ID)
}

// Read returns one page of sub's results: with q.All every event within retention,
// else the oldest unseen ones, marked seen.
func (s *Service) Read(ctx context.Context, sub gancho.Subscription, q Query) (Page, error) {
	if q.All {
		return s.all(ctx, sub, q)
	}
	return s.unseen(ctx, sub, q)
}

// all is one page of every event of the subscription within retention.
func (s *Service) all(ctx context.Context, sub gancho.Subscription, q Query) (Page, error) {
	iq := gancho.InboxQuery{Since: q.Since, Until: q.Until, Offset: q.From, Limit: q.Size}
	var page gancho.InboxPage
	var err error
	if pullsFromInbox(sub) {
		page, err = s.store.ReadInbox(ctx, sub.TenantID, sub.ID, iq)
	} else {
		page, err = s.store.ReadDelivered(ctx, sub.TenantID, sub.ID, "", iq)
	}
	if err != nil {
		return Page{}, err
	}
	evs, err := s.store.GetEvents(ctx, sub.TenantID, page.EventIDs)
	if err != nil {
		return Page{}, err
	}
	data, _ := envelopes(evs, page.EventIDs)
	return Page{Data: data, Total: page.Total}, nil
}

// unseen returns the oldest unseen events and marks them seen, then records the view
// on the subscription.
func (s *Service) unseen(ctx context.Context, sub gancho.Subscription, q Query) (Page, error) {
	for try := 1; ; try++ {
		page, cursor, err := s.readUnseen(ctx, sub, q.Size)
		if err != nil {
			return Page{}, err
		}
		evs, err := s.store.GetEvents(ctx, sub.TenantID, page.EventIDs)
		if err != nil {
			return Page{}, err
		}
		data, seen := envelopes(evs, page.EventIDs)
		err = s.markSeen(ctx, sub, cursor, page, seen)
		if errors.Is(err, gancho.ErrConflict) && try < tries {
			// Another reader took some of them: read the subscription and its inbox
			// again (the subscription first, for MarkViewed's check).
			fresh, err := s.store.GetSubscription(ctx, sub.TenantID, sub.ID)
			if errors.Is(err, gancho.ErrNotFound) {
				return Page{}, gancho.NotFound("subscription " + sub.ID)
			}
			if err != nil {
				return Page{}, err
			}
			sub = fresh
			continue
		}
		if errors.Is(err, gancho.ErrConflict) {
			return Page{}, gancho.Errorf(gancho.KindConflict, "other readers of this subscription's results kept taking the same events; retry")
		}
		if err != nil {
			return Page{}, err
		}
		allSeen := len(seen) == page.Total
		if err := s.store.MarkViewed(ctx, sub.TenantID, sub.ID, s.now(), allSeen, sub.LastUpdateAt); err != nil {
			// The events are marked seen: answer with them rather than lose them.
			s.log.WarnContext(ctx, "lastViewedAt not recorded", "tenantId", sub.TenantID, "subscriptionId", sub.ID, "err", err)
		}
		return Page{Data: data, Total: page.Total}, nil
	}
}

// readUnseen reads a page of sub's unseen events, with the results cursor it was read
// at (push subscriptions).
func (s *Service) readUnseen(ctx context.Context, sub gancho.Subscription, size int) (gancho.InboxPage, string, error) {
	q := gancho.InboxQuery{Unseen: true, Limit: size}
	if pullsFromInbox(sub) {
		page, err := s.store.ReadInbox(ctx, sub.TenantID, sub.ID, q)
		return page, "", err
	}
	cursor, err := s.store.ResultsCursor(ctx, sub.TenantID, sub.ID)
	if err != nil {
		return gancho.InboxPage{}, "", err
	}
	page, err := s.store.ReadDelivered(ctx, sub.TenantID, sub.ID, cursor, q)
	return page, cursor, err
}

// markSeen marks the events of a page seen (seen, the first of page's ids): their
// unseen marks deleted (notify), or the results cursor moved past the last of them
// (push; ids come oldest first, each with the cursor that passes it, or else the
// delivery id derived from its event id). Either fails with gancho.ErrConflict if
// another reader took them first.
func (s *Service) markSeen(ctx context.Context, sub gancho.Subscription, cursor string, page gancho.InboxPage, seen []string) error {
	if pullsFromInbox(sub) {
		return s.store.MarkSeen(ctx, sub.TenantID, sub.ID, seen)
	}
	if len(seen) == 0 {
		return nil
	}
	last := len(seen) - 1
	to := gancho.DeliveryID(seen[last], sub.ID)
	if last < len(page.Cursors) {
		to = page.Cursors[last]
	}
	return s.store.AdvanceResultsCursor(ctx, sub.TenantID, sub.ID, cursor, to)
}

// envelopes turns evs (read for ids, in that order, missing ones left out) into the
// page's data, stopping before MaxBytes. It also returns the ids the page covers:
// those returned and the missing ones among them (expired meanwhile).
func envelopes(evs []gancho.Event, ids []string) ([]gancho.Envelope, []string) {
	data := make([]gancho.Envelope, 0, len(evs))
	covered := make([]string, 0, len(ids))
	size, next := 0, 0
	for _, id := range ids {
		if next < len(evs) && evs[next].ID == id {
			ev := evs[next]
			if len(data) > 0 && size+len(ev.Payload)+1024 > MaxBytes {
				break
			}
			next++
			size += len(ev.Payload) + 1024
			data = append(data, ev.Envelope())
		}
		covered = append(covered, id)
	}
	return data, covered
}

// Query validates in for a request with or without ?all=true, naming every invalid
// field.
func (in Body) Query(all bool) (Query, error) {
	q := Query{All: all, Size: DefaultSize}
	return q, in.validate(&q)
}

// validate checks in and fills q, naming every invalid field.
func (in Body) validate(q *Query) error {
	var errs []gancho.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, gancho.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	num := func(raw json.RawMessage, field string, lo, hi int) *int {
		v, ok := intValue(raw)
		if !ok {
			bad(field, "must be an integer (a number or a string holding one)")
			return nil
		}
		if v != nil && (*v < lo || *v > hi) {
			bad(field, "must be from %d to %d", lo, hi)
			return nil
		}
		return v
	}
	if v := num(in.From, "from", 0, 1<<31-1); v != nil {
		q.From = *v
	}
	if v := num(in.Size, "size", 1, MaxSize); v != nil {
		q.Size = *v
	}
	year := num(in.Year, "year", 1970, 9999)
	month := num(in.Month, "month", 1, 12)
	day := num(in.Day, "day", 1, 31)
	interval := ""
	if in.CalendarInterval != nil {
		switch interval = *in.CalendarInterval; interval {
		case "year", "month", "day":
		default:
			bad("calendarInterval", "must be year, month or day")
		}
	}
	loc := time.UTC
	if in.TimeZone != nil && *in.TimeZone != "" {
		var err error
		if loc, err = timeZone(*in.TimeZone); err != nil {
			bad("timeZone", "must be an IANA time zone name, e.g. America/Sao_Paulo or UTC")
		}
	}
	if !q.All {
		for _, f := range []struct {
			name string
			set  bool
		}{{"from", q.From != 0}, {"year", year != nil}, {"month", month != nil}, {"day", day != nil}} {
			if f.set {
				bad(f.name, "applies only with ?all=true; without it the results are the unseen events, oldest first")
			}
		}
	}
	if len(errs) == 0 && q.All && (year != nil || month != nil || day != nil) {
		q.Since, q.Until = period(interval, year, month, day, loc, bad)
	}
	if len(errs) > 0 {
		return gancho.Invalid(errs...)
	}
	return nil
}

// period is the time range [since, until) that calendarInterval and the date fields
// select, in loc, or the first problem with them (through bad).
func period(interval string, year, month, day *int, loc *time.Location, bad func(field, format string, args ...any)) (*time.Time, *time.Time) {
	switch {
	case day != nil && month == nil:
		bad("month", "is required with day")
		return nil, nil
	case month != nil && year == nil:
		bad("year", "is required with month")
		return nil, nil
	}
	if interval == "" {
		// The finest field given.
		switch {
		case day != nil:
			interval = "day"
		case month != nil:
			interval = "month"
		default:
			interval = "year"
		}
	}
	var start, end time.Time
	switch interval {
	case "year":
		start = time.Date(*year, 1, 1, 0, 0, 0, 0, loc)
		end = start.AddDate(1, 0, 0)
	case "month":
		if month == nil {
			bad("month", "is required when calendarInterval is month")
			return nil, nil
		}
		start = time.Date(*year, time.Month(*month), 1, 0, 0, 0, 0, loc)
		end = time.Date(*year, time.Month(*month)+1, 1, 0, 0, 0, 0, loc)
	default:
		if month == nil {
			bad("month", "is required when calendarInterval is day")
			return nil, nil
		}
		if day == nil {
			bad("day", "is required when calendarInterval is day")
			return nil, nil
		}
		if last := time.Date(*year, time.Month(*month)+1, 0, 0, 0, 0, 0, time.UTC).Day(); *day > last {
			bad("day", "must be from 1 to %d in %d-%02d", last, *year, *month)
			return nil, nil
		}
		start = time.Date(*year, time.Month(*month), *day, 0, 0, 0, 0, loc)
		end = time.Date(*year, time.Month(*month), *day+1, 0, 0, 0, 0, loc)
	}
	return &start, &end
}

// intValue reads a JSON integer, or a string holding one; nil for absent or null.
func intValue(raw json.RawMessage) (*int, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, false
		}
	}
	v, err := strconv.Atoi(text)
	if err != nil {
		return nil, false
	}
	return &v, true
}

// timeZone loads an IANA zone by name; "Local" (the server's zone) is not one.
func timeZone(name string) (*time.Location, error) {
	if name == "Local" || len(name) > 64 || strings.ContainsAny(name, `\`) {
		return nil, errors.New("not an IANA time zone")
	}
	return time.LoadLocation(name)
}
