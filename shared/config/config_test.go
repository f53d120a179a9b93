package config

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

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

// TestAWSFromEnv: a function's AWS configuration comes from the variables Lambda sets
// (credentials of the execution role, region), and an emulator's endpoint when given;
// a missing one is named, rather than a request failing later unsigned.
func TestAWSFromEnv(t *testing.T) {
	lambdaEnv := map[string]string{
		"AWS_REGION":            "eu-west-1",
		"AWS_ACCESS_KEY_ID":     "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN":     "token",
	}
	with := func(changes map[string]string) map[string]string {
		env := maps.Clone(lambdaEnv)
		maps.Copy(env, changes)
		return env
	}
	for _, tc := range []struct {
		name         string
		env          map[string]string
		wantRegion   string
		wantEndpoint string
		wantErr      string
	}{
		{name: "lambda", env: lambdaEnv, wantRegion: "eu-west-1"},
		{name: "emulator", env: with(map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}), wantRegion: "eu-west-1", wantEndpoint: "http://127.0.0.1:4566"},
		{name: "default region", env: with(map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": "us-east-2"}), wantRegion: "us-east-2"},
		{name: "no region", env: with(map[string]string{"AWS_REGION": ""}), wantErr: "AWS_REGION"},
		{name: "no credentials", env: with(map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}), wantErr: "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := AWSFromEnv(func(name string) string { return tc.env[name] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Region != tc.wantRegion {
				t.Errorf("region = %q, want %q", cfg.Region, tc.wantRegion)
			}
			if got := aws.ToString(cfg.BaseEndpoint); got != tc.wantEndpoint {
				t.Errorf("endpoint = %q, want %q", got, tc.wantEndpoint)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if creds.AccessKeyID != tc.env["AWS_ACCESS_KEY_ID"] || creds.SecretAccessKey != tc.env["AWS_SECRET_ACCESS_KEY"] || creds.SessionToken != tc.env["AWS_SESSION_TOKEN"] {
				t.Errorf("credentials = %+v, want the environment's", creds)
			}
		})
	}
}
