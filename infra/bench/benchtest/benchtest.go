// Package benchtest checks what a benchmark command writes into BENCHMARKS.md.
package benchtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Section runs write on a document that already holds another section, checks that
// the other section is kept at its start, and returns the section under heading that
// write added (the test fails when there is none).
func Section(t *testing.T, heading string, write func(path string) error) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	const other = "# Benchmarks\n\n## Cost\n\nkept\n"
	if err := os.WriteFile(path, []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	if !strings.HasPrefix(doc, other) {
		t.Errorf("the document no longer starts with its other section:\n%s", doc)
	}
	_, section, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("no %q section:\n%s", heading, doc)
	}
	return section
}
