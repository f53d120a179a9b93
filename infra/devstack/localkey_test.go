package devstack_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/seal"
	"github.com/gancho-dev/gancho/shared/testenv"
)

func TestLocalKey(t *testing.T) {
	valid := seal.NewKey("local")
	for _, tc := range []struct {
		name    string
		content *string     // nil: no file yet
		perm    os.FileMode // of the existing file
		want    string      // "" : a new valid key
		wantErr string
	}{
		{name: "created when missing"},
		{name: "kept when present", content: &valid, perm: 0o600, want: valid},
		{name: "tightened when readable by others", content: &valid, perm: 0o644, want: valid},
		{name: "surrounding blanks ignored", content: ptr("\n" + valid + "\n"), perm: 0o600, want: valid},
		{name: "garbage refused", content: ptr("not a key"), perm: 0o600, wantErr: "encryption-key"},
		{name: "empty refused", content: ptr(""), perm: 0o600, wantErr: "encryption-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".local", "encryption-key")
			if tc.content != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(*tc.content), tc.perm); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.perm); err != nil {
					t.Fatal(err)
				}
			}
			got, err := devstack.LocalKey(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("key = %q, want %q", got, tc.want)
			}
			if _, err := seal.New(got); err != nil {
				t.Errorf("key %q does not seal: %v", got, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
			}
			again, err := devstack.LocalKey(path)
			if err != nil || again != got {
				t.Errorf("second read = %q, %v; want %q", again, err, got)
			}
		})
	}
}

// TestLocalKeyConcurrentFirstUse: starts racing on a fresh clone agree on one key.
func TestLocalKeyConcurrentFirstUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "encryption-key")
	keys := make([]string, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := devstack.LocalKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatalf("keys differ: %q", keys)
		}
	}
}

func ptr(s string) *string { return &s }

// TestRestartReadsWhatTheFirstStartSealed: two consecutive local runs against the same
// emulators, neither given GANCHO_ENCRYPTION_KEYS, share the key kept in the key file,
// so the second reads back a secret the first stored.
func TestRestartReadsWhatTheFirstStartSealed(t *testing.T) {
	testenv.Config(t) // skip or fail like every integration test
	if os.Getenv("AWS_ENDPOINT_URL_DYNAMODB") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Skip("needs emulators that outlive one start: run under infra/cmd/withstack")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "encryption-key")
	getenv := func(name string) string {
		if name == "GANCHO_ENCRYPTION_KEYS" {
			return ""
		}
		return os.Getenv(name)
	}
	stack := "restart-" + strings.ToLower(testenv.TenantID()[4:16])
	start := func() (*devstack.Dev, client) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		d, err := devstack.Start(ctx, devstack.Options{
			RepoRoot: root, Addr: "127.0.0.1:0", StackName: stack, APIKey: "gk_restart_test",
			KeyFile: keyFile, Log: testenv.Logger(t), Getenv: getenv, NoWorker: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		return d, client{t: t, base: d.URL, key: d.APIKey}
	}

	first, c := start()
	registerEventTypes(t, c, "order.created")
	var sub struct{ ID, Secret string }
	if code := c.do("POST", "/v1/subscriptions", map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"order.created"}}, &sub); code != 201 {
		t.Fatalf("create subscription: %d", code)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	second, c := start()
	t.Cleanup(func() { _ = second.Stop() })
	var got struct{ Secret string }
	if code := c.do("GET", "/v1/subscriptions/"+sub.ID+"/secret", nil, &got); code != 200 {
		t.Fatalf("second start: GET secret = %d, want 200", code)
	}
	if got.Secret != sub.Secret {
		t.Errorf("second start read secret %q, first stored %q", got.Secret, sub.Secret)
	}
}
