// Command hotpath measures the consumer's hot path next to a bare net/http loop
// against the same loopback receiver, in one run (make bench).
//
//	go run ./infra/cmd/hotpath [-deliveries 20000] [-emulated 2000] [-rounds 3] [-smoke] [-write BENCHMARKS.md]
//
// The consumer is shared/deliver's Handler built with its public constructor, fed
// batches of ten SQS records, each delivering a signed envelope (a payload of about
// 1 KiB) to a receiver answering 200. It runs twice: with an in-memory store (Gancho's
// own per-delivery work plus HTTP) and through the emulators (records in DynamoDB
// Local, messages received from and deleted on the SQS emulator, as Lambda's event
// source mapping does). The bare loop sends requests of the same size with the same
// client and concurrency and does nothing else. Deliveries per second and the
// process's CPU time per delivery are reported for each, with the ratios. When
// started without the emulators (GANCHO_TABLE_NAME unset) it runs itself again
// under infra/cmd/withstack. With -write, the figures replace that file's
// "## Consumer hot path" section. Nothing passes or fails on them.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gancho-dev/gancho/infra/bench"
)

// heading is the section of BENCHMARKS.md this command owns.
const heading = "## Consumer hot path"

type options struct {
	deliveries int // per round, bare loop and in-memory consumer
	emulated   int // per round, through the emulators
	rounds     int
	smoke      bool
	write      string
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
	return bench.Main("hotpath", args, parse, func(ctx context.Context, root, command string) error {
		return run(ctx, o, root, command, stdout)
	})
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("hotpath", flag.ContinueOnError)
	fs.IntVar(&o.deliveries, "deliveries", 20000, "deliveries per round of the bare loop and of the in-memory consumer")
	fs.IntVar(&o.emulated, "emulated", 2000, "deliveries per round through DynamoDB Local and the SQS emulator")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds, each running every series once; the table shows the medians")
	fs.BoolVar(&o.smoke, "smoke", false, "a few hundred deliveries, one round: checks the command works")
	fs.StringVar(&o.write, "write", "", "Markdown file whose \""+heading+"\" section is replaced (created when missing)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.smoke {
		o.deliveries, o.emulated, o.rounds = 300, 50, 1
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"-deliveries", o.deliveries}, {"-emulated", o.emulated}, {"-rounds", o.rounds}} {
		if f.v < 1 {
			return o, fmt.Errorf("%s: %d is not a positive number", f.name, f.v)
		}
	}
	return o, nil
}

// run measures, prints and writes the section.
func run(ctx context.Context, o options, root, command string, stdout io.Writer) error {
	m := bench.DescribeMachine(root, command)
	r, err := measure(ctx, o)
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
	fmt.Fprintf(os.Stderr, "hotpath: wrote the %q section of %s\n", heading[3:], path)
	return nil
}
