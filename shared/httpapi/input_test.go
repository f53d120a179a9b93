package httpapi_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/httpapi"
)

var idParam = regexp.MustCompile(`\{id\}`)

// An id in a path longer than httpapi.MaxPathIDLength is 404 on every route that
// takes one, whatever its length (past ~2 KB it used to reach the store and fail
// there as a 500).
func TestLongPathIDIsNotFound(t *testing.T) {
	e := newEnv(t)
	for _, n := range []int{httpapi.MaxPathIDLength + 1, 2048, 3000, 8000} {
		id := "sub_" + strings.Repeat("x", n-4)
		for _, rt := range httpapi.Routes() {
			if !strings.Contains(rt.Path, "{id}") {
				continue
			}
			body := ""
			if rt.Method != http.MethodGet && rt.Method != http.MethodDelete {
				body = "{}"
			}
			r := e.json(rt.Method, idParam.ReplaceAllString(rt.Path, id), e.keyA, body)
			if r.status != http.StatusNotFound {
				t.Errorf("%s with a %d-character id: %d %.200s; want 404", rt.Name, n, r.status, r.body)
				continue
			}
			wantProblem(t, r, http.StatusNotFound, "id")
		}
	}
}

// A JSON body that is not valid UTF-8 is 400, on publish (where the payload used to
// be stored and served back raw) and on every other JSON body; nothing is stored.
func TestBodyNotUTF8IsBadRequest(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct {
		name, method, path, body string
	}{
		{"payload string", "POST", "/v1/events", "{\"type\":\"order.created\",\"payload\":{\"name\":\"caf\xe9\"}}"},
		{"payload key", "POST", "/v1/events", "{\"type\":\"order.created\",\"payload\":{\"\xff\":1}}"},
		{"truncated sequence", "POST", "/v1/events", "{\"type\":\"order.created\",\"payload\":\"\xe2\x82\"}"},
		{"surrogate encoded as UTF-8", "POST", "/v1/events", "{\"type\":\"order.created\",\"payload\":\"\xed\xa0\x80\"}"},
		{"subscription name", "POST", "/v1/subscriptions", "{\"url\":\"http://127.0.0.1:9/x\",\"events\":[\"order.created\"],\"name\":\"\xc3\x28\"}"},
		{"tenant patch", "PATCH", "/v1/tenant", "{\"name\":\"\xfe\"}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.json(c.method, c.path, e.keyA, c.body)
			wantProblem(t, r, http.StatusBadRequest, "")
			if !strings.Contains(string(r.body), "UTF-8") {
				t.Errorf("the problem does not say what is wrong: %s", r.body)
			}
		})
	}
	// Valid UTF-8, escaped or not, still publishes.
	r := e.json("POST", "/v1/events", e.keyA, "{\"type\":\"order.created\",\"payload\":{\"name\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00\"}}")
	if r.status != http.StatusAccepted {
		t.Fatalf("a valid UTF-8 payload: %d %s", r.status, r.body)
	}
	list := e.json("GET", "/v1/events?type=order.created", e.keyA, "")
	if strings.Contains(string(list.body), "\xe9\"") {
		t.Errorf("a raw invalid byte was stored: %s", list.body)
	}
}
