package outbound

import (
	"testing"
)

// The guard is called on the address about to be dialled; calling it directly checks
// forms that must never be dialled at all.
func TestGuardRefusesEmbeddedIPv4Forms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		address string
		allowed bool
	}{
		{"[::127.0.0.1]:443", false},       // IPv4-compatible loopback
		{"[::7f00:1]:443", false},          // the same, written in hex
		{"[::ffff:0:7f00:1]:443", false},   // IPv4-translated loopback
		{"[::ffff:0:a9fe:a9fe]:80", false}, // IPv4-translated cloud metadata
		{"[::a00:1]:443", false},           // IPv4-compatible 10.0.0.1
		{"[::ffff:127.0.0.1]:443", false},  // IPv4-mapped loopback
		{"127.0.0.1:443", false},
		{"8.8.8.8:443", true},
		{"[2606:4700:4700::1111]:443", true},
	}
	for _, tc := range cases {
		t.Run(tc.address, func(t *testing.T) {
			t.Parallel()
			err := guard("tcp", tc.address, nil)
			if tc.allowed && err != nil {
				t.Fatalf("guard(%s) = %v, want allowed", tc.address, err)
			}
			if !tc.allowed && !Guarded(err) {
				t.Fatalf("guard(%s) = %v, want ErrForbiddenAddress", tc.address, err)
			}
		})
	}
}
