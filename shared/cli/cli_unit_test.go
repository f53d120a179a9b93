package cli

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

func TestVerify(t *testing.T) {
	key, err := signature.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := signature.ParseSecret("whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	headers := func(k signature.Key, at time.Time, extra ...signature.Key) http.Header {
		h := http.Header{}
		h.Set("webhook-id", "dlv_1")
		h.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("webhook-signature", signature.Header(append([]signature.Key{k}, extra...), "dlv_1", at.Unix(), body))
		return h
	}
	tests := []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"valid", headers(key, now), body, true},
		{"valid among two (rotation)", headers(other, now, key), body, true},
		{"other secret", headers(other, now), body, false},
		{"changed body", headers(key, now), []byte(`{"id":"evt_2"}`), false},
		{"stale", headers(key, now.Add(-6*time.Minute)), body, false},
		{"no headers", http.Header{}, body, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := verify(key, tc.h, tc.body, now)
			if ok != tc.ok || (!ok && why == "") {
				t.Errorf("verify = %v %q, want %v", ok, why, tc.ok)
			}
		})
	}
}

func TestMergePatch(t *testing.T) {
	tests := []struct {
		name  string
		patch string
		sets  []string
		want  string
		usage bool
	}{
		{"set values", "", []string{"isActive=false", "timeoutSeconds=5", "name=crm"}, `{"isActive":false,"name":"crm","timeoutSeconds":5}`, false},
		{"nested over patch", `{"auth":{"type":"static"}}`, []string{"auth.header=X-Key", "rateLimitPerSecond=null"}, `{"auth":{"header":"X-Key","type":"static"},"rateLimitPerSecond":null}`, false},
		{"nothing", "", nil, "", true},
		{"not an object", `[1]`, nil, "", true},
		{"no equals", "", []string{"isActive"}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mergePatch(tc.patch, "", tc.sets, nil)
			var ue *usageError
			if tc.usage {
				if !errors.As(err, &ue) {
					t.Fatalf("err %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := jsonMarshal(got)
			if string(raw) != tc.want {
				t.Errorf("patch %s, want %s", raw, tc.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{usagef("x"), ExitUsage},
		{&apiError{Status: 401}, ExitAuth},
		{&apiError{Status: 403}, ExitAuth},
		{&apiError{Status: 404}, ExitAPI},
		{&apiError{Status: 409}, ExitAPI},
		{&apiError{Status: 422}, ExitAPI},
		{&apiError{Status: 429}, ExitServer},
		{&apiError{Status: 503}, ExitServer},
		{&netError{errors.New("refused")}, ExitServer},
		{&partialError{1, 2}, ExitPartial},
		{&authError{"not logged in"}, ExitAuth},
		{errors.New("other"), ExitAPI},
	}
	for _, tc := range tests {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func TestProblemsPrintEachFieldOnce(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    []string
		notWant []string
	}{
		{"detail repeats a field", (&apiError{Method: "PATCH", Path: "/v1/subscriptions/sub_1", Status: 422, Problem: problem{
			Title: "Unprocessable Entity", Detail: "method: must be one of POST, PUT",
			Errors: []gancho.FieldError{{Field: "method", Message: "must be one of POST, PUT"}, {Field: "timeoutSeconds", Message: "must be between 1 and 30"}}}}).Error(),
			[]string{"422 Unprocessable Entity", "\n  - method: must be one of POST, PUT", "\n  - timeoutSeconds: must be between 1 and 30"},
			[]string{"\n  method:"}},
		{"detail of its own", (&apiError{Method: "GET", Path: "/v1/x", Status: 404, Problem: problem{Title: "Not Found", Detail: "no such subscription"}}).Error(),
			[]string{"404 Not Found", "\n  no such subscription"}, nil},
		{"not problem+json", (&apiError{Method: "GET", Path: "/v1/x", Status: 502, Raw: []byte("bad gateway\n")}).Error(),
			[]string{"502 Bad Gateway", "\n  bad gateway"}, nil},
		{"batch item", problemLine(problem{Title: "Unprocessable Entity", Detail: `type: "nope" is not in the catalog`,
			Errors: []gancho.FieldError{{Field: "events/1/type", Message: `"nope" is not in the catalog`}, {Field: "events/1", Message: "must be an object"}}}),
			[]string{`Unprocessable Entity; type: "nope" is not in the catalog; (event): must be an object`}, []string{"events/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				if !strings.Contains(tc.text, w) {
					t.Errorf("%q lacks %q", tc.text, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(tc.text, w) {
					t.Errorf("%q has %q", tc.text, w)
				}
			}
		})
	}
}
