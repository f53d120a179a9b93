package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/gancho-dev/gancho/infra/bench/benchtest"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/testenv"
)

// TestSmoke runs the command's smoke against the emulators `make test` started and
// checks the section it writes: a row for each series with its figures, and the rest
// of the document kept.
func TestSmoke(t *testing.T) {
	testenv.Config(t)
	root, err := emulators.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-smoke"})
	if err != nil {
		t.Fatal(err)
	}
	section := benchtest.Section(t, heading, func(path string) error {
		o.write = path
		return run(context.Background(), o, root, "go run ./infra/cmd/hotpath -smoke", io.Discard)
	})
	if !strings.Contains(section, "`go run ./infra/cmd/hotpath -smoke`") {
		t.Errorf("the section does not say how it was taken:\n%s", section)
	}
	for _, series := range []string{"bare net/http loop", "consumer, in-memory store", "consumer through DynamoDB Local and the SQS emulator"} {
		var row string
		for _, ln := range strings.Split(section, "\n") {
			if strings.HasPrefix(ln, "| "+series+" |") {
				row = ln
			}
		}
		cells := strings.Split(row, "|")
		switch {
		case row == "":
			t.Errorf("no row for %s:\n%s", series, section)
		case len(cells) != 9 || !strings.HasSuffix(strings.TrimSpace(cells[6]), "×") || !strings.HasSuffix(strings.TrimSpace(cells[7]), "×"):
			t.Errorf("row %q: want the figures and both ratios", row)
		}
	}
}

// TestFlags: -smoke is small, and counts must be positive.
func TestFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    options
		wantErr bool
	}{
		{nil, options{deliveries: 20000, emulated: 2000, rounds: 3}, false},
		{[]string{"-smoke", "-rounds", "7"}, options{deliveries: 300, emulated: 50, rounds: 1, smoke: true}, false},
		{[]string{"-emulated", "0"}, options{}, true},
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
