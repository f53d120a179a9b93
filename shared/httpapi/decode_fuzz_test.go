package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/results"
)

// Properties that API v1.1 states and that changes under way elsewhere establish.
// While one is true, inputs that break only that property are skipped instead of
// failing the target; set it to false once the change that establishes it is in.
var (
	// "A payload or body that is not valid UTF-8 is 400" (decode).
	pendingUTF8 = false
	// "A subject that is . or .. is refused with 422" (gancho.NewEvent).
	pendingDotSubject = false
	// "A header value with control characters ... is 422" (gancho.NewSubscription).
	pendingHeaderControl = false
	// A token auth with "scheme": "" (send the bare token) or "expiresInField": ""
	// loses the empty value on a round trip: Auth's JSON omits empty members, so a
	// PATCH or a PUT of what GET returned brings back the defaults "Bearer" and
	// "expires_in" (gancho.Auth, checkAuth).
	pendingEmptyAuthDefaults = false
	// "A URL port outside 1-65535 ... is 422" (checkURL, for url, auth.url and
	// callbackUrl).
	pendingPortRange = false
	// An unknown member with an empty name ({"": 0}) is refused with a field error
	// whose field is "" (decodeError), which names nothing a client can find.
	pendingEmptyFieldName = false
)

var strictPolicy = gancho.TargetPolicy{}

// jsonRequest is the request a client sends with body.
func jsonRequest(body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// checkProblem asserts that err is what a handler turns into a problem+json answer
// for bad input: a *gancho.Error of a client kind, naming every invalid field.
func checkProblem(t *testing.T, err error) {
	t.Helper()
	var ge *gancho.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v (%T) is not a *gancho.Error: it would be a 500", err, err)
	}
	switch ge.Kind {
	case gancho.KindBadRequest, gancho.KindTooLarge, gancho.KindUnsupported, gancho.KindConflict:
	case gancho.KindInvalid:
		if len(ge.Fields) == 0 {
			t.Fatalf("invalid input error %q names no field", ge.Detail)
		}
		for _, fe := range ge.Fields {
			if pendingEmptyFieldName && fe.Field == "" && fe.Message == "is not a known field" {
				t.Skip("an unknown member with an empty name is named clearly once the pending decode change lands")
			}
			if fe.Field == "" || fe.Message == "" {
				t.Fatalf("invalid input error %q has a field error without field or message: %+v", ge.Detail, fe)
			}
		}
	default:
		t.Fatalf("bad input got error kind %d (%q), not a 4xx for the client", ge.Kind, ge.Detail)
	}
	if ge.Detail == "" {
		t.Fatalf("error %+v has no detail", ge)
	}
}

// decodeRoundTrip decodes body into a T through decode, as the handlers do, and
// checks that what it accepted encodes to JSON it accepts again, unchanged: decode
// then encode is stable. ok is false when decode refused body.
func decodeRoundTrip[T any](t *testing.T, body []byte) (T, bool) {
	t.Helper()
	var v T
	err := decode(jsonRequest(body), &v)
	if err != nil {
		checkProblem(t, err)
		return v, false
	}
	if !utf8.Valid(body) {
		if pendingUTF8 {
			t.Skip("a body that is not valid UTF-8 is refused once the pending decode change lands")
		}
		t.Fatalf("decode accepted a body that is not valid UTF-8: %q", body)
	}
	first, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("decode accepted %q into a value that does not encode: %v", body, err)
	}
	var again T
	if err := decodeBytes(first, &again); err != nil {
		t.Fatalf("decode accepted %q but refuses its own encoding %s: %v", body, first, err)
	}
	second, err := json.Marshal(again)
	if err != nil || !bytes.Equal(first, second) {
		t.Fatalf("decode/encode is not stable for %q:\n%s\n%s (%v)", body, first, second, err)
	}
	return v, true
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

// Bodies every decode target starts from: the JSON shapes that trip decoders.
var commonBodies = []string{
	``, ` `, `null`, `[]`, `"x"`, `1`, `{}`, `{} {}`, `{"a":1}`, `{`, `{"`, `{"name":`,
	`{"name":"a","name":"b"}`, "{\"name\":\"\xff\"}", `{"name":"\ud800"}`, `{"name":1e999}`,
	`{"name":{"nested":[[[[[[[[[[]]]]]]]]]]}}`, `{"Name":"case"}`,
}

