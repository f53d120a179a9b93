package config

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gancho-dev/gancho/shared/seal"
)

// fakeSecretsManager speaks the Secrets Manager JSON protocol (awsJson1_1) on loopback:
// the SDK makes its real request, signed, to BaseEndpoint. secrets maps a SecretId to
// its SecretString; any other id answers ResourceNotFoundException, as the service does.
type fakeSecretsManager struct {
	secrets map[string]string
	status  int    // when set, every request answers this status
	errType string // with this error type
	calls   atomic.Int32
}

func (f *fakeSecretsManager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	fail := func(status int, typ, msg string) {
		w.Header().Set("X-Amzn-ErrorType", typ)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
	}
	if got := r.Header.Get("X-Amz-Target"); got != "secretsmanager.GetSecretValue" {
		fail(http.StatusBadRequest, "UnknownOperationException", "unexpected "+got)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		fail(http.StatusForbidden, "MissingAuthenticationTokenException", "unsigned")
		return
	}
	if f.status != 0 {
		fail(f.status, f.errType, "refused")
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct{ SecretId string }
	if err := json.Unmarshal(body, &in); err != nil {
		fail(http.StatusBadRequest, "InvalidRequestException", err.Error())
		return
	}
	v, ok := f.secrets[in.SecretId]
	if !ok {
		fail(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "gancho-keys", "SecretString": v, "VersionId": "v1"})
}

const keysARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gancho-keys-AbCdEf"

// TestLoadFetchesKeysFromSecretsManager: a deployed function names its keys' secret
// (GANCHO_ENCRYPTION_KEYS_SECRET) and fetches it once at init; a missing, unreadable
// or malformed secret stops the start with an error naming the variable and the secret.
func TestLoadFetchesKeysFromSecretsManager(t *testing.T) {
	k1, k2 := seal.NewKey("k1"), seal.NewKey("k2")
	for _, tc := range []struct {
		name      string
		env       map[string]string
		secrets   map[string]string
		status    int
		errType   string
		wantErr   []string // all of these in the error; nil: success
		wantCalls int32
	}{
		{name: "keys from the secret", env: map[string]string{"GANCHO_ENCRYPTION_KEYS_SECRET": keysARN},
			secrets: map[string]string{keysARN: k1 + "," + k2 + "\n"}, wantCalls: 1},
		{name: "plain keys need no call", env: map[string]string{"GANCHO_ENCRYPTION_KEYS": k1},
			wantCalls: 0},
		{name: "secret missing", env: map[string]string{"GANCHO_ENCRYPTION_KEYS_SECRET": keysARN},
			secrets: map[string]string{}, wantErr: []string{"GANCHO_ENCRYPTION_KEYS_SECRET", keysARN, "ResourceNotFoundException"}, wantCalls: 1},
		{name: "access denied", env: map[string]string{"GANCHO_ENCRYPTION_KEYS_SECRET": keysARN},
			status: http.StatusBadRequest, errType: "AccessDeniedException", wantErr: []string{"GANCHO_ENCRYPTION_KEYS_SECRET", "AccessDeniedException"}, wantCalls: 1},
		{name: "secret holds no key", env: map[string]string{"GANCHO_ENCRYPTION_KEYS_SECRET": keysARN},
			secrets: map[string]string{keysARN: "  "}, wantErr: []string{"GANCHO_ENCRYPTION_KEYS_SECRET", keysARN, "empty"}, wantCalls: 1},
		{name: "secret holds a bad key", env: map[string]string{"GANCHO_ENCRYPTION_KEYS_SECRET": keysARN},
			secrets: map[string]string{keysARN: "k1:short"}, wantErr: []string{"GANCHO_ENCRYPTION_KEYS_SECRET", keysARN}, wantCalls: 1},
		{name: "neither", env: map[string]string{}, wantErr: []string{"GANCHO_ENCRYPTION_KEYS_SECRET", "GANCHO_ENCRYPTION_KEYS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSecretsManager{secrets: tc.secrets, status: tc.status, errType: tc.errType}
			srv := httptest.NewServer(fake)
			t.Cleanup(srv.Close)
			env := map[string]string{
				"GANCHO_TABLE_NAME":                "t",
				"GANCHO_DELIVERIES_QUEUE_URL":      "https://sqs.example/q",
				"GANCHO_DELIVERIES_DLQ_URL":        "https://sqs.example/dlq",
				"GANCHO_ORDERED_QUEUE_URL":         "https://sqs.example/o.fifo",
				"AWS_REGION":                       "eu-west-1",
				"AWS_ACCESS_KEY_ID":                "AKIDEXAMPLE",
				"AWS_SECRET_ACCESS_KEY":            "secret",
				"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
			}
			for k, v := range tc.env {
				env[k] = v
			}
			c, err := Load(context.Background(), func(n string) string { return env[n] })
			if got := fake.calls.Load(); got != tc.wantCalls {
				t.Errorf("%d GetSecretValue calls, want %d", got, tc.wantCalls)
			}
			if tc.wantErr == nil {
				if err != nil || c.Sealer == nil {
					t.Fatalf("Load = %v, sealer %v", err, c.Sealer)
				}
				sealed, err := c.Sealer.Seal("whsec_x")
				if err != nil {
					t.Fatal(err)
				}
				if opened, err := c.Sealer.Open(sealed); err != nil || opened != "whsec_x" {
					t.Fatalf("the fetched keys do not round-trip: %q, %v", opened, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want an error naming %q", tc.wantErr)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "k1:") {
				t.Errorf("error %q shows key material", err)
			}
		})
	}
}

// TestFromEnvLeavesSecretKeysToLoad: FromEnv reads no network; with only the secret's
// name it returns the name, no sealer, and NewClients refuses to build a store that
// could not open anything.
func TestFromEnvLeavesSecretKeysToLoad(t *testing.T) {
	env := map[string]string{
		"GANCHO_TABLE_NAME": "t", "GANCHO_DELIVERIES_QUEUE_URL": "q", "GANCHO_DELIVERIES_DLQ_URL": "d", "GANCHO_ORDERED_QUEUE_URL": "o",
		"GANCHO_ENCRYPTION_KEYS_SECRET": keysARN,
	}
	c, err := FromEnv(func(n string) string { return env[n] })
	if err != nil || c.KeysSecret != keysARN || c.Sealer != nil {
		t.Fatalf("FromEnv = %+v, %v; want KeysSecret %s and no sealer yet", c, err, keysARN)
	}
	if _, err := c.NewClients(context.Background()); err == nil || !strings.Contains(err.Error(), "GANCHO_ENCRYPTION_KEYS_SECRET") {
		t.Fatalf("NewClients without the fetched keys = %v, want an error naming GANCHO_ENCRYPTION_KEYS_SECRET", err)
	}
}
