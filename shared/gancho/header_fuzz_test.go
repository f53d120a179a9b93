package gancho

import (
	"strings"
	"testing"
)

// pendingHeaderControl covers header values with control characters other than
// CR, LF and NUL (e.g. "\x01", "\x7f"): API v1.1 refuses them with 422, and net/http
// refuses to send them, but checkHeader still accepts them until the subscription
// validation change that refuses them is merged. While it is true, such inputs are
// skipped instead of failing; set it to false once that change is in.
var pendingHeaderControl = false

// validFieldName reports whether name is an HTTP field name (RFC 9110 token).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v can travel as an HTTP field value: no control
// characters except horizontal tab.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzHeader checks custom header names and values: whatever a subscription may
// carry must be sendable as an HTTP header, and reserved names stay refused.
func FuzzHeader(f *testing.F) {
	for _, s := range [][2]string{
		{"X-Api-Version", "2"}, {"Authorization", "Bearer abc"}, {"X-Tab", "a\tb"},
		{"X-Bad", "a\r\nInjected: 1"}, {"X-Nul", "a\x00"}, {"X-Ctl", "a\x01b"}, {"X-Del", "a\x7f"},
		{"Host", "evil"}, {"webhook-id", "x"}, {"X-Gancho-Tenant", "t"}, {"Bad Name", "v"},
		{"X-Unicode", "café"}, {"Ünïcode", "v"}, {"", "v"}, {"X-Long", strings.Repeat("a", 4097)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, value string) {
		msg := checkHeader(name, value)
		if msg == "" {
			if !validFieldName(name) {
				t.Fatalf("checkHeader accepted name %q, which is not an HTTP token", name)
			}
			if !validFieldValue(value) {
				if pendingHeaderControl && !strings.ContainsAny(value, "\r\n\x00") {
					t.Skip("control character in a header value: refused once the pending validation change lands")
				}
				t.Fatalf("checkHeader accepted value %q, which HTTP cannot carry", value)
			}
			if len(value) > 4096 {
				t.Fatalf("checkHeader accepted a %d-byte value", len(value))
			}
			lower := strings.ToLower(name)
			if reservedHeaders[lower] || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "x-gancho-") {
				t.Fatalf("checkHeader accepted reserved name %q", name)
			}
		}
		// The header-name check used for auth.header must agree on names alone.
		if nameMsg := checkHeader(name, ""); (nameMsg == "") != validFieldName(name) && !isReserved(name) {
			t.Fatalf("checkHeader(%q, \"\") = %q, want acceptance to match the token rule", name, nameMsg)
		}
	})
}

func isReserved(name string) bool {
	lower := strings.ToLower(name)
	return reservedHeaders[lower] || strings.HasPrefix(lower, "webhook-") || strings.HasPrefix(lower, "x-gancho-")
}
