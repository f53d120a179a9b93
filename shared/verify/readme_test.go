package verify_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The README's example receiver is example_test.go's Example, which the compiler
// checks: their bodies must stay the same.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	section := regexp.MustCompile("(?s)## Receiving webhooks\n.*?```go\n(.*?)```").FindSubmatch(readme)
	if section == nil {
		t.Fatal("README has no go block under ## Receiving webhooks")
	}
	got := body(t, string(section[1]), "func main() {")
	want := body(t, string(example), "func Example() {")
	if got != want {
		t.Fatalf("README's func main differs from example_test.go's Example:\n%s\nwant:\n%s", got, want)
	}
	for _, imp := range []string{`"github.com/gancho-dev/gancho/shared/verify"`, `"net/http"`, `"log"`, `"os"`} {
		if !strings.Contains(string(section[1]), imp) {
			t.Errorf("README example does not import %s", imp)
		}
	}
}

// body returns the lines of the function that opens with start, up to its closing brace.
func body(t *testing.T, src, start string) string {
	t.Helper()
	_, rest, ok := strings.Cut(src, start+"\n")
	if !ok {
		t.Fatalf("no %q", start)
	}
	fn, _, ok := strings.Cut(rest, "\n}\n")
	if !ok {
		t.Fatalf("%q does not end", start)
	}
	return fn
}