// FuzzPublishBody decodes POST /v1/events bodies and validates them with NewEvent:
// an accepted event has a JSON payload within the limit and a subject that names a
// thing (never "." or "..").
func FuzzPublishBody(f *testing.F) {
	addSeeds(f, commonBodies...)
	addSeeds(f,
		`{"type":"order.created","payload":{"id":1}}`,
		`{"type":"order.created","payload":{"id":1},"subject":"ord_1","ownerId":"c1","context":"x","reference":{"id":"r","type":"t"},"idempotencyKey":"k"}`,
		`{"type":"order.created","payload":{"id":1},"subject":".."}`,
		`{"type":"order.created","payload":{"id":1},"subject":"."}`,
		`{"type":"order.created","payload":{"id":1},"ownerId":"*"}`,
		`{"type":"order.created","payload":{"id":1},"callbackUrl":"https://127.0.0.1/cb"}`,
		`{"type":"order.created","payload":{"id":1},"callbackUrl":"https://[::ffff:10.0.0.1]/cb"}`,
		`{"type":"webhook.test","payload":1}`,
		`{"type":"a..b","payload":null}`,
		`{"type":"order.created","payload":"\ud800"}`,
		"{\"type\":\"order.created\",\"payload\":\"\xff\"}",
		`{"type":"order.created","payload":{"id":1},"ownerId":"a#b"}`,
		`{"type":"order.created","payload":{"id":1},"deliverAt":"2026-11-28T12:00:00Z"}`,
	)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		in, ok := decodeRoundTrip[gancho.EventInput](t, body)
		if !ok {
			return
		}
		ev, err := gancho.NewEvent("t1", in, now, strictPolicy)
		if err != nil {
			checkProblem(t, err)
			return
		}
		if !json.Valid(ev.Payload) || len(ev.Payload) > gancho.MaxPayloadBytes {
			t.Fatalf("NewEvent accepted payload %q", ev.Payload)
		}
		if ev.ID == "" || ev.Type == "" || ev.Type == gancho.TypeTest {
			t.Fatalf("NewEvent accepted %+v", ev)
		}
		if in.Subject != nil && (ev.Subject == "" || len(ev.Subject) > 512) {
			t.Fatalf("NewEvent accepted subject %q", ev.Subject)
		}
		if ev.CallbackURL != "" {
			checkPort(t, ev.CallbackURL)
		}
		if ev.Subject == "." || ev.Subject == ".." {
			if pendingDotSubject {
				t.Skip("a . or .. subject is refused once the pending event validation change lands")
			}
			t.Fatalf("NewEvent accepted subject %q, which would climb a receiver's path", ev.Subject)
		}
	})
}

// checkSubscription asserts what every accepted subscription satisfies: a URL that
// passes the target policy again, and headers that HTTP can carry.
func checkSubscription(t *testing.T, s gancho.Subscription) {
	t.Helper()
	if s.URL == "" || len(s.Events) == 0 || s.Name == "" || len(s.RetrySchedule) == 0 {
		t.Fatalf("accepted subscription lacks a required value: %+v", s)
	}
	checkPort(t, s.URL)
	if s.Auth.URL != "" {
		checkPort(t, s.Auth.URL)
	}
	headers := map[string]string{}
	for k, v := range s.Headers {
		headers[k] = v
	}
	if s.Auth.Type != gancho.AuthNone {
		headers[s.Auth.Header] = s.Auth.Scheme + " " + s.Auth.Value
	}
	for k, v := range s.Auth.Headers {
		headers[k] = v
	}
	for name, value := range headers {
		if !validFieldName(name) {
			t.Fatalf("accepted header name %q is not an HTTP token", name)
		}
		if !validFieldValue(value) {
			if pendingHeaderControl && !strings.ContainsAny(value, "\r\n\x00") {
				t.Skip("control characters in header values are refused once the pending subscription validation change lands")
			}
			t.Fatalf("accepted header %s value %q cannot travel in HTTP", name, value)
		}
	}
}

// checkPort asserts that an accepted URL's port, when it has one, is 1-65535.
func checkPort(t *testing.T, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("accepted URL %q does not parse: %v", raw, err)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			if pendingPortRange {
				t.Skip("a port outside 1-65535 is refused once the pending URL validation change lands")
			}
			t.Fatalf("accepted URL %q with port %q", raw, p)
		}
	}
}

