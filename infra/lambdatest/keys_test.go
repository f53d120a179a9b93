package lambdatest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestFunctionsReadKeysFromTheirSecret starts function binaries as template.yaml
// configures them: no GANCHO_ENCRYPTION_KEYS, only GANCHO_ENCRYPTION_KEYS_SECRET naming
// the keys' secret, which each fetches at init from Secrets Manager (here a loopback
// server speaking its JSON protocol). A secret that cannot be read fails the init,
// naming the variable.
func TestFunctionsReadKeysFromTheirSecret(t *testing.T) {
	skipShort(t)
	root := repoRoot(t)
	bins := buildFunctions(t, root)
	requireStack(t)
	const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:gancho/encryption-keys-AbCdEf"
	keys := os.Getenv("GANCHO_ENCRYPTION_KEYS")
	if keys == "" {
		t.Fatal("the stack's environment has no GANCHO_ENCRYPTION_KEYS to serve as the secret's value")
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		var in struct{ SecretId string }
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretId != arn {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"ARN": arn, "Name": "gancho/encryption-keys", "SecretString": keys})
	}))
	t.Cleanup(srv.Close)
	event := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(root, "events", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, tc := range []struct {
		fn, secret string
		wantInit   bool // the init succeeds and the function answers
	}{
		{"health", arn, true},
		{"deliver", arn, true},
		{"health", arn + "-gone", false},
	} {
		t.Run(tc.fn+"/"+tc.secret[strings.LastIndex(tc.secret, "-")+1:], func(t *testing.T) {
			before := calls.Load()
			env := FunctionEnv(tc.fn, map[string]string{
				"GANCHO_ENCRYPTION_KEYS":           "", // the last value of a name wins: unset
				"GANCHO_ENCRYPTION_KEYS_SECRET":    tc.secret,
				"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
			})
			res, logs, err := invoke(t, bins[tc.fn], tc.fn, event(tc.fn), env)
			if got := calls.Load() - before; got != 1 {
				t.Errorf("%d GetSecretValue calls, want 1 (once, at init)", got)
			}
			if !tc.wantInit {
				if err == nil || !strings.Contains(logs, "GANCHO_ENCRYPTION_KEYS_SECRET") || !strings.Contains(logs, "ResourceNotFoundException") {
					t.Fatalf("a missing secret: invoke = %+v, %v; logs:\n%s\nwant the init to fail naming GANCHO_ENCRYPTION_KEYS_SECRET", res, err, logs)
				}
				if strings.Contains(logs, keys) {
					t.Errorf("the logs show the keys")
				}
				return
			}
			if err != nil || res.Outcome != OutcomeResponse {
				t.Fatalf("invoke = %+v, %v; logs:\n%s", res, err, logs)
			}
			if tc.fn == "health" {
				apiResponse(t, res, http.StatusOK)
			}
		})
	}
}
