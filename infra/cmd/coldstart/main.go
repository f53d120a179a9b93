// Command coldstart measures the size of every function's bootstrap and how long each
// takes, started as a new process, to ask the Lambda Runtime API for its first
// invocation and to answer it (make bench).
//
//	go run ./infra/cmd/coldstart [-runs 5] [-smoke] [-write BENCHMARKS.md]
//
// It builds every folder of functions/ as `make build` does (for linux and this
// machine's architecture, to run them; for linux/arm64 too, for the sizes the
// deployment ships), seeds the tenant and operator keys the sample events carry, and
// runs each binary -runs times under the Runtime API of infra/lambdatest with its
// sample event from events/, against the emulated DynamoDB and SQS: when started
// without them (GANCHO_TABLE_NAME unset) it runs itself again under
// infra/cmd/withstack. It prints the figures as Markdown and, with -write, puts them
// in that file's "## Cold start" section. Nothing passes or fails on the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gancho-dev/gancho/infra/bench"
)

// heading is the section of BENCHMARKS.md this command owns.
const heading = "## Cold start"

type options struct {
	runs      int
	coldBuild bool
	arm64     bool
	smoke     bool
	write     string
	timeout   time.Duration
}

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout))
}

func mainErr(args []string, stdout io.Writer) int {
	var o options
	parse := func(args []string) (err error) {
		o, err = parseFlags(args)
		return err
	}
	return bench.Main("coldstart", args, parse, func(ctx context.Context, root, command string) error {
		return run(ctx, o, root, command, stdout)
	})
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("coldstart", flag.ContinueOnError)
	fs.IntVar(&o.runs, "runs", 5, "starts of each function; the table shows the median")
	fs.BoolVar(&o.coldBuild, "cold-build", true, "also time the build from an empty build cache")
	fs.BoolVar(&o.arm64, "arm64", true, "also build for linux/arm64, for the sizes")
	fs.BoolVar(&o.smoke, "smoke", false, "one start each, no arm64 or empty-cache build: checks the command works")
	fs.StringVar(&o.write, "write", "", "Markdown file whose \""+heading+"\" section is replaced (created when missing)")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "time limit of one start, from exec to the answer")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.smoke {
		o.runs, o.coldBuild, o.arm64 = 1, false, false
	}
	if o.runs < 1 {
		return o, fmt.Errorf("-runs: %d is not a positive number", o.runs)
	}
	return o, nil
}

// run measures, prints and writes the section.
func run(ctx context.Context, o options, root, command string, stdout io.Writer) error {
	m := bench.DescribeMachine(root, command)
	r, err := measure(ctx, o, root)
	if err != nil {
		return err
	}
	section := render(m, o, r)
	if _, err := io.WriteString(stdout, section); err != nil {
		return err
	}
	if o.write == "" {
		return nil
	}
	path := o.write
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	if err := bench.WriteSection(path, heading, section); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "coldstart: wrote the %q section of %s\n", heading[3:], path)
	return nil
}
