package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
)

// DeliveryStore is what the delivery routes need from storage.
type DeliveryStore interface {
	GetDelivery(ctx context.Context, tenant, id string) (gancho.Delivery, error)
	GetEvent(ctx context.Context, tenant, id string) (gancho.Event, error)
	ListDeliveries(ctx context.Context, tenant string, bySubscription bool, id string, f gancho.DeliveryFilter, p gancho.Page) ([]gancho.Delivery, string, error)
	ListEvents(ctx context.Context, tenant string, f gancho.EventFilter, p gancho.Page) ([]gancho.Event, string, error)
	publish.BatchLoader
}

// maxRecover bounds the deliveries one recover call re-queues.
const maxRecover = 1000

func (a *API) loadDelivery(r *http.Request) (gancho.Delivery, error) {
	return loadOwned(r, "delivery", a.store.GetDelivery, func(d gancho.Delivery) string { return d.OwnerID })
}

func (a *API) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.loadDelivery(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// deliveryFilter reads ?status=, ?since= and ?until=.
func deliveryFilter(r *http.Request) (gancho.DeliveryFilter, error) {
	q := r.URL.Query()
	var f gancho.DeliveryFilter
	if v := q.Get("status"); v != "" {
		switch v {
		case gancho.StatusPending, gancho.StatusRetrying, gancho.StatusDelivered, gancho.StatusFailed, gancho.StatusCancelled:
			f.Status = v
		default:
			return f, badParam("status", "must be pending, retrying, delivered, failed or cancelled")
		}
	}
	var err error
	if f.Since, err = timeParam(q.Get("since"), "since"); err != nil {
		return f, err
	}
	f.Until, err = timeParam(q.Get("until"), "until")
	return f, err
}

func timeParam(v, name string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, badParam(name, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
	}
	return &t, nil
}

func badParam(field, msg string) error {
	return &gancho.Error{Kind: gancho.KindBadRequest, Detail: field + " " + msg, Fields: []gancho.FieldError{{Field: field, Message: msg}}}
}

func (a *API) listDeliveries(w http.ResponseWriter, r *http.Request, bySubscription bool, id string) {
	limit, cursor, err := page(r)
	if err == nil {
		var f gancho.DeliveryFilter
		if f, err = deliveryFilter(r); err == nil {
			f.OwnerID = principal(r).OwnerID // owner-bound: only deliveries to its own subscriptions
			var ds []gancho.Delivery
			var next string
			ds, next, err = a.store.ListDeliveries(r.Context(), principal(r).TenantID, bySubscription, id, f, gancho.Page{Limit: limit, Cursor: cursor})
			if err == nil {
				writeJSON(w, http.StatusOK, newList(ds, next))
				return
			}
		}
	}
	writeError(w, r, a.log, err)
}

func (a *API) listSubscriptionDeliveries(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.listDeliveries(w, r, true, sub.ID)
}

func (a *API) listEventDeliveries(w http.ResponseWriter, r *http.Request) {
	ev, err := a.loadEvent(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	a.listDeliveries(w, r, false, ev.ID)
}

type testResponse struct {
	EventID    string `json:"eventId"`
	DeliveryID string `json:"deliveryId"`
}

// testInput is the optional body of a test: the subject that fills ":id" in the URL.
type testInput struct {
	Subject *string `json:"subject"`
}

// defaultTestSubject fills ":id" when a test names no subject.
const defaultTestSubject = "test"

// testSubscription sends a webhook.test event to this subscription only. The
// consumer does not count its outcome towards the subscription's failures.
func (a *API) testSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	var in testInput
	if err := decodeOptional(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	subject := defaultTestSubject
	if in.Subject != nil {
		if msg := gancho.CheckSubject(*in.Subject); msg != "" {
			writeError(w, r, a.log, gancho.Invalid(gancho.FieldError{Field: "subject", Message: msg}))
			return
		}
		subject = *in.Subject
	}
	now := a.now().UTC()
	payload, _ := json.Marshal(map[string]string{
		"message":        "This is a test event sent from Gancho to check this endpoint.",
		"subscriptionId": sub.ID,
	})
	ev := gancho.Event{ID: gancho.NewID(gancho.PrefixEvent, now), TenantID: sub.TenantID, Type: gancho.TypeTest,
		CreatedAt: now, OwnerID: sub.OwnerID, Context: sub.Context, Subject: subject, Payload: payload, TargetSubscriptionID: sub.ID}
	dlv, err := a.publisher.PublishTo(r.Context(), ev, sub.ID)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/v1/deliveries/"+dlv)
	writeJSON(w, http.StatusAccepted, testResponse{EventID: ev.ID, DeliveryID: dlv})
}

// retryDelivery queues one more attempt now, for a delivery that is not already
// queued (pending): a retrying one gets its next attempt now instead of at its
// scheduled time; a delivered, failed or cancelled one gets a one-off attempt. It
// answers with the delivery as GET /v1/deliveries/{id} shows it.
func (a *API) retryDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := a.loadDelivery(r)
	if err == nil && d.Status == gancho.StatusPending {
		err = gancho.Errorf(gancho.KindConflict, "delivery %s is pending: an attempt is already queued", d.ID)
	}
	ordered := false
	if err == nil && d.Status == gancho.StatusRetrying {
		ordered, err = a.orderedDelivery(r.Context(), d)
	}
	if err == nil {
		err = a.publisher.RetryNow(r.Context(), a.store, d, ordered)
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	cur, err := a.store.GetDelivery(r.Context(), d.TenantID, d.ID)
	if err != nil {
		// The attempt is queued: answer with what was written rather than an error
		// that would invite the client to queue another one.
		a.log.Warn("read delivery after retry", "deliveryId", d.ID, "err", err)
		cur, cur.Status, cur.NextAttemptAt, cur.UpdatedAt = d, gancho.StatusPending, nil, a.now().UTC()
	}
	writeJSON(w, http.StatusAccepted, cur)
}

// orderedDelivery reports whether d's retries are held in its reference's FIFO group
// (an ordered subscription or a callback, for an event with a reference), as
// publishing decided when it queued d.
func (a *API) orderedDelivery(ctx context.Context, d gancho.Delivery) (bool, error) {
	ev, err := a.store.GetEvent(ctx, d.TenantID, d.EventID)
	if errors.Is(err, gancho.ErrNotFound) || err == nil && (ev.Reference == nil || ev.Reference.ID == "") {
		return false, nil
	}
	if err != nil || d.SubscriptionID == gancho.CallbackDestination {
		return err == nil, err
	}
	sub, err := a.store.GetSubscription(ctx, d.TenantID, d.SubscriptionID)
	if errors.Is(err, gancho.ErrNotFound) {
		return false, nil
	}
	return sub.Ordered, err
}

// decodeOptional is decode for a body that may be left out: an empty body leaves v
// as it is.
func decodeOptional(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return gancho.Errorf(gancho.KindBadRequest, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decode(r, v)
}

type recoverInput struct {
	Since *time.Time `json:"since"`
	Until *time.Time `json:"until"`
}

// recoverSubscription re-queues the subscription's failed and cancelled deliveries
// created in [since, until).
func (a *API) recoverSubscription(w http.ResponseWriter, r *http.Request) {
	sub, err := a.loadSubscription(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	var in recoverInput
	if err := decode(r, &in); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if in.Since == nil {
		writeError(w, r, a.log, gancho.Invalid(gancho.FieldError{Field: "since", Message: "is required (RFC 3339)"}))
		return
	}
	if in.Until != nil && !in.Until.After(*in.Since) {
		writeError(w, r, a.log, gancho.Invalid(gancho.FieldError{Field: "until", Message: "must be after since"}))
		return
	}
	var todo []gancho.Delivery
	for _, status := range []string{gancho.StatusFailed, gancho.StatusCancelled} {
		cursor := ""
		for len(todo) < maxRecover {
			ds, next, err := a.store.ListDeliveries(r.Context(), sub.TenantID, true, sub.ID,
				gancho.DeliveryFilter{Status: status, Since: in.Since, Until: in.Until}, gancho.Page{Limit: 100, Cursor: cursor})
			if err != nil {
				writeError(w, r, a.log, err)
				return
			}
			todo = append(todo, ds...)
			if next == "" {
				break
			}
			cursor = next
		}
	}
	if len(todo) > maxRecover {
		todo = todo[:maxRecover]
	}
	n := 0
	if len(todo) > 0 {
		if n, err = a.publisher.Requeue(r.Context(), a.store, todo); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	writeJSON(w, http.StatusAccepted, recoverResponse{Requeued: n})
}

// redriveDeadLetters moves the dead-letter queue back to delivery (operator only).
func (a *API) redriveDeadLetters(w http.ResponseWriter, r *http.Request) {
	if a.dlq == nil {
		writeError(w, r, a.log, errors.New("dead-letter queue not configured"))
		return
	}
	moved, skipped, err := publish.Redrive(r.Context(), a.dlq, a.store, 10000)
	if err != nil && moved == 0 {
		writeError(w, r, a.log, err)
		return
	}
	if err != nil {
		a.log.Warn("redrive stopped early", "moved", moved, "err", err)
	}
	writeJSON(w, http.StatusAccepted, redriveResponse{Moved: moved, Skipped: skipped})
}
