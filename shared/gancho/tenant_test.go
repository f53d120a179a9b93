package gancho_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func tenStr(v string) *string { return &v }

// tenFields returns the fields named by a validation error, failing on any other error.
func tenFields(t *testing.T, err error) []string {
	t.Helper()
	var ge *gancho.Error
	if !errors.As(err, &ge) || ge.Kind != gancho.KindInvalid {
		t.Fatalf("error %v is not a validation error", err)
	}
	var out []string
	for _, f := range ge.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		out = append(out, f.Field)
	}
	return out
}

func TestNewTenant(t *testing.T) {
	tests := []struct {
		name   string
		in     gancho.TenantInput
		fields []string
	}{
		{"name only", gancho.TenantInput{Name: tenStr("JuriChat")}, nil},
		{"name and id", gancho.TenantInput{Name: tenStr("JuriChat"), ID: tenStr("jurichat-prod_1")}, nil},
		{"missing name", gancho.TenantInput{}, []string{"name"}},
		{"blank name", gancho.TenantInput{Name: tenStr("   ")}, []string{"name"}},
		{"long name", gancho.TenantInput{Name: tenStr(strings.Repeat("n", 101))}, []string{"name"}},
		{"control in name", gancho.TenantInput{Name: tenStr("a\nb")}, []string{"name"}},
		{"empty id", gancho.TenantInput{Name: tenStr("x"), ID: tenStr("")}, []string{"id"}},
		{"id with #", gancho.TenantInput{Name: tenStr("x"), ID: tenStr("a#b")}, []string{"id"}},
		{"id starting with -", gancho.TenantInput{Name: tenStr("x"), ID: tenStr("-ab")}, []string{"id"}},
		{"long id", gancho.TenantInput{Name: tenStr("x"), ID: tenStr(strings.Repeat("a", 65))}, []string{"id"}},
		{"both bad", gancho.TenantInput{ID: tenStr("a b")}, []string{"id", "name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			got, err := gancho.NewTenant(tc.in, now)
			if tc.fields == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !got.AllowedEventTypesOnly {
					t.Error("allowedEventTypesOnly must default to true")
				}
				// Every tenant has a default secret from its creation.
				if !strings.HasPrefix(got.Secret, gancho.SecretPrefix) || len(got.Secret) < 40 {
					t.Errorf("secret = %q, want a new %s secret", got.Secret, gancho.SecretPrefix)
				}
				if tc.in.ID != nil && got.ID != *tc.in.ID || tc.in.ID == nil && !strings.HasPrefix(got.ID, gancho.PrefixTenant) {
					t.Errorf("id = %q for input id %v", got.ID, tc.in.ID)
				}
				if !got.CreatedAt.Equal(now) || !got.UpdatedAt.Equal(now) {
					t.Errorf("times = %s, %s, want %s", got.CreatedAt, got.UpdatedAt, now)
				}
				if got.Name != strings.TrimSpace(*tc.in.Name) {
					t.Errorf("name = %q", got.Name)
				}
				return
			}
			if f := tenFields(t, err); !slices.Equal(f, tc.fields) {
				t.Fatalf("fields = %v, want %v", f, tc.fields)
			}
		})
	}
}

func hsSettings() *gancho.JWTSettings {
	return &gancho.JWTSettings{Issuer: "https://idp.example", Audience: "gancho", Algorithm: "HS256", Secret: strings.Repeat("s", 32)}
}