func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

var subscriptionBodies = []string{
	`{"url":"https://example.com/hook"}`,
	`{"url":"https://example.com/hooks/:id?ref=:id","events":["order.*","user.created"],"method":"put","ownerId":"c1","context":"x","headers":{"X-Api-Version":"2","X-Api-Key":"k-123456789"},"timeoutSeconds":5,"rateLimitPerSecond":10,"retrySchedule":[1,2,3],"ordered":true,"metadata":{"a":1},"format":"raw","mode":"push","isActive":false,"name":" n ","description":"d"}`,
	`{"url":"https://example.com/hook","auth":{"type":"static","header":"Authorization","value":"Bearer abcdefghijk"}}`,
	`{"url":"https://example.com/hook","auth":{"type":"token","url":"https://auth.example.com/token","headers":{"X-Client-Secret":"s"},"body":{"client_id":"a","client_secret":"b"},"bodyEncoding":"form","scheme":""}}`,
	`{"url":"https://example.com/hook","headers":{"X-Ctl":"a\u0001b"}}`,
	`{"url":"https://example.com/hook","headers":{"X-Bad":"a\r\nInjected: 1"}}`,
	`{"url":"https://example.com/hook","headers":{"Host":"evil"}}`,
	`{"url":"https://127.0.0.1/hook"}`,
	`{"url":"https://[::ffff:169.254.169.254]/"}`,
	`{"url":"https://user:pw@example.com/"}`,
	`{"url":"https://example.com:0/"}`,
	`{"url":"https://example.com:99999/"}`,
	`{"url":"http://example.com/"}`,
	`{"url":"https://example.com/#frag"}`,
	`{"url":"https://example.com/","events":[]}`,
	`{"url":"https://example.com/","retrySchedule":[0]}`,
	`{"url":"https://example.com/","metadata":[1]}`,
	`{"url":"https://example.com/","auth":{"type":"none","value":"x"}}`,
}

// FuzzSubscriptionBody decodes POST/PUT /v1/subscriptions bodies and validates them
// with NewSubscription; see checkSubscription for what an accepted one satisfies.
func FuzzSubscriptionBody(f *testing.F) {
	addSeeds(f, commonBodies...)
	addSeeds(f, subscriptionBodies...)
	f.Fuzz(func(t *testing.T, body []byte) {
		in, ok := decodeRoundTrip[gancho.SubscriptionInput](t, body)
		if !ok {
			return
		}
		s, err := gancho.NewSubscription(in, strictPolicy)
		if err != nil {
			checkProblem(t, err)
			return
		}
		checkSubscription(t, s)
	})
}

