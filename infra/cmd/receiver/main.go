// Command receiver is a webhook receiver for trying Gancho locally: it prints every
// request it gets and, given the subscription's secret, whether the Standard Webhooks
// signature verifies. It answers 200, or the status given with -status.
//
//	go run ./infra/cmd/receiver -addr 127.0.0.1:9000 -secret whsec_...
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

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address (loopback)")
	secret := flag.String("secret", "", "the subscription's whsec_ secret, to verify signatures")
	status := flag.Int("status", http.StatusOK, "status code to answer with")
	flag.Parse()
	var key signature.Key
	if *secret != "" {
		k, err := signature.ParseSecret(*secret)
		if err != nil {
			fmt.Fprintln(os.Stderr, "receiver:", err)
			os.Exit(2)
		}
		key = k
	}
	fmt.Printf("receiver listening on http://%s\n", *addr)
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
		if key != nil {
			fmt.Printf("  signature: %s\n", verify(key, r.Header, body))
		}
		w.WriteHeader(*status)
	})
	srv := &http.Server{Addr: *addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

// verify checks webhook-signature against the secret and the timestamp's age.
func verify(key signature.Key, h http.Header, body []byte) string {
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return "INVALID (no webhook-timestamp)"
	}
	if age := time.Since(time.Unix(ts, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return "INVALID (timestamp outside 5 minutes)"
	}
	want := key.Sign(h.Get("webhook-id"), ts, body)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return "valid"
		}
	}
	return "INVALID"
}
