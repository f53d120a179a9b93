package httpapi_test

import (
	"testing"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// POST /v1/subscriptions/{id}/test takes an optional subject; without one, ":id" in
// the URL is filled with "test" (API.md v1.1 "Smaller rules").
func TestSubscriptionTestSubject(t *testing.T) {
	e := newEnv(t)
	sub := e.createSub(e.keyA, `{"url":"http://127.0.0.1:9000/hooks/:id"}`)
	path := "/v1/subscriptions/" + sub.ID + "/test"
	for _, tc := range []struct{ name, contentType, body, subject string }{
		{"no body", "", "", "test"},
		{"empty JSON body", "application/json", "", "test"},
		{"empty object", "application/json", `{}`, "test"},
		{"subject", "application/json", `{"subject":"a7046a49-1fe0"}`, "a7046a49-1fe0"},
		{"subject with a slash", "application/json", `{"subject":"a/b"}`, "a/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call("POST", path, e.keyA, tc.contentType, tc.body)
			if r.status != 202 {
				t.Fatalf("test: %d %s", r.status, r.body)
			}
			var sent struct{ EventID, DeliveryID string }
			r.json(t, &sent)
			var ev gancho.Event
			if g := e.call("GET", "/v1/events/"+sent.EventID, e.keyA, "", ""); g.status != 200 {
				t.Fatalf("GET event: %d %s", g.status, g.body)
			} else {
				g.json(t, &ev)
			}
			if ev.Type != gancho.TypeTest || ev.Subject != tc.subject {
				t.Fatalf("test event %+v, want type %s and subject %q", ev, gancho.TypeTest, tc.subject)
			}
			if sent.DeliveryID != gancho.DeliveryID(sent.EventID, sub.ID) {
				t.Fatalf("delivery id %s", sent.DeliveryID)
			}
		})
	}
	for _, tc := range []struct{ name, body, field string }{
		{"dot-dot subject", `{"subject":".."}`, "subject"},
		{"dot subject", `{"subject":"."}`, "subject"},
		{"empty subject", `{"subject":""}`, "subject"},
		{"subject not a string", `{"subject":42}`, "subject"},
		{"unknown field", `{"subjct":"x"}`, "subjct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.json("POST", path, e.keyA, tc.body), 422, tc.field)
		})
	}
	wantProblem(t, e.json("POST", path, e.keyA, `{"subject":`), 400, "")
	wantProblem(t, e.call("POST", path, e.keyA, "text/plain", `{"subject":"x"}`), 415, "")
}
