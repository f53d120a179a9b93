package gancho_test

import (
	"net/netip"
	"testing"

	"github.com/gancho-dev/gancho/shared/gancho"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	cases := []struct {
		addr string
		want bool
	}{
		// public
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.216.34", true},
		{"100.63.255.255", true}, // just below CGNAT
		{"100.128.0.1", true},    // just above CGNAT
		{"172.32.0.1", true},     // just above 172.16/12
		{"11.0.0.1", true},       // just above 10/8
		{"2606:4700:4700::1111", true},
		{"2001:4860:4860::8888", true},
		{"::ffff:8.8.8.8", true},   // IPv4-mapped public
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8

		// loopback
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		// RFC 1918
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.0.1", false},
		// link-local, including cloud metadata
		{"169.254.0.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"febf::1", false},
		// CGNAT 100.64/10
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		// unspecified, "this network", broadcast, multicast, reserved
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"255.255.255.255", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"::", false},
		{"ff02::1", false},
		{"ff0e::1", false},
		// documentation and benchmarking
		{"192.0.2.1", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"198.18.0.1", false},
		{"2001:db8::1", false},
		// unique local fc00::/7
		{"fc00::1", false},
		{"fd00::1", false},
		{"fdff:ffff::1", false},
		// IPv4-mapped forms of non-public addresses
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		// NAT64 of non-public addresses
		{"64:ff9b::7f00:1", false},    // 127.0.0.1
		{"64:ff9b::a00:1", false},     // 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false}, // 169.254.169.254
		{"64:ff9b:1::a00:1", false},   // local-use NAT64 prefix, 10.0.0.1
		// IPv4-compatible (::/96, deprecated) forms: never routed, whatever they embed
		{"::127.0.0.1", false},
		{"::7f00:1", false},
		{"::10.0.0.1", false},
		{"::169.254.169.254", false},
		{"::8.8.8.8", false},
		// IPv4-translated (::ffff:0:0:0/96, SIIT) forms
		{"::ffff:0:7f00:1", false},
		{"::ffff:0:127.0.0.1", false},
		{"::ffff:0:a00:1", false},
		{"::ffff:0:808:808", false},
		// local-use NAT64 prefix: local by definition, and its /48 layout does not keep
		// the IPv4 address in the last 32 bits
		{"64:ff9b:1:7f00:1::", false},
		{"64:ff9b:1::808:808", false},
		// 6to4 and Teredo tunnel forms
		{"2002:7f00:1::1", false},
		{"2001::1", false},
	}
	for _, tc := range cases {
		t.Run(tc.addr, func(t *testing.T) {
			t.Parallel()
			ip := netip.MustParseAddr(tc.addr)
			if got := gancho.PublicAddr(ip); got != tc.want {
				t.Errorf("PublicAddr(%s) = %v, want %v", tc.addr, got, tc.want)
			}
		})
	}
}
