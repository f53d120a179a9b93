package emulators

import (
	"net"
	"net/url"
	"testing"
	"time"
)

// TestEmulatorsListenOnLoopbackOnly: neither emulator answers on an address of the
// machine other than loopback, so nothing outside the machine can reach them.
func TestEmulatorsListenOnLoopbackOnly(t *testing.T) {
	root := repoRoot(t)
	addrs := outsideAddrs(t)
	if len(addrs) == 0 {
		t.Skip("this machine has no non-loopback address to check (e.g. a private network namespace)")
	}
	st, err := Start(t.Context(), Options{RepoRoot: root, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Stop() })
	if st.DynamoAllInterfaces {
		t.Error("DynamoDB Local was started on every interface (no Java compiler for the loopback launcher)")
	}
	for _, tc := range []struct{ name, endpoint string }{
		{"dynamodb", st.DynamoEndpoint},
		{"sqs", st.SQSEndpoint},
	} {
		u, err := url.Parse(tc.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		// The loopback endpoint answers: the check below is not vacuous.
		if c, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err != nil {
			t.Fatalf("%s on %s: %v", tc.name, u.Host, err)
		} else {
			c.Close()
		}
		for _, ip := range addrs {
			hostPort := net.JoinHostPort(ip.String(), u.Port())
			if c, err := net.DialTimeout("tcp", hostPort, 2*time.Second); err == nil {
				c.Close()
				t.Errorf("%s answers on %s, an address reachable from outside the machine", tc.name, hostPort)
			}
		}
	}
}

// outsideAddrs returns this machine's unicast addresses other than loopback and
// link-local (which needs a zone to dial).
func outsideAddrs(t *testing.T) []net.IP {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []net.IP
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if ok && ipn.IP.IsGlobalUnicast() {
				out = append(out, ipn.IP)
			}
		}
	}
	return out
}

func TestCompileLauncher(t *testing.T) {
	root := repoRoot(t)
	tl, err := findTools(root)
	if err != nil {
		t.Fatal(err)
	}
	tl.cacheDir = t.TempDir()
	if tl.javac == "" {
		t.Skip("no javac on this machine")
	}
	first, err := compileLauncher(t.Context(), tl)
	if err != nil {
		t.Fatal(err)
	}
	again, err := compileLauncher(t.Context(), tl)
	if err != nil || again != first {
		t.Errorf("second compile = %q, %v; want the cached %q", again, err, first)
	}
	tl.javac = ""
	tl.cacheDir = t.TempDir()
	if _, err := compileLauncher(t.Context(), tl); err == nil {
		t.Error("compiled without a compiler")
	}
}
