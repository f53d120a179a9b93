package config

import (
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/seal"
)

// TestFromEnvRequiresEncryptionKeys: a deployed function never makes up a sealing
// key (what it sealed would be unreadable by every other instance and after a cold
// start); without GANCHO_ENCRYPTION_KEYS it refuses to start, emulator or not.
func TestFromEnvRequiresEncryptionKeys(t *testing.T) {
	base := map[string]string{
		"GANCHO_TABLE_NAME":           "t",
		"GANCHO_DELIVERIES_QUEUE_URL": "https://sqs.example/q",
		"GANCHO_DELIVERIES_DLQ_URL":   "https://sqs.example/dlq",
		"GANCHO_ORDERED_QUEUE_URL":    "https://sqs.example/o.fifo",
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"deployed, no key", nil, "GANCHO_ENCRYPTION_KEYS"},
		{"emulator endpoint, no key", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, "GANCHO_ENCRYPTION_KEYS"},
		{"bad key", map[string]string{"GANCHO_ENCRYPTION_KEYS": "k1:short"}, "GANCHO_ENCRYPTION_KEYS"},
		{"key given", map[string]string{"GANCHO_ENCRYPTION_KEYS": seal.NewKey("k1")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(name string) string {
				if v, ok := tc.env[name]; ok {
					return v
				}
				return base[name]
			}
			c, err := FromEnv(getenv)
			if tc.wantErr == "" {
				if err != nil || c.Sealer == nil {
					t.Fatalf("FromEnv = %v, sealer %v", err, c.Sealer)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}
