package openapi

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/shared/httpapi"
)

// TestRedoclyRecommended renders the document as a deployment serves it and runs
// Redocly's linter with its recommended rules on it: any error fails the test;
// warnings are logged.
func TestRedoclyRecommended(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Node.js")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@redocly", "openapi-core", "package.json")); err != nil {
		msg := "the linter is not installed: run make deps (npm ci in infra/openapi)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is needed to run the linter: %v", err)
	}
	doc, err := httpapi.OpenAPIJSON("https://k3xq8w2m1p.execute-api.us-east-1.amazonaws.com")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "openapi.json")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), node, "lint.mjs", file).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "error ") {
			t.Error(line)
		} else {
			t.Log(line)
		}
	}
	if err != nil && !t.Failed() {
		t.Fatalf("the linter failed: %v\n%s", err, out)
	}
}
