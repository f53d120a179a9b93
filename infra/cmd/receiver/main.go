// Command receiver is a webhook receiver for trying Gancho locally: it prints every
// request it gets and, given secrets, whether the Standard Webhooks signature verifies
// and with which of them. It answers 200, or the status given with -status.
//
//	go run ./infra/cmd/receiver -addr 127.0.0.1:9000 -secret whsec_... -secret whsec_...
//
// -secret may be repeated or hold a comma-separated list: subscription deliveries and
// notices are signed with the subscription's secret, callbacks (callbackUrl) with the
// tenant's default secret (GET /v1/tenant/secret), so a receiver that gets both needs
// both.
package main

import (
	"crypto/hmac"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/signature"
)

// secret is one -secret value: its key, and a label that does not reveal it.
type secret struct {
	key   signature.Key
	label string
}

// secretsFlag collects -secret values, repeated or comma-separated.
type secretsFlag []secret

func (s *secretsFlag) String() string { return fmt.Sprintf("%d secrets", len(*s)) }

func (s *secretsFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, err := signature.ParseSecret(part)
		if err != nil {
			return fmt.Errorf("secret %d: %w", len(*s)+1, err)
		}
		*s = append(*s, secret{key: k, label: tail(part)})
	}
	return nil
}

// tail names a secret by its last characters only.
func tail(s string) string {
	if len(s) <= 4 {
		return "…"
	}
	return "…" + s[len(s)-4:]
}

type options struct {
	addr    string
	status  int
	secrets secretsFlag
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("receiver", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9000", "listen address (loopback)")
	fs.IntVar(&o.status, "status", http.StatusOK, "status code to answer with")
	fs.Var(&o.secrets, "secret", "a whsec_ secret to verify signatures with; repeat it or give a comma-separated list (the subscription's, the tenant's default)")
	err := fs.Parse(args)
	return o, err
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(2)
	}
	fmt.Printf("receiver listening on http://%s (%d secrets to verify with)\n", o.addr, len(o.secrets))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		fmt.Printf("\n%s %s %s\n", time.Now().Format(time.RFC3339Nano), r.Method, r.URL.RequestURI())
		names := make([]string, 0, len(r.Header))
		for name := range r.Header {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			fmt.Printf("  %s: %s\n", name, strings.Join(r.Header[name], ", "))
		}
		fmt.Printf("  body: %s\n", body)
		if len(o.secrets) > 0 {
			fmt.Printf("  signature: %s\n", verify(o.secrets, r.Header, body))
		}
		w.WriteHeader(o.status)
	})
	srv := &http.Server{Addr: o.addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

// verify checks webhook-signature against each secret and the timestamp's age, and
// says which secret matched.
func verify(secrets []secret, h http.Header, body []byte) string {
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return "INVALID (no webhook-timestamp)"
	}
	if age := time.Since(time.Unix(ts, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return "INVALID (timestamp outside 5 minutes)"
	}
	sigs := strings.Fields(h.Get("webhook-signature"))
	for i, s := range secrets {
		want := s.key.Sign(h.Get("webhook-id"), ts, body)
		for _, sig := range sigs {
			if hmac.Equal([]byte(sig), []byte(want)) {
				return fmt.Sprintf("valid (secret %d of %d, %s)", i+1, len(secrets), s.label)
			}
		}
	}
	return fmt.Sprintf("INVALID (matches none of %d secrets)", len(secrets))
}
