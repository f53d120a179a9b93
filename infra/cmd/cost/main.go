// Command cost measures what Gancho asks of AWS per publish and per first-try
// delivery, and what that costs per million deliveries next to EventBridge API
// destinations (make cost).
//
//	go run ./infra/cmd/cost [-subs 1,10,1000] [-deliveries 1000] [-write BENCHMARKS.md]
//
// It starts DynamoDB Local and the SQS emulator (or uses those AWS_ENDPOINT_URL_DYNAMODB
// and AWS_ENDPOINT_URL_SQS name), puts a counting proxy (infra/costmeter) in front of
// each, runs Gancho's API and delivery worker in-process against the proxies, and for
// each subscription count publishes events to a local receiver until every delivery
// has landed. It prints the figures as Markdown and, with -write, puts them in that
// file's "## Cost" section. The figures are reported; nothing passes or fails on them.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gancho-dev/gancho/infra/bench"
	"github.com/gancho-dev/gancho/infra/costmeter"
	"github.com/gancho-dev/gancho/infra/emulators"
)

type options struct {
	subs         []int
	quietSubs    []int
	batchSubs    []int
	batch        int
	quietEvents  int
	deliveries   int
	minEvents    int
	maxEvents    int
	payloadBytes int
	concurrency  int
	write        string
	timeout      time.Duration
	lambda       lambdaModel
	verbose      bool
}

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout))
}

func mainErr(args []string, stdout io.Writer) int {
	o, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "cost:", err)
		return 2
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	command := bench.Command("cost", "cost", args)
	if err := measure(ctx, o, log, stdout, command); err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	subs := fs.String("subs", "1,10,1000", "subscriptions per event, one run each")
	quiet := fs.String("quiet-subs", "1", "subscriptions per event of the quiet-queue runs (empty: none)")
	batched := fs.String("batch-subs", "1,10", "subscriptions per event of the runs that publish through POST /v1/events/batch (empty: none)")
	fs.IntVar(&o.batch, "batch", 100, "events per POST /v1/events/batch request of the batch runs")
	fs.IntVar(&o.quietEvents, "quiet-events", 20, "events per quiet-queue run")
	fs.IntVar(&o.deliveries, "deliveries", 1000, "deliveries to aim for per run (events = deliveries / subs, within -min-events and -max-events)")
	fs.IntVar(&o.minEvents, "min-events", 3, "fewest events per run")
	fs.IntVar(&o.maxEvents, "max-events", 100, "most events per run")
	fs.IntVar(&o.payloadBytes, "payload-bytes", 512, "approximate size of each event's payload (at most 1024)")
	fs.IntVar(&o.concurrency, "concurrency", 4, "publishes in flight at once")
	fs.StringVar(&o.write, "write", "", "Markdown file whose \"## Cost\" section is replaced (created when missing)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "time limit of one run")
	fs.Float64Var(&o.lambda.PublishMs, "publish-ms", 40, "billed duration of one publish-event invocation, ms")
	fs.Float64Var(&o.lambda.DeliverMs, "deliver-ms", 200, "billed duration of one consumer invocation (a batch), ms")
	fs.IntVar(&o.lambda.PublishMB, "publish-mb", 256, "publish-event memory, MB (template.yaml: Globals)")
	fs.IntVar(&o.lambda.DeliverMB, "deliver-mb", 512, "consumer memory, MB (template.yaml: DeliverFunction)")
	fs.BoolVar(&o.verbose, "v", false, "log what Gancho logs at info level")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if o.subs, err = counts("-subs", *subs); err != nil {
		return o, err
	}
	if len(o.subs) == 0 {
		return o, errors.New("-subs: give at least one number")
	}
	if o.quietSubs, err = counts("-quiet-subs", *quiet); err != nil {
		return o, err
	}
	if o.batchSubs, err = counts("-batch-subs", *batched); err != nil {
		return o, err
	}
	if o.batch < 1 || o.batch > 100 {
		return o, fmt.Errorf("-batch: %d is not within 1..100", o.batch)
	}
	if o.payloadBytes < 0 || o.payloadBytes > 1024 {
		return o, fmt.Errorf("-payload-bytes: %d is not within 0..1024", o.payloadBytes)
	}
	if o.minEvents < 1 || o.maxEvents < o.minEvents {
		return o, fmt.Errorf("-min-events %d and -max-events %d: want 1 <= min <= max", o.minEvents, o.maxEvents)
	}
	return o, nil
}

// counts parses a comma-separated list of positive numbers.
func counts(flagName, list string) ([]int, error) {
	return bench.List(flagName, list, func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, errors.New("is not a positive number")
		}
		return n, nil
	})
}

// events is how many events a run with n subscriptions publishes.
func (o options) events(n int) int {
	e := (o.deliveries + n - 1) / n
	return min(max(e, o.minEvents), o.maxEvents)
}

// measure runs every scenario and reports.
func measure(ctx context.Context, o options, log *slog.Logger, stdout io.Writer, command string) error {
	root, err := emulators.RepoRoot()
	if err != nil {
		return err
	}
	ddb, sq := os.Getenv("AWS_ENDPOINT_URL_DYNAMODB"), os.Getenv("AWS_ENDPOINT_URL_SQS")
	if ddb == "" || sq == "" {
		if err := emulators.CheckInstalled(root); err != nil {
			return fmt.Errorf("%w (make cost installs them)", err)
		}
		emu, err := emulators.Start(ctx, emulators.Options{RepoRoot: root})
		if err != nil {
			return err
		}
		defer emu.Stop()
		ddb, sq = emu.DynamoEndpoint, emu.SQSEndpoint
	}
	m := costmeter.New()
	dp, err := m.Start(costmeter.DynamoDB, ddb)
	if err != nil {
		return err
	}
	defer dp.Close()
	sp, err := m.Start(costmeter.SQS, sq)
	if err != nil {
		return err
	}
	defer sp.Close()
	st := stack{RepoRoot: root, Meter: m, DynamoURL: dp.URL, SQSURL: sp.URL, Log: log}

	var scenarios []scenario
	for _, n := range o.subs {
		scenarios = append(scenarios, scenario{Subs: n, Events: o.events(n), PayloadBytes: o.payloadBytes, Concurrency: o.concurrency, Timeout: o.timeout})
	}
	for _, n := range o.batchSubs {
		scenarios = append(scenarios, scenario{Subs: n, Events: o.events(n), PayloadBytes: o.payloadBytes, Concurrency: o.concurrency, Timeout: o.timeout, Batch: o.batch})
	}
	for _, n := range o.quietSubs {
		scenarios = append(scenarios, scenario{Subs: n, Events: o.quietEvents, PayloadBytes: o.payloadBytes, Concurrency: 1, Timeout: o.timeout, Quiet: true})
	}
	var results []result
	for _, sc := range scenarios {
		n := sc.Subs
		fmt.Fprintf(os.Stderr, "cost: %d subscription(s), %d events, quiet queue: %v...\n", n, sc.Events, sc.Quiet)
		r, err := run(ctx, st, sc)
		if err != nil {
			return fmt.Errorf("%d subscriptions: %w", n, err)
		}
		fmt.Fprintf(os.Stderr, "cost: %d deliveries in %s\n", r.Deliveries, r.Elapsed.Round(time.Millisecond))
		results = append(results, r)
	}
	var buf bytes.Buffer
	render(&buf, bench.DescribeMachine(root, command), results, o.lambda, o.payloadBytes)
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if o.write != "" {
		path := o.write
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		if err := bench.WriteSection(path, "## Cost", buf.String()); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cost: wrote the Cost section of %s\n", path)
	}
	return nil
}