func TestTenantValidate(t *testing.T) {
	secure := gancho.TargetPolicy{}
	insecure := gancho.TargetPolicy{AllowInsecure: true}
	tests := []struct {
		name   string
		change func(*gancho.Tenant)
		policy gancho.TargetPolicy
		field  string // "" means valid
	}{
		{"minimal", func(*gancho.Tenant) {}, secure, ""},
		{"signature header", func(t *gancho.Tenant) { t.SignatureHeader = "X-JuriChat-Signature" }, secure, ""},
		{"header with space", func(t *gancho.Tenant) { t.SignatureHeader = "X Sig" }, secure, "signatureHeader"},
		{"header with colon", func(t *gancho.Tenant) { t.SignatureHeader = "X-Sig:" }, secure, "signatureHeader"},
		{"header Host", func(t *gancho.Tenant) { t.SignatureHeader = "host" }, secure, "signatureHeader"},
		{"header Content-Length", func(t *gancho.Tenant) { t.SignatureHeader = "Content-Length" }, secure, "signatureHeader"},
		{"header Transfer-Encoding", func(t *gancho.Tenant) { t.SignatureHeader = "Transfer-Encoding" }, secure, "signatureHeader"},
		{"header Connection", func(t *gancho.Tenant) { t.SignatureHeader = "Connection" }, secure, "signatureHeader"},
		{"header User-Agent", func(t *gancho.Tenant) { t.SignatureHeader = "User-Agent" }, secure, "signatureHeader"},
		{"header webhook-signature", func(t *gancho.Tenant) { t.SignatureHeader = "Webhook-Signature" }, secure, "signatureHeader"},
		{"header X-Gancho-Event", func(t *gancho.Tenant) { t.SignatureHeader = "x-gancho-event" }, secure, "signatureHeader"},
		{"header too long", func(t *gancho.Tenant) { t.SignatureHeader = "X-" + strings.Repeat("a", 100) }, secure, "signatureHeader"},
		{"base url", func(t *gancho.Tenant) { t.PublicBaseURL = "https://hooks.example.com/api" }, secure, ""},
		{"http base url", func(t *gancho.Tenant) { t.PublicBaseURL = "http://hooks.example.com" }, secure, ""},
		{"relative base url", func(t *gancho.Tenant) { t.PublicBaseURL = "/api" }, secure, "publicBaseUrl"},
		{"ftp base url", func(t *gancho.Tenant) { t.PublicBaseURL = "ftp://example.com" }, secure, "publicBaseUrl"},
		{"base url with query", func(t *gancho.Tenant) { t.PublicBaseURL = "https://example.com/?a=1" }, secure, "publicBaseUrl"},
		{"base url with fragment", func(t *gancho.Tenant) { t.PublicBaseURL = "https://example.com/#x" }, secure, "publicBaseUrl"},
		{"base url with user", func(t *gancho.Tenant) { t.PublicBaseURL = "https://u:p@example.com" }, secure, "publicBaseUrl"},
		{"hs256", func(t *gancho.Tenant) { t.JWT = hsSettings() }, secure, ""},
		{"no issuer", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Issuer = "" }, secure, "jwt.issuer"},
		{"no audience", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Audience = "" }, secure, "jwt.audience"},
		{"no algorithm", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Algorithm = "" }, secure, "jwt.algorithm"},
		{"alg none", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Algorithm = "none" }, secure, "jwt.algorithm"},
		{"alg HS512", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Algorithm = "HS512" }, secure, "jwt.algorithm"},
		{"alg lower case", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Algorithm = "hs256" }, secure, "jwt.algorithm"},
		{"hs256 short secret", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Secret = strings.Repeat("s", 31) }, secure, "jwt.secret"},
		{"hs256 no secret", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Secret = "" }, secure, "jwt.secret"},
		{"hs256 with jwks", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.JWKSURL = "https://idp.example/jwks" }, secure, "jwt.jwksUrl"},
		{"rs256", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "https://idp.example/jwks"}
		}, secure, ""},
		{"es256 no jwks", func(t *gancho.Tenant) { t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "ES256"} }, secure, "jwt.jwksUrl"},
		{"rs256 with secret", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "https://idp.example/jwks", Secret: strings.Repeat("s", 32)}
		}, secure, "jwt.secret"},
		{"http jwks", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "http://idp.example/jwks"}
		}, secure, "jwt.jwksUrl"},
		{"http jwks allowed locally", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "http://127.0.0.1:8080/jwks"}
		}, insecure, ""},
		{"loopback jwks", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "https://127.0.0.1/jwks"}
		}, secure, "jwt.jwksUrl"},
		{"localhost jwks", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "https://localhost/jwks"}
		}, secure, "jwt.jwksUrl"},
		{"relative jwks", func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "RS256", JWKSURL: "/jwks"}
		}, secure, "jwt.jwksUrl"},
		{"long issuer", func(t *gancho.Tenant) { t.JWT = hsSettings(); t.JWT.Issuer = strings.Repeat("i", 513) }, secure, "jwt.issuer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ten := gancho.Tenant{ID: "t1", Name: "JuriChat", AllowedEventTypesOnly: true}
			tc.change(&ten)
			err := ten.Validate(tc.policy)
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if f := tenFields(t, err); !slices.Contains(f, tc.field) {
				t.Fatalf("fields = %v, want %s", f, tc.field)
			}
		})
	}
}

