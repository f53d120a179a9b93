package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/infra/bench/benchtest"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/infra/lambdatest"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestSmoke runs the command's smoke (one start of each function) against the
// emulators `make test` started and checks the section it writes: a row for every
// function, each answered, and the rest of the document kept.
func TestSmoke(t *testing.T) {
	testenv.Config(t)
	root, err := emulators.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	names, err := lambdatest.FunctionFolders(root)
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-smoke"})
	if err != nil {
		t.Fatal(err)
	}
	section := benchtest.Section(t, heading, func(path string) error {
		o.write = path
		return run(context.Background(), o, root, "go run ./infra/cmd/coldstart -smoke", io.Discard)
	})
	for _, want := range []string{"`go run ./infra/cmd/coldstart -smoke`", "Build: one `go build`", "| **all "} {
		if !strings.Contains(section, want) {
			t.Errorf("the section lacks %q:\n%s", want, section)
		}
	}
	for _, name := range names {
		var row string
		for _, ln := range strings.Split(section, "\n") {
			if strings.HasPrefix(ln, "| "+name+" |") {
				row = ln
			}
		}
		cells := strings.Split(row, "|")
		switch {
		case row == "":
			t.Errorf("no row for %s", name)
		case len(cells) != 8 || !strings.HasSuffix(strings.TrimSpace(cells[2]), " MiB") ||
			!strings.HasSuffix(strings.TrimSpace(cells[4]), " ms") || !strings.HasSuffix(strings.TrimSpace(cells[5]), " ms"):
			t.Errorf("row %q: want a size, two times and an answer", row)
		case strings.Contains(row, "error"):
			t.Errorf("%s answered with an error: %s", name, row)
		}
	}
}

// TestFlags: -smoke is one start of each function and nothing slow besides.
func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    options
		wantErr bool
	}{
		{nil, options{runs: 5, coldBuild: true, arm64: true, timeout: 60e9}, false},
		{[]string{"-smoke", "-runs", "9"}, options{runs: 1, smoke: true, timeout: 60e9}, false},
		{[]string{"-runs", "0"}, options{}, true},
		{[]string{"extra"}, options{}, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got, err := parseFlags(tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if err == nil && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
