package httpapi

import (
	"context"
	"net/http"
)

// EventTypeStore is what the event-type catalog needs from storage.
type EventTypeStore interface{}

func (a *API) listEventTypes(w http.ResponseWriter, r *http.Request)  { notYet(w) }
func (a *API) putEventType(w http.ResponseWriter, r *http.Request)    { notYet(w) }
func (a *API) deleteEventType(w http.ResponseWriter, r *http.Request) { notYet(w) }

// checkEventPatterns verifies that a subscription's patterns name catalog types,
// "prefix.*" of catalog types, or "*"; errors name the field events[i].
func (a *API) checkEventPatterns(ctx context.Context, tenant string, patterns []string) error {
	return nil
}