// writableDoc is the document a PATCH merges into: the writable fields as a client
// reads them.
func writableDoc(t *testing.T, s gancho.Subscription) map[string]any {
	t.Helper()
	doc, err := s.Writable()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// patchSubscription is updateSubscription without the store: the stored
// subscription's writable fields merged with the patch, decoded and validated.
func patchSubscription(t *testing.T, old gancho.Subscription, patch map[string]any) (gancho.Subscription, error) {
	t.Helper()
	body, err := json.Marshal(patch)
	if err != nil {
		t.Fatalf("patch does not encode: %v", err)
	}
	in, err := old.Patch(body)
	if err != nil {
		return gancho.Subscription{}, err
	}
	in.KeepWriteOnly(old)
	return gancho.NewSubscription(in, strictPolicy)
}

// FuzzSubscriptionPatch applies JSON merge patches (RFC 7396) to subscriptions: the
// merge is idempotent, null removes a member and any other non-object value replaces
// it; an empty patch leaves the subscription as it was (write-only values included);
// and whatever the patch, the result is a valid subscription or a 4xx naming fields.
func FuzzSubscriptionPatch(f *testing.F) {
	for _, base := range subscriptionBodies[:4] {
		for _, patch := range []string{
			`{}`, `null`, `{"url":null}`, `{"events":["a.b"],"headers":{"X-Api-Version":null}}`,
			`{"headers":{"X-New":"v"}}`, `{"auth":{"value":"****"}}`, `{"auth":{"type":"static","value":"v2-secret-value"}}`,
			`{"auth":null}`, `{"metadata":{"a":null,"b":{"c":1}}}`, `{"url":"https://other.example/hook"}`,
			`{"headers":null,"retrySchedule":null,"isActive":true}`, `{"id":"sub_x"}`, `{"secret":"whsec_x"}`,
			`{"timeoutSeconds":"5"}`, `{"headers":{"X-Api-Key":""}}`, `[1]`,
		} {
			f.Add([]byte(base), []byte(patch))
		}
	}
	f.Fuzz(func(t *testing.T, base, patchBody []byte) {
		var baseIn gancho.SubscriptionInput
		if decodeBytes(base, &baseIn) != nil {
			return
		}
		old, err := gancho.NewSubscription(baseIn, strictPolicy)
		if err != nil {
			return
		}
		old.ID, old.TenantID, old.Secret = "sub_1", "t1", "whsec_c2VjcmV0"

		// An empty patch changes nothing.
		same, err := patchSubscription(t, old, map[string]any{})
		if err != nil {
			t.Fatalf("PATCH {} of %s failed: %v", base, err)
		}
		if pendingEmptyAuthDefaults && old.Auth.Type == gancho.AuthToken && (old.Auth.Scheme == "" || old.Auth.ExpiresInField == "") &&
			!reflect.DeepEqual(same.Auth, old.Auth) {
			t.Skip("an empty auth scheme or expiresInField survives a round trip once the pending subscription change lands")
		}
		if got, want := writableDoc(t, same), writableDoc(t, old); !reflect.DeepEqual(got, want) {
			t.Fatalf("PATCH {} changed the subscription:\n%v\n%v", got, want)
		}
		if !reflect.DeepEqual(same.Auth, old.Auth) || !reflect.DeepEqual(same.Headers, old.Headers) {
			t.Fatalf("PATCH {} lost write-only values:\n%+v %v\n%+v %v", same.Auth, same.Headers, old.Auth, old.Headers)
		}

		var patch map[string]any
		if err := decode(jsonRequest(patchBody), &patch); err != nil {
			checkProblem(t, err)
			return
		}
		doc := writableDoc(t, old)
		merged := gancho.MergePatch(doc, patch).(map[string]any)
		if again := gancho.MergePatch(merged, patch); !reflect.DeepEqual(again, merged) {
			t.Fatalf("merge patch %s is not idempotent:\n%v\n%v", patchBody, merged, again)
		}
		for k, v := range patch {
			got, present := merged[k]
			switch v.(type) {
			case nil:
				if present {
					t.Fatalf("patch %s: null for %q did not remove it", patchBody, k)
				}
			case map[string]any:
			default:
				if !reflect.DeepEqual(got, v) {
					t.Fatalf("patch %s: %q is %v, want %v", patchBody, k, got, v)
				}
			}
		}
		if !reflect.DeepEqual(doc, writableDoc(t, old)) {
			t.Fatal("mergePatch changed its target")
		}
		s, err := patchSubscription(t, old, patch)
		if err != nil {
			checkProblem(t, err)
			return
		}
		checkSubscription(t, s)
	})
}

// FuzzTenantBody decodes POST /v1/tenants bodies and validates them with NewTenant.
func FuzzTenantBody(f *testing.F) {
	addSeeds(f, commonBodies...)
	addSeeds(f, `{"name":"Acme"}`, `{"id":"acme-1","name":"Acme"}`, `{"id":"a#b","name":"x"}`, `{"id":"-a","name":"x"}`,
		`{"name":"   "}`, `{"name":"a\u0000b"}`, `{"name":"Ācme ✓"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		in, ok := decodeRoundTrip[gancho.TenantInput](t, body)
		if !ok {
			return
		}
		tn, err := gancho.NewTenant(in, time.Now())
		if err != nil {
			checkProblem(t, err)
			return
		}
		if strings.ContainsRune(tn.ID, '#') || tn.Name == "" || !utf8.ValidString(tn.Name) {
			t.Fatalf("NewTenant accepted %+v", tn)
		}
		if err := tn.Validate(strictPolicy); err != nil {
			t.Fatalf("NewTenant accepted %+v, which Validate refuses: %v", tn, err)
		}
	})
}

// FuzzTenantPatch applies merge patches to a tenant as PATCH /v1/tenant does: the
// result validates, what a patch cannot set stays, an empty patch changes nothing and
// applying the same patch twice is the same as once.
func FuzzTenantPatch(f *testing.F) {
	addSeeds(f, commonBodies...)
	addSeeds(f,
		`{"name":"New"}`, `{"name":null}`, `{"signatureHeader":"X-Sig"}`, `{"signatureHeader":"X Bad"}`,
		`{"publicBaseUrl":"https://api.example.com/"}`, `{"publicBaseUrl":null}`, `{"allowedEventTypesOnly":false}`,
		`{"allowedEventTypesOnly":null}`, `{"jwt":null}`, `{"jwt":{"secret":"****more"}}`, `{"jwt":{"secret":null}}`,
		`{"jwt":{"algorithm":"RS256","jwksUrl":"https://idp.example.com/jwks"}}`, `{"jwt":{"algorithm":"none"}}`,
		`{"jwt":{"issuer":"https://other.example"}}`, `{"jwt":{"extra":1}}`, `{"jwt":[]}`, `{"id":"x"}`,
		`{"secret":"whsec_x"}`, `{"createdAt":"2026-01-01T00:00:00Z"}`, `{"name":1}`,
	)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := gancho.Tenant{ID: "t1", Name: "Acme", Secret: "whsec_c2VjcmV0", AllowedEventTypesOnly: true, CreatedAt: created,
		JWT: &gancho.JWTSettings{Issuer: "https://issuer.example", Audience: "gancho", Algorithm: gancho.AlgHS256, Secret: "hs256-secret-value-of-32-bytes-or-more"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := base.Validate(strictPolicy); err != nil {
			t.Fatalf("base tenant: %v", err)
		}
		patch, ok := decodeRoundTrip[map[string]json.RawMessage](t, body)
		if !ok {
			return
		}
		if patch == nil {
			return // updateTenant answers 400 itself
		}
		raw, err := json.Marshal(patch)
		if err != nil {
			t.Fatal(err)
		}
		out, err := base.Patch(raw, strictPolicy)
		if err != nil {
			checkProblem(t, err)
			if !reflect.DeepEqual(out, base) {
				t.Fatalf("a refused patch %s returned a changed tenant", body)
			}
			return
		}
		if err := out.Validate(strictPolicy); err != nil {
			t.Fatalf("patch %s gave a tenant that does not validate: %v", body, err)
		}
		if out.ID != base.ID || out.Secret != base.Secret || out.PreviousSecret != base.PreviousSecret || !out.CreatedAt.Equal(base.CreatedAt) {
			t.Fatalf("patch %s changed what it cannot set: %+v", body, out)
		}
		if len(patch) == 0 && !reflect.DeepEqual(out, base) {
			t.Fatalf("an empty patch changed the tenant: %+v", out)
		}
		twice, err := out.Patch(raw, strictPolicy)
		if err != nil || !reflect.DeepEqual(twice, out) {
			t.Fatalf("patch %s is not idempotent: %+v then %+v (%v)", body, out, twice, err)
		}
	})
}

// FuzzAPIKeyBody decodes POST /v1/api-keys bodies.
func FuzzAPIKeyBody(f *testing.F) {
	addSeeds(f, commonBodies...)
	addSeeds(f, `{"name":"ci","scopes":["events:write"],"ownerId":"c1"}`, `{"scopes":null}`, `{"scopes":[1]}`, `{"scopes":"events:write"}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeRoundTrip[keyInput](t, body)
	})
}

