package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/signature"
)

func TestSecretsFlag(t *testing.T) {
	a, b, c := gancho.NewSecret(), gancho.NewSecret(), gancho.NewSecret()
	for _, tc := range []struct {
		name    string
		args    []string
		want    int
		wantErr bool
	}{
		{"none", nil, 0, false},
		{"one", []string{"-secret", a}, 1, false},
		{"repeated", []string{"-secret", a, "-secret", b}, 2, false},
		{"comma list", []string{"-secret", a + "," + b + ", " + c}, 3, false},
		{"both", []string{"-secret", a + "," + b, "-secret", c}, 3, false},
		{"bad one", []string{"-secret", a + ",whsec_!!"}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args)
			if tc.wantErr {
				if err == nil {
					t.Fatal("bad secret accepted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(o.secrets) != tc.want {
				t.Errorf("%d secrets, want %d", len(o.secrets), tc.want)
			}
		})
	}
}

// TestVerifySaysWhichSecretMatched: a receiver given the subscription's secret and the
// tenant's default secret verifies deliveries and callbacks alike, naming the match.
func TestVerifySaysWhichSecretMatched(t *testing.T) {
	sub, tenant, other := gancho.NewSecret(), gancho.NewSecret(), gancho.NewSecret()
	o, err := parseFlags([]string{"-secret", sub + "," + tenant})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"orderId":42}`)
	signed := func(secrets ...string) http.Header {
		now := time.Now().Unix()
		var keys []signature.Key
		for _, s := range secrets {
			k, err := signature.ParseSecret(s)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		h := http.Header{}
		h.Set("webhook-id", "dlv_1")
		h.Set("webhook-timestamp", strconv.FormatInt(now, 10))
		h.Set("webhook-signature", signature.Header(keys, "dlv_1", now, body))
		return h
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   string
	}{
		{"subscription secret", signed(sub), "valid (secret 1 of 2, " + tail(sub) + ")"},
		{"tenant secret", signed(tenant), "valid (secret 2 of 2, " + tail(tenant) + ")"},
		{"rotation: old and new", signed(other, tenant), "valid (secret 2 of 2, " + tail(tenant) + ")"},
		{"unknown secret", signed(other), "INVALID (matches none of 2 secrets)"},
		{"no timestamp", http.Header{}, "INVALID (no webhook-timestamp)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := verify(o.secrets, tc.header, body); got != tc.want {
				t.Errorf("verify = %q, want %q", got, tc.want)
			}
		})
	}
	if strings.Contains(verify(o.secrets, signed(sub), body), sub) {
		t.Error("verify printed a whole secret")
	}
}
