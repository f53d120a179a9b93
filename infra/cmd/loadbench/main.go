// Command loadbench measures Gancho end to end under load (package infra/loadbench):
// latency at fixed rates, the highest rate held, what twice that delivers, how long
// the backlog takes to drain, and the CPU and memory a delivery takes.
//
//	go run ./infra/cmd/loadbench [-write BENCHMARKS.md] [-smoke] [-pprof dir]
//
// It starts DynamoDB Local, the SQS emulator and gancho-local on loopback, prints the
// figures as Markdown and, with -write, puts them in that file's "## End to end"
// section. The figures are reported; nothing passes or fails on them.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	benchdoc "github.com/gancho-dev/gancho/infra/bench"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/infra/loadbench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	cfg   loadbench.Config
	write string
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root, err := emulators.RepoRoot()
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 2
	}
	o, err := parseFlags(root, args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 2
	}
	res, err := loadbench.Run(ctx, o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "loadbench:", err)
		return 1
	}
	var buf bytes.Buffer
	command := strings.TrimSpace("go run ./infra/cmd/loadbench " + strings.Join(args, " "))
	loadbench.Render(&buf, benchdoc.DescribeMachine(root, command), o.cfg, res)
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return 1
	}
	if o.write != "" {
		path := o.write
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := benchdoc.WriteSection(path, loadbench.Heading, buf.String()); err != nil {
			fmt.Fprintln(stderr, "loadbench:", err)
			return 1
		}
		fmt.Fprintf(stderr, "loadbench: wrote the End to end section of %s\n", path)
	}
	return 0
}

func parseFlags(root string, args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	smoke := fs.Bool("smoke", false, "a few seconds per step at tiny rates (CI: shows the benchmark works)")
	warmup := fs.Duration("warmup", 0, "warm-up before measuring (default 10s; smoke 1s)")
	latencyFor := fs.Duration("latency-for", 0, "how long each latency rate is offered (default 30s)")
	latencyRates := fs.String("latency-rates", "", "rates whose latency is measured, events/s (default 50,200)")
	ladder := fs.String("rates", "", "rates tried in order until one is not held, events/s (default 50,100,200,300,500,750,1000,1500,2000)")
	hold := fs.Duration("hold", 0, "how long each rate must be held (default 60s)")
	overload := fs.Duration("overload", 0, "how long twice the held rate is offered (default 60s)")
	drain := fs.Duration("drain", 0, "longest wait for the backlog to drain after the overload (default 3m)")
	settle := fs.Duration("settle", 0, "longest wait between steps for the backlog to drain (default 1m)")
	inflight := fs.Int("max-in-flight", 0, "publishes in flight at most (default 2048)")
	fs.StringVar(&o.write, "write", "", "Markdown file whose \"## End to end\" section is replaced (created when missing)")
	pprofDir := fs.String("pprof", "", "directory for CPU, goroutine, mutex and block profiles of Gancho taken during the overload")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	o.cfg = loadbench.DefaultConfig(root)
	if *smoke {
		o.cfg = loadbench.SmokeConfig(root)
	}
	o.cfg.Out, o.cfg.PprofDir = stderr, *pprofDir
	for _, d := range []struct {
		name string
		v    time.Duration
		to   *time.Duration
	}{{"-warmup", *warmup, &o.cfg.Warmup}, {"-latency-for", *latencyFor, &o.cfg.LatencyFor}, {"-hold", *hold, &o.cfg.HoldFor},
		{"-overload", *overload, &o.cfg.OverloadFor}, {"-drain", *drain, &o.cfg.DrainWait}, {"-settle", *settle, &o.cfg.SettleWait}} {
		if d.v < 0 {
			return o, fmt.Errorf("%s: %s is negative", d.name, d.v)
		}
		if d.v > 0 {
			*d.to = d.v
		}
	}
	var err error
	if *latencyRates != "" {
		if o.cfg.LatencyRates, err = rates("-latency-rates", *latencyRates); err != nil {
			return o, err
		}
	}
	if *ladder != "" {
		if o.cfg.Ladder, err = rates("-rates", *ladder); err != nil {
			return o, err
		}
	}
	if *inflight < 0 {
		return o, fmt.Errorf("-max-in-flight: %d is negative", *inflight)
	}
	if *inflight > 0 {
		o.cfg.MaxInFlight = *inflight
	}
	return o, nil
}

// rates parses a comma-separated list of positive rates.
func rates(flagName, list string) ([]float64, error) {
	out, err := benchdoc.List(flagName, list, func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || v <= 0 || v > 100000 {
			return 0, errors.New("is not a rate between 0 and 100000 events/s")
		}
		return v, nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s: give at least one rate", flagName)
	}
	return out, err
}
