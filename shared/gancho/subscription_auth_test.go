package gancho_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func authInput(t *testing.T, js string) gancho.SubscriptionInput {
	t.Helper()
	var in gancho.SubscriptionInput
	if err := json.Unmarshal([]byte(`{"url":"https://client.example/h","auth":`+js+`}`), &in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestAuthValidation(t *testing.T) {
	bad := []struct{ name, auth, field string }{
		{"unknown type", `{"type":"basic"}`, "auth.type"},
		{"none with fields", `{"type":"none","value":"x"}`, "auth"},
		{"static without value", `{"type":"static"}`, "auth.value"},
		{"static with line break", `{"type":"static","value":"a\r\nb"}`, "auth.value"},
		{"static reserved header", `{"type":"static","header":"Host","value":"v"}`, "auth.header"},
		{"static webhook header", `{"type":"static","header":"webhook-signature","value":"v"}`, "auth.header"},
		{"token without url", `{"type":"token"}`, "auth.url"},
		{"token http url", `{"type":"token","url":"http://login.example/token"}`, "auth.url"},
		{"token private url", `{"type":"token","url":"https://10.1.2.3/token"}`, "auth.url"},
		{"token bad method", `{"type":"token","url":"https://login.example","method":"DELETE"}`, "auth.method"},
		{"token bad encoding", `{"type":"token","url":"https://login.example","bodyEncoding":"xml"}`, "auth.bodyEncoding"},
		{"token empty field", `{"type":"token","url":"https://login.example","tokenField":""}`, "auth.tokenField"},
		{"token bad scheme", `{"type":"token","url":"https://login.example","scheme":"Bearer x"}`, "auth.scheme"},
		{"token bad header", `{"type":"token","url":"https://login.example","headers":{"Bad Name":"x"}}`, "auth.headers.Bad Name"},
		{"static value with control", `{"type":"static","value":"Bearer \u0007x"}`, "auth.value"},
		{"token header value with control", `{"type":"token","url":"https://login.example","headers":{"X-Key":"a\u001bb"}}`, "auth.headers.X-Key"},
		{"token url port 0", `{"type":"token","url":"https://login.example:0/token"}`, "auth.url"},
		{"token url port 65536", `{"type":"token","url":"https://login.example:65536/token"}`, "auth.url"},
		{"token url ipv4-compatible loopback", `{"type":"token","url":"https://[::127.0.0.1]/token"}`, "auth.url"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gancho.NewSubscription(authInput(t, tc.auth), gancho.TargetPolicy{})
			ge, ok := err.(*gancho.Error)
			if !ok || ge.Kind != gancho.KindInvalid {
				t.Fatalf("err = %v, want a validation error", err)
			}
			for _, f := range ge.Fields {
				if f.Field == tc.field {
					return
				}
			}
			t.Fatalf("fields %+v do not name %s", ge.Fields, tc.field)
		})
	}
}

func TestAuthDefaults(t *testing.T) {
	sub, err := gancho.NewSubscription(authInput(t, `{"type":"token","url":"https://login.example/token","body":{"username":"root","password":"root"}}`), gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	a := sub.Auth
	if a.Method != "POST" || a.BodyEncoding != "json" || a.TokenField != "access_token" || a.ExpiresInField != "expires_in" ||
		a.Header != "Authorization" || a.Scheme != "Bearer" {
		t.Fatalf("token defaults = %+v", a)
	}
	none, _ := gancho.NewSubscription(gancho.SubscriptionInput{URL: ptr("https://client.example")}, gancho.TargetPolicy{})
	if none.Auth.Type != gancho.AuthNone || none.Mode != gancho.ModePush || none.Ordered || none.RateLimitPerSecond != nil {
		t.Fatalf("defaults = %+v", none)
	}
	raw, err := gancho.NewSubscription(authInput(t, `{"type":"token","url":"https://login.example/token","scheme":""}`), gancho.TargetPolicy{})
	if err != nil || raw.Auth.Scheme != "" {
		t.Fatalf("explicit empty scheme: %+v, %v", raw.Auth, err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestMaskAndRedacted(t *testing.T) {
	for in, want := range map[string]string{"": "", "short": "****", "12345678": "****", "Bearer abcdefgh": "****efgh"} {
		if got := gancho.Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	sub := gancho.Subscription{
		Secret: "whsec_x", PreviousSecret: "whsec_y",
		Headers: map[string]string{"Authorization": "Bearer long-credential", "X-Api-Key": "k-123456789", "X-Trace": "t"},
		Auth:    gancho.Auth{Type: "token", Body: map[string]string{"username": "root", "password": "hunter2-hunter2"}, Headers: map[string]string{"Cookie": "session=abcdefgh"}},
	}
	r := sub.Redacted()
	if r.Secret != "" || r.PreviousSecret != "" || r.Headers["Authorization"] != "****tial" || r.Headers["X-Api-Key"] != "****6789" ||
		r.Headers["X-Trace"] != "t" || r.Auth.Body["username"] != "root" || r.Auth.Body["password"] != "****ter2" || r.Auth.Headers["Cookie"] != "****efgh" {
		t.Fatalf("redacted = %+v", r)
	}
	if sub.Headers["Authorization"] != "Bearer long-credential" {
		t.Fatal("Redacted changed the original")
	}
}

func TestKeepWriteOnly(t *testing.T) {
	stored := gancho.Subscription{
		URL:     "https://client.example/h",
		Headers: map[string]string{"Authorization": "Bearer long-credential"},
		Auth:    gancho.Auth{Type: "static", Header: "Authorization", Value: "static-credential-98765"},
	}
	in := authInput(t, `{"type":"static","value":"****8765"}`)
	in.Headers = map[string]string{"Authorization": "****tial"}
	in.KeepWriteOnly(stored)
	if *in.Auth.Value != "static-credential-98765" || in.Headers["Authorization"] != "Bearer long-credential" {
		t.Fatalf("masked values not restored: %+v %+v", in.Auth, in.Headers)
	}
	changed := authInput(t, `{"type":"token","url":"https://login.example"}`)
	changed.KeepWriteOnly(stored)
	if changed.Auth.Value != nil {
		t.Fatal("a value leaked into another auth type")
	}
}

// the API contract, "Write-only values follow the origin".
func TestKeepWriteOnlyFollowsOrigin(t *testing.T) {
	t.Parallel()
	static := gancho.Subscription{
		URL:     "https://client.example/hooks",
		Headers: map[string]string{"Authorization": "Bearer long-credential", "X-Custom": "visible"},
		Auth:    gancho.Auth{Type: "static", Header: "X-Api-Token", Value: "static-credential-98765"},
	}
	token := gancho.Subscription{
		URL:     "https://client.example/hooks",
		Headers: map[string]string{},
		Auth: gancho.Auth{Type: "token", Header: "Authorization", URL: "https://login.example/token",
			Headers: map[string]string{"X-Api-Key": "login-key-123456", "Accept": "application/json"},
			Body:    map[string]string{"client_id": "crm", "client_secret": "login-secret-7890"}},
	}
	// masked is what a client reads back (and a PATCH merges with).
	masked := func(s gancho.Subscription) string {
		b, err := json.Marshal(s.Redacted())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	input := func(stored gancho.Subscription, edit string) gancho.SubscriptionInput {
		var doc map[string]any
		if err := json.Unmarshal([]byte(masked(stored)), &doc); err != nil {
			t.Fatal(err)
		}
		var patch map[string]any
		if err := json.Unmarshal([]byte(edit), &patch); err != nil {
			t.Fatal(err)
		}
		for k, v := range patch {
			if m, ok := v.(map[string]any); ok {
				if cur, ok := doc[k].(map[string]any); ok {
					for k2, v2 := range m {
						cur[k2] = v2
						if v2 == nil {
							delete(cur, k2) // as a merge patch does
						}
					}
					continue
				}
			}
			doc[k] = v
		}
		in := gancho.SubscriptionInput{}
		b, _ := json.Marshal(map[string]any{"url": doc["url"], "headers": doc["headers"], "auth": doc["auth"]})
		if err := json.Unmarshal(b, &in); err != nil {
			t.Fatal(err)
		}
		return in
	}
	cases := []struct {
		name    string
		stored  gancho.Subscription
		edit    string
		missing []string
		check   func(*testing.T, gancho.SubscriptionInput)
	}{
		{name: "path change keeps them", stored: static, edit: `{"url":"https://client.example/v2/hooks"}`,
			check: func(t *testing.T, in gancho.SubscriptionInput) {
				if *in.Auth.Value != "static-credential-98765" || in.Headers["Authorization"] != "Bearer long-credential" {
					t.Errorf("not kept: %+v", in)
				}
			}},
		{name: "explicit default port and host case are the same origin", stored: static, edit: `{"url":"https://Client.Example:443/x?y=1"}`},
		{name: "new host", stored: static, edit: `{"url":"https://evil.example/hooks"}`, missing: []string{"auth.value", "headers.Authorization"}},
		{name: "new host, empty values", stored: static, edit: `{"url":"https://evil.example/hooks","auth":{"value":""},"headers":{"Authorization":""}}`,
			missing: []string{"auth.value", "headers.Authorization"}},
		{name: "new host, auth value left out", stored: static, edit: `{"url":"https://evil.example/hooks","auth":{"value":null}}`,
			missing: []string{"auth.value", "headers.Authorization"}},
		{name: "new scheme", stored: static, edit: `{"url":"http://client.example/hooks"}`, missing: []string{"auth.value", "headers.Authorization"}},
		{name: "new port", stored: static, edit: `{"url":"https://client.example:8443/hooks"}`, missing: []string{"auth.value", "headers.Authorization"}},
		{name: "new subdomain", stored: static, edit: `{"url":"https://a.client.example/hooks"}`, missing: []string{"auth.value", "headers.Authorization"}},
		{name: "new host with every value sent again", stored: static,
			edit: `{"url":"https://new.example/hooks","auth":{"value":"new-credential-1111"},"headers":{"Authorization":"Bearer new-2222"}}`,
			check: func(t *testing.T, in gancho.SubscriptionInput) {
				if *in.Auth.Value != "new-credential-1111" || in.Headers["Authorization"] != "Bearer new-2222" || in.Headers["X-Custom"] != "visible" {
					t.Errorf("values: %+v %+v", in.Auth, in.Headers)
				}
			}},
		{name: "new host with the sensitive header dropped", stored: static,
			edit: `{"url":"https://new.example/hooks","auth":{"value":"new-credential-1111"},"headers":{"Authorization":null}}`},
		{name: "new host and another auth type", stored: static,
			edit: `{"url":"https://new.example/hooks","auth":{"type":"none","header":null,"value":null}}`, missing: []string{"headers.Authorization"}},
		{name: "token: receiver moves", stored: token, edit: `{"url":"https://evil.example/hooks"}`,
			missing: []string{"auth.body.client_secret", "auth.headers.X-Api-Key"}},
		{name: "token: token endpoint moves", stored: token, edit: `{"auth":{"url":"https://evil.example/token"}}`,
			missing: []string{"auth.body.client_secret", "auth.headers.X-Api-Key"}},
		{name: "token: token endpoint path change keeps them", stored: token, edit: `{"auth":{"url":"https://login.example/v2/token"}}`,
			check: func(t *testing.T, in gancho.SubscriptionInput) {
				if in.Auth.Body["client_secret"] != "login-secret-7890" || in.Auth.Headers["X-Api-Key"] != "login-key-123456" {
					t.Errorf("not kept: %+v", in.Auth)
				}
			}},
		{name: "token: endpoint moves with values sent again", stored: token,
			edit: `{"auth":{"url":"https://login2.example/token","body":{"client_id":"crm","client_secret":"other-secret-0000"},"headers":{"X-Api-Key":"other-key-0000"}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := input(tc.stored, tc.edit)
			var got []string
			for _, fe := range in.KeepWriteOnly(tc.stored) {
				if fe.Message == "" {
					t.Errorf("%s has no message", fe.Field)
				}
				got = append(got, fe.Field)
			}
			if !slices.Equal(got, tc.missing) {
				t.Fatalf("missing %q, want %q", got, tc.missing)
			}
			if tc.check != nil {
				tc.check(t, in)
			}
			if len(tc.missing) > 0 {
				// Nothing stored is carried over when the request fails.
				b, _ := json.Marshal(in)
				for _, secret := range []string{"static-credential-98765", "long-credential", "login-secret-7890", "login-key-123456"} {
					if strings.Contains(string(b), secret) {
						t.Errorf("a stored value was carried over: %s", b)
					}
				}
			}
		})
	}
}
