package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/infra/loadbench"
)

// TestSmokeWritesEverySection runs the benchmark's smoke mode against real emulators
// and checks that BENCHMARKS.md gets its End to end section with every row, and that
// the sections around it are left alone. It checks no figure: benchmarks report.
func TestSmokeWritesEverySection(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: starts the emulators and Gancho")
	}
	root, err := emulators.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := emulators.CheckInstalled(root); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("emulators missing in CI: %v", err)
		}
		t.Skipf("integration test: %v (make deps installs them)", err)
	}
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	const before, after = "# Benchmarks\n\n## Cost\n\nkept\n\n", "## Throughput\n\nkept too\n"
	if err := os.WriteFile(path, []byte(before+"## End to end\n\nold figures\n\n"+after), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := mainErr(ctx, []string{"-smoke", "-write", path}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if !strings.HasPrefix(doc, before+loadbench.Heading+"\n") || !strings.HasSuffix(doc, "\n"+after) || strings.Contains(doc, "old figures") {
		t.Errorf("the End to end section was not replaced in place:\n%s", doc)
	}
	for _, row := range loadbench.Rows {
		if !strings.Contains(doc, "| "+row) {
			t.Errorf("no %q row in\n%s", row, doc)
		}
	}
	for _, want := range []string{"### Latency", "### Rates tried", "| 5/s for", "| 10/s for", "(2×)", "with `go run ./infra/cmd/loadbench -smoke -write"} {
		if !strings.Contains(doc, want) {
			t.Errorf("no %q in\n%s", want, doc)
		}
	}
}

// TestParseFlags: durations and rates come from flags; bad ones are named.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(loadbench.Config) bool
	}{
		{"defaults", nil, "", func(c loadbench.Config) bool { return c.HoldFor == time.Minute && len(c.LatencyRates) == 2 }},
		{"smoke", []string{"-smoke"}, "", func(c loadbench.Config) bool { return c.HoldFor < 10*time.Second }},
		{"rates", []string{"-rates", "10, 20", "-hold", "5s"}, "", func(c loadbench.Config) bool {
			return len(c.Ladder) == 2 && c.Ladder[1] == 20 && c.HoldFor == 5*time.Second
		}},
		{"bad rate", []string{"-rates", "10,x"}, "-rates", nil},
		{"no rate", []string{"-latency-rates", ","}, "-latency-rates", nil},
		{"negative", []string{"-hold", "-1s"}, "-hold", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags("/repo", tc.args, &bytes.Buffer{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(o.cfg) {
				t.Fatalf("cfg = %+v, err = %v", o.cfg, err)
			}
		})
	}
}