func TestTenantPatch(t *testing.T) {
	secret := strings.Repeat("k", 40)
	base := gancho.Tenant{ID: "t1", Name: "JuriChat", SignatureHeader: "X-Sig", PublicBaseURL: "https://a.example",
		AllowedEventTypesOnly: true, Secret: "whsec_current",
		JWT: &gancho.JWTSettings{Issuer: "https://idp", Audience: "gancho", Algorithm: "HS256", Secret: secret}}
	tests := []struct {
		name  string
		patch string
		want  func(*gancho.Tenant) // applied to a copy of base; nil: the patch is refused
		field string               // the field a refusal names
	}{
		{"empty patch", `{}`, func(*gancho.Tenant) {}, ""},
		{"rename", `{"name":" New "}`, func(t *gancho.Tenant) { t.Name = "New" }, ""},
		{"clear header", `{"signatureHeader":null}`, func(t *gancho.Tenant) { t.SignatureHeader = "" }, ""},
		{"clear base url", `{"publicBaseUrl":null}`, func(t *gancho.Tenant) { t.PublicBaseURL = "" }, ""},
		{"trailing slash trimmed", `{"publicBaseUrl":"https://b.example/x/"}`, func(t *gancho.Tenant) { t.PublicBaseURL = "https://b.example/x" }, ""},
		{"open catalog", `{"allowedEventTypesOnly":false}`, func(t *gancho.Tenant) { t.AllowedEventTypesOnly = false }, ""},
		{"null restores default", `{"allowedEventTypesOnly":null}`, func(*gancho.Tenant) {}, ""},
		{"clear jwt", `{"jwt":null}`, func(t *gancho.Tenant) { t.JWT = nil }, ""},
		{"jwt member change keeps secret", `{"jwt":{"audience":"other"}}`, func(t *gancho.Tenant) {
			j := *t.JWT
			j.Audience = "other"
			t.JWT = &j
		}, ""},
		{"masked secret sent back keeps it", `{"jwt":{"secret":"****kkkk","issuer":"https://idp2"}}`, func(t *gancho.Tenant) {
			j := *t.JWT
			j.Issuer = "https://idp2"
			t.JWT = &j
		}, ""},
		{"new secret", `{"jwt":{"secret":"` + strings.Repeat("n", 32) + `"}}`, func(t *gancho.Tenant) {
			j := *t.JWT
			j.Secret = strings.Repeat("n", 32)
			t.JWT = &j
		}, ""},
		{"switch to RS256 drops the secret", `{"jwt":{"algorithm":"RS256","jwksUrl":"https://idp/jwks"}}`, func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "https://idp", Audience: "gancho", Algorithm: "RS256", JWKSURL: "https://idp/jwks"}
		}, ""},
		{"switch to RS256 sending the masked secret back drops it", `{"jwt":{"algorithm":"RS256","jwksUrl":"https://idp/jwks","secret":"****kkkk","issuer":"https://idp","audience":"gancho"}}`, func(t *gancho.Tenant) {
			t.JWT = &gancho.JWTSettings{Issuer: "https://idp", Audience: "gancho", Algorithm: "RS256", JWKSURL: "https://idp/jwks"}
		}, ""},
		{"number in a string setting", `{"publicBaseUrl":5}`, nil, "publicBaseUrl"},
		{"switch to RS256 without url", `{"jwt":{"algorithm":"RS256"}}`, nil, "jwt.jwksUrl"},
		{"RS256 with explicit secret", `{"jwt":{"algorithm":"RS256","jwksUrl":"https://idp/jwks","secret":"` + strings.Repeat("n", 32) + `"}}`, nil, "jwt.secret"},
		{"clear jwt secret", `{"jwt":{"secret":null}}`, nil, "jwt.secret"},
		{"short secret", `{"jwt":{"secret":"short"}}`, nil, "jwt.secret"},
		{"wrong masked secret", `{"jwt":{"secret":"****zzzz"}}`, nil, "jwt.secret"},
		{"clear issuer", `{"jwt":{"issuer":null}}`, nil, "jwt.issuer"},
		{"issuer not a string", `{"jwt":{"issuer":5}}`, nil, "jwt.issuer"},
		{"unknown jwt field", `{"jwt":{"kid":"x"}}`, nil, "jwt.kid"},
		{"jwt not an object", `{"jwt":"x"}`, nil, "jwt"},
		{"clear name", `{"name":null}`, nil, "name"},
		{"name not a string", `{"name":1}`, nil, "name"},
		{"bool not a bool", `{"allowedEventTypesOnly":"yes"}`, nil, "allowedEventTypesOnly"},
		{"reserved header", `{"signatureHeader":"Webhook-Id"}`, nil, "signatureHeader"},
		{"read-only id", `{"id":"other"}`, nil, "id"},
		{"read-only secret", `{"secret":"whsec_x"}`, nil, "secret"},
		{"unknown field", `{"colour":"red"}`, nil, "colour"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := base.Patch([]byte(tc.patch), gancho.TargetPolicy{})
			if tc.want == nil {
				if f := tenFields(t, err); !slices.Contains(f, tc.field) {
					t.Fatalf("fields = %v, want %s", f, tc.field)
				}
				if !reflect.DeepEqual(got, base) {
					t.Fatalf("a refused patch returned a changed tenant: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := base
			if base.JWT != nil {
				j := *base.JWT
				want.JWT = &j
			}
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v (jwt %+v)\nwant %+v (jwt %+v)", got, got.JWT, want, want.JWT)
			}
		})
	}
	if base.JWT.Audience != "gancho" || base.JWT.Secret != secret {
		t.Fatal("Patch changed its receiver's JWT settings")
	}
}

