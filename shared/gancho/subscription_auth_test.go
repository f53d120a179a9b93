package gancho_test

import (
	"encoding/json"
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