// FuzzRecoverBody decodes POST /v1/subscriptions/{id}/recover bodies.
func FuzzRecoverBody(f *testing.F) {
	addSeeds(f, commonBodies...)
	addSeeds(f, `{"since":"2026-11-28T00:00:00Z"}`, `{"since":"2026-11-28T00:00:00.123456789+05:30","until":"2026-11-29T00:00:00Z"}`,
		`{"since":"yesterday"}`, `{"since":"0000-01-01T00:00:00Z"}`, `{"since":"9999-12-31T23:59:59-23:59"}`, `{"since":1}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		decodeRoundTrip[recoverInput](t, body)
	})
}

// FuzzResultsBody reads POST /v1/subscriptions/{id}/results requests (query and
// body) as the handler does: an accepted one has a page within bounds and a period
// that is not empty.
func FuzzResultsBody(f *testing.F) {
	for _, b := range append([]string{
		`{"from":0,"size":10}`, `{"from":"5","size":"100"}`, `{"size":0}`, `{"size":101}`, `{"from":-1}`,
		`{"calendarInterval":"year","year":2026}`, `{"calendarInterval":"month","year":"2026","month":2}`,
		`{"calendarInterval":"day","year":2026,"month":2,"day":30,"timeZone":"America/Sao_Paulo"}`,
		`{"year":2026,"timeZone":"../../../../etc/passwd"}`, `{"year":2026,"timeZone":"Local"}`, `{"year":1e3}`,
		`{"year":"2026.0"}`, `{"day":1}`, `{"from":9223372036854775808}`,
	}, commonBodies...) {
		f.Add("all=true", []byte(b))
		f.Add("", []byte(b))
	}
	f.Add("all=maybe", []byte(`{}`))
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/json")
		q, err := readResultsQuery(r)
		if err != nil {
			checkProblem(t, err)
			return
		}
		if q.From < 0 || q.Size < 1 || q.Size > results.MaxSize {
			t.Fatalf("accepted page from=%d size=%d", q.From, q.Size)
		}
		if (q.Since == nil) != (q.Until == nil) || q.Since != nil && !q.Since.Before(*q.Until) {
			t.Fatalf("accepted period [%v, %v)", q.Since, q.Until)
		}
		if q.Since != nil && !q.All {
			t.Fatal("a period without all=true")
		}
	})
}

// FuzzEventTypeBody decodes PUT /v1/event-types/{name} bodies and validates them
// with NewEventType. Schema compilation itself is FuzzSchema's (package gancho); a
// slow input here is logged and passed over for the same reason as there.
func FuzzEventTypeBody(f *testing.F) {
	for _, b := range append([]string{
		`{"description":"An order","schema":{"type":"object","required":["id"]}}`, `{"schema":null}`, `{"schema":true}`,
		`{"schema":{"type":"nope"}}`, `{"schema":"{}"}`, `{"description":null}`,
	}, commonBodies...) {
		f.Add("order.created", []byte(b))
	}
	f.Add("webhook.test", []byte(`{}`))
	f.Add("a..b", []byte(`{}`))
	f.Add("", []byte(`{}`))
	f.Fuzz(func(t *testing.T, name string, body []byte) {
		in, ok := decodeRoundTrip[gancho.EventTypeInput](t, body)
		if !ok {
			return
		}
		start := time.Now()
		et, sch, err := gancho.NewEventType(name, in)
		if took := time.Since(start); took > 2*time.Second {
			t.Logf("slow event type (%v): %q %q", took, name, body)
			return
		}
		if err != nil {
			checkProblem(t, err)
			return
		}
		if et.Name != name || et.HasSchema != (sch != nil) || et.HasSchema && !json.Valid(et.Schema) {
			t.Fatalf("NewEventType(%q, %s) = %+v", name, body, et)
		}
	})
}

// FuzzNameCursor reads event-type list cursors: every valid name survives the
// round trip, and a cursor is accepted only when it holds a valid name.
func FuzzNameCursor(f *testing.F) {
	for _, s := range [][2]string{
		{"order.created", ""}, {"webhook.test", ""}, {"a", "b3JkZXIuY3JlYXRlZA"}, {"x", "!!!"}, {"x", "YS4uYg"},
		{"x", "b3JkZXIuY3JlYXRlZA=="}, {"x", base64.RawURLEncoding.EncodeToString([]byte("\xff"))},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, cursor string) {
		valid := gancho.IsBuiltInEventType(name) || gancho.CheckEventTypeName(name) == nil
		got, err := decodeNameCursor(base64.RawURLEncoding.EncodeToString([]byte(name)))
		if valid && (err != nil || got != name) {
			t.Fatalf("the cursor of %q decodes to %q, %v", name, got, err)
		}
		if !valid && name != "" && err == nil {
			t.Fatalf("the cursor of invalid name %q was accepted", name)
		}
		got, err = decodeNameCursor(cursor)
		if err != nil {
			checkProblem(t, err)
			return
		}
		if cursor != "" && !gancho.IsBuiltInEventType(got) && gancho.CheckEventTypeName(got) != nil {
			t.Fatalf("cursor %q decoded to invalid name %q", cursor, got)
		}
	})
}
