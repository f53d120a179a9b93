package publish_test

import (
	"testing"

	"github.com/gancho-dev/gancho/shared/publish"
)

// TestScopedKey: a publish idempotency key belongs to its credential and owner, and
// no choice of the parts can pass for another.
func TestScopedKey(t *testing.T) {
	tests := []struct {
		name string
		a, b [3]string // credential, owner, key
		same bool
	}{
		{"same parts", [3]string{"key_1", "", "k"}, [3]string{"key_1", "", "k"}, true},
		{"other credential", [3]string{"key_1", "", "k"}, [3]string{"key_2", "", "k"}, false},
		{"other owner", [3]string{"jwt:i#u", "alice", "k"}, [3]string{"jwt:i#u", "bob", "k"}, false},
		{"owner moved into the key", [3]string{"key_1", "a", "b"}, [3]string{"key_1", "", "ab"}, false},
		{"credential moved into the owner", [3]string{"key_1", "", "k"}, [3]string{"key_", "1", "k"}, false},
		{"length-like text", [3]string{"1:a", "", "k"}, [3]string{"1", "a", "k"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := publish.ScopedKey(tc.a[0], tc.a[1], tc.a[2])
			b := publish.ScopedKey(tc.b[0], tc.b[1], tc.b[2])
			if (a == b) != tc.same {
				t.Fatalf("ScopedKey%v = %q, ScopedKey%v = %q; same = %v, want %v", tc.a, a, tc.b, b, a == b, tc.same)
			}
		})
	}
}