func TestTenantPatchSetsJWTFromNothing(t *testing.T) {
	base := gancho.Tenant{ID: "t1", Name: "x"}
	got, err := base.Patch([]byte(`{"jwt":{"issuer":"i","audience":"a","algorithm":"ES256","jwksUrl":"https://idp/jwks"}}`), gancho.TargetPolicy{})
	if err != nil {
		t.Fatal(err)
	}
	if got.JWT == nil || got.JWT.Algorithm != "ES256" || got.JWT.Secret != "" {
		t.Fatalf("jwt = %+v", got.JWT)
	}
	_, err = base.Patch([]byte(`{"jwt":{}}`), gancho.TargetPolicy{})
	if f := tenFields(t, err); !slices.Contains(f, "jwt.issuer") || !slices.Contains(f, "jwt.audience") || !slices.Contains(f, "jwt.algorithm") {
		t.Fatalf("fields = %v", f)
	}
}

func TestTenantMaskedAndRotate(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ten := gancho.Tenant{ID: "t1", Name: "x", Secret: "whsec_AAAAAAAAAAAAAAAAold1",
		JWT: &gancho.JWTSettings{Issuer: "i", Audience: "a", Algorithm: "HS256", Secret: strings.Repeat("z", 28) + "tail"}}
	rotated := ten.Rotate("whsec_BBBBBBBBBBBBBBBBnew2", now)
	if rotated.Secret != "whsec_BBBBBBBBBBBBBBBBnew2" || rotated.PreviousSecret != ten.Secret {
		t.Fatalf("rotate = %+v", rotated)
	}
	if rotated.PreviousSecretValidUntil == nil || !rotated.PreviousSecretValidUntil.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("valid until = %v", rotated.PreviousSecretValidUntil)
	}
	if got := rotated.SigningSecrets(now.Add(23 * time.Hour)); !slices.Equal(got, []string{rotated.Secret, ten.Secret}) {
		t.Errorf("signing secrets within 24 h = %v", got)
	}
	if got := rotated.SigningSecrets(now.Add(24 * time.Hour)); !slices.Equal(got, []string{rotated.Secret}) {
		t.Errorf("signing secrets after 24 h = %v", got)
	}

	m := rotated.Masked(now)
	if m.Secret != "****new2" || m.PreviousSecret != "****old1" || m.JWT.Secret != "****tail" {
		t.Fatalf("masked = %+v jwt %+v", m, m.JWT)
	}
	if rotated.JWT.Secret != ten.JWT.Secret {
		t.Fatal("Masked changed its receiver's JWT settings")
	}
	if later := rotated.Masked(now.Add(25 * time.Hour)); later.PreviousSecret != "" || later.PreviousSecretValidUntil != nil {
		t.Errorf("expired previous secret still shown: %+v", later)
	}
	if first := (gancho.Tenant{}).Rotate("whsec_new", now); first.PreviousSecret != "" || first.PreviousSecretValidUntil != nil {
		t.Errorf("rotating without a secret kept a previous one: %+v", first)
	}
}

func TestIsTenantScope(t *testing.T) {
	for _, s := range gancho.AllTenantScopes {
		if !gancho.IsTenantScope(s) {
			t.Errorf("%s is not a tenant scope", s)
		}
	}
	for _, s := range []string{"admin", "", "keys", "subscriptions:*"} {
		if gancho.IsTenantScope(s) {
			t.Errorf("%q is a tenant scope", s)
		}
	}
}
