package portale2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/testenv"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// chromium is Debian's chromium; PORTAL_E2E_CHROMIUM names another binary (the test
// that a missing browser fails in CI points it at nothing).
func chromium() string {
	if p := os.Getenv("PORTAL_E2E_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// requireBrowser skips when chromium or playwright-core is missing on a developer
// machine and fails in CI, so CI never passes by skipping.
func requireBrowser(t *testing.T) string {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromium()); err != nil {
		missing = append(missing, chromium())
	}
	if _, err := os.Stat(filepath.Join("node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "node_modules/playwright-core")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if len(missing) > 0 {
		msg := "the portal's browser test needs " + strings.Join(missing, ", ") + ": run infra/portal-e2e/install.sh (make deps does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

func TestPortalInBrowser(t *testing.T) {
	testenv.Config(t) // skip or fail like every integration test
	node := requireBrowser(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d, err := devstack.Start(ctx, devstack.Options{
		RepoRoot:  root,
		Addr:      "127.0.0.1:0",
		StackName: "portal-" + strings.ToLower(testenv.TenantID()[4:16]),
		Log:       testenv.Logger(t),
		Getenv:    os.Getenv,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("received"))
	}))
	t.Cleanup(receiver.Close)

	api := func(method, path, body string, out any) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, d.URL+path, bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+d.APIKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatal(err)
			}
		}
	}
	api("PUT", "/v1/event-types/order.created", `{"description":"an order was placed","schema":{"type":"object","required":["orderId"],
		"properties":{"orderId":{"type":"integer"},"total":{"type":"number"}}}}`, nil)
	api("PUT", "/v1/event-types/invoice.paid", `{"description":"an invoice was paid"}`, nil)
	var ten gancho.Tenant
	api("GET", "/v1/tenant", "", &ten)
	const owner = "cust-e2e"
	var link gancho.PortalLink
	api("POST", "/v1/portal-links", `{"ownerId":"`+owner+`","expiresIn":900}`, &link)

	// An expired link: its key's expiresAt has passed (the API refuses to mint one).
	now := time.Now().UTC()
	past := now.Add(-time.Minute).Truncate(time.Second)
	raw := auth.NewAPIKey()
	k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: d.TenantID, Name: "expired portal link", OwnerID: owner,
		Scopes: gancho.PortalScopes, CreatedAt: now.Add(-time.Hour), ExpiresAt: &past, Portal: true}
	if err := d.App.Clients.Store.CreateAPIKey(t.Context(), k, auth.HashKey(raw)); err != nil {
		t.Fatal(err)
	}
	expired := d.URL + "/portal#token=" + url.QueryEscape(raw) + "&provider=" + url.QueryEscape(ten.Name)

	// A queue in the stack's account, with the destination prefix: a subscription may
	// deliver there.
	queueName := gancho.DefaultDestinationPrefix + "portal-" + strings.ToLower(testenv.TenantID()[4:16])
	q, err := d.App.Clients.SQS.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: &queueName})
	if err != nil {
		t.Fatal(err)
	}

	shots := os.Getenv("PORTAL_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join("testdata", "screenshots")
	}
	shots, err = filepath.Abs(shots)
	if err != nil {
		t.Fatal(err)
	}
	run, stop := context.WithTimeout(t.Context(), 3*time.Minute)
	defer stop()
	cmd := exec.CommandContext(run, node, "portal.e2e.mjs")
	cmd.Env = append(os.Environ(),
		"PORTAL_URL="+link.URL, "EXPIRED_URL="+expired, "API="+d.URL, "API_KEY="+d.APIKey, "OWNER="+owner,
		"RECEIVER="+receiver.URL+"/hooks", "PROVIDER="+ten.Name, "SHOTS="+shots, "CHROMIUM="+chromium(), "QUEUE_URL="+*q.QueueUrl)
	out, err := cmd.CombinedOutput()
	t.Logf("portal.e2e.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the browser test failed: %v", err)
	}
	t.Logf("screenshots in %s", shots)
}

// In CI a missing browser fails the test rather than skipping it, so CI cannot pass
// without running the portal in a browser.
func TestMissingBrowserFailsInCI(t *testing.T) {
	if os.Getenv("PORTAL_E2E_CHILD") != "" {
		t.Skip("run by TestMissingBrowserFailsInCI")
	}
	testenv.Config(t) // the child needs the same stack environment to get as far as the browser
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run", "^TestPortalInBrowser$", "-test.v")
	cmd.Env = append(os.Environ(), "CI=true", "PORTAL_E2E_CHILD=1", "PORTAL_E2E_CHROMIUM=/nonexistent/chromium")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--- FAIL: TestPortalInBrowser") ||
		!strings.Contains(string(out), "needs /nonexistent/chromium") || strings.Contains(string(out), "--- SKIP") {
		t.Fatalf("without chromium in CI: %v, want the test to fail naming the browser:\n%s", err, out)
	}
}
