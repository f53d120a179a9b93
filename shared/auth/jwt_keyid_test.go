package auth

import "testing"

// TestJWTKeyID: a token's credential is its issuer and subject, so the same subject
// of two issuers (a tenant that changes identity provider) is two credentials, and
// no choice of issuer and subject can pass for another pair.
func TestJWTKeyID(t *testing.T) {
	tests := []struct {
		name   string
		a, b   [2]string // issuer, subject
		sameID bool
	}{
		{"same issuer and subject", [2]string{"https://idp", "u"}, [2]string{"https://idp", "u"}, true},
		{"same subject, other issuer", [2]string{"https://idp-a", "u"}, [2]string{"https://idp-b", "u"}, false},
		{"separator moved between issuer and subject", [2]string{"https://idp#a", "b"}, [2]string{"https://idp", "a#b"}, false},
		{"escaped separator in the issuer", [2]string{"https://idp%23a", "b"}, [2]string{"https://idp#a", "b"}, false},
		{"empty subject", [2]string{"https://idp", ""}, [2]string{"https://idp#", ""}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := jwtKeyID(tc.a[0], tc.a[1]), jwtKeyID(tc.b[0], tc.b[1])
			if (a == b) != tc.sameID {
				t.Fatalf("jwtKeyID%v = %q, jwtKeyID%v = %q; same = %v, want %v", tc.a, a, tc.b, b, a == b, tc.sameID)
			}
		})
	}
	if got := jwtKeyID("https://idp.example", "user-1"); got != "jwt:https://idp.example#user-1" {
		t.Fatalf("jwtKeyID = %q", got)
	}
}
