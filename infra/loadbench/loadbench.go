// Package loadbench measures Gancho end to end under load: the stack `make run`
// starts (DynamoDB Local, the SQS emulator and the gancho-local process), one
// subscription to a loopback receiver, and an open-loop publisher that offers events
// at a fixed rate whatever Gancho answers. It reports publish-to-receive latency, the
// highest rate Gancho keeps up with, what it delivers when offered twice that, how
// long its backlog takes to drain, and what each delivery costs in CPU.
package loadbench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/infra/soak"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/seal"
)

// eventType is the type of every published event.
const eventType = "load.tick"

// Config sets up a run.
type Config struct {
	RepoRoot string
	// Warmup publishes at WarmupRate before anything is measured (caches,
	// connections, the JIT of DynamoDB Local).
	Warmup     time.Duration
	WarmupRate float64
	// LatencyRates are the rates whose publish-to-receive latency is measured, each
	// for LatencyFor.
	LatencyRates []float64
	LatencyFor   time.Duration
	// Ladder is the rates tried, in order, each for HoldFor, until one is not held.
	Ladder  []float64
	HoldFor time.Duration
	// OverloadFor is how long twice the highest held rate is offered.
	OverloadFor time.Duration
	// DrainWait bounds the wait for the backlog to drain after the overload, and
	// SettleWait the wait between steps (and for the last receipts of a latency step).
	DrainWait  time.Duration
	SettleWait time.Duration
	// MaxInFlight bounds the publishes in flight (the publisher's connections); a
	// tick that finds them all busy is counted as not sent.
	MaxInFlight int
	// PprofDir, when set, receives CPU, goroutine, mutex and block profiles of the
	// Gancho process taken during the overload.
	PprofDir string
	Out      io.Writer // progress
}

// DefaultConfig is the full run.
func DefaultConfig(root string) Config {
	return Config{
		RepoRoot: root, Warmup: 10 * time.Second, WarmupRate: 20,
		LatencyRates: []float64{50, 200}, LatencyFor: 30 * time.Second,
		Ladder:  []float64{50, 100, 200, 300, 500, 750, 1000, 1500, 2000},
		HoldFor: 60 * time.Second, OverloadFor: 60 * time.Second,
		DrainWait: 3 * time.Minute, SettleWait: time.Minute, MaxInFlight: 2048, Out: os.Stderr,
	}
}

// SmokeConfig runs every step for a few seconds at tiny rates: it shows the
// benchmark works, not what Gancho can do.
func SmokeConfig(root string) Config {
	return Config{
		RepoRoot: root, Warmup: time.Second, WarmupRate: 5,
		LatencyRates: []float64{5, 10}, LatencyFor: 2 * time.Second,
		Ladder: []float64{5, 10}, HoldFor: 3 * time.Second, OverloadFor: 2 * time.Second,
		DrainWait: 20 * time.Second, SettleWait: 10 * time.Second, MaxInFlight: 64, Out: os.Stderr,
	}
}

// LatencyStep is one latency measurement.
type LatencyStep struct {
	Rate                float64
	Offered, Accepted   int
	Refused, Failed     int // 503 (or 429) answers; other answers and transport errors
	Unsent              int // ticks that found every connection busy
	Delivered           float64
	P50, P95, P99       time.Duration // math.MaxInt64: beyond the wait (not received)
	NotReceived         int
	Wait                time.Duration // how long receipts were waited for
	ReceivedLatencyMean time.Duration
}

// Step is one rate of the ladder (or the overload).
type Step struct {
	Rate              float64
	For               time.Duration
	Offered, Accepted int
	Refused, Failed   int
	Unsent            int
	Delivered         float64 // receipts per second within the window
	BacklogGrowth     int     // backlog at the end minus backlog two thirds in
	Held              bool
	CPU               CPU
	PeakRSS           int64 // bytes, Gancho process, during the step
	P50, P99          time.Duration
}

// CPU is the CPU time spent during a step by Gancho and by each emulator, and per
// delivered event.
type CPU struct {
	Gancho, DynamoDB, SQS time.Duration
	Delivered             int
}

// PerEvent is ms of CPU per delivered event.
func (c CPU) PerEvent(d time.Duration) float64 {
	if c.Delivered == 0 {
		return math.NaN()
	}
	return float64(d.Microseconds()) / 1000 / float64(c.Delivered)
}

// Result is what a run measured.
type Result struct {
	Latency  []LatencyStep
	Ladder   []Step
	Held     float64 // highest rate held; 0 when none was
	HeldStep *Step
	Overload *Step
	// Drained is how long the backlog took to reach zero after the overload; Left is
	// what was still undelivered when DrainWait ran out (then Drained is DrainWait).
	Drained time.Duration
	Left    int
	Cores   int // CPUs Gancho and the emulators share with the publisher
}

// Run brings up the stack, runs every step and stops everything it started.
func Run(ctx context.Context, cfg Config) (Result, error) {
	started := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(cfg.Out, "loadbench: %6.1fs  %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
	}
	if err := emulators.CheckInstalled(cfg.RepoRoot); err != nil {
		return Result{}, fmt.Errorf("%w (make deps installs them)", err)
	}
	dir, err := os.MkdirTemp("", "gancho-loadbench-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	bin, err := soak.BuildServer(ctx, cfg.RepoRoot, dir)
	if err != nil {
		return Result{}, err
	}
	emu, err := emulators.Start(ctx, emulators.Options{RepoRoot: cfg.RepoRoot})
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = emu.Stop() }()
	logf("emulators ready (DynamoDB %s, SQS %s)", emu.DynamoEndpoint, emu.SQSEndpoint)

	apiKey := auth.NewAPIKey()
	vars := map[string]string{
		"AWS_ENDPOINT_URL":          "",
		"AWS_ENDPOINT_URL_DYNAMODB": emu.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SQS":      emu.SQSEndpoint,
		"AWS_REGION":                emulators.DefaultRegion,
		"AWS_ACCESS_KEY_ID":         emulators.LocalAccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     emulators.LocalSecretAccessKey,
		"AWS_SESSION_TOKEN":         "",
		"AWS_EC2_METADATA_DISABLED": "true",
		"GANCHO_DEV_API_KEY":        apiKey,
		"GANCHO_ADMIN_KEY":          "gk_admin_" + auth.NewAPIKey()[3:],
		"GANCHO_ENCRYPTION_KEYS":    seal.NewKey("load"),
		"GANCHO_LOG_LEVEL":          "info", // as make run
	}
	pprofAddr := ""
	if cfg.PprofDir != "" {
		port, err := freePort()
		if err != nil {
			return Result{}, err
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
		vars["GANCHO_PPROF_ADDR"] = pprofAddr
		if err := os.MkdirAll(cfg.PprofDir, 0o755); err != nil {
			return Result{}, err
		}
	}
	srv, err := soak.NewServer(bin, cfg.RepoRoot, vars, filepath.Join(dir, "gancho.log"))
	if err != nil {
		return Result{}, err
	}
	defer srv.Stop()
	if err := srv.Start(ctx); err != nil {
		return Result{}, err
	}
	logf("gancho-local up at %s (pid %d)", srv.URL, srv.Pid())

	rec, err := startReceiver()
	if err != nil {
		return Result{}, err
	}
	defer rec.close()
	pub := newPublisher(srv.URL, apiKey, cfg.MaxInFlight)
	if err := pub.setUp(ctx, rec.URL); err != nil {
		return Result{}, err
	}
	procs := processes{gancho: srv.Pid(), emulators: emu.Pids()}
	b := &bench{cfg: cfg, pub: pub, rec: rec, procs: procs, logf: logf}

	res := Result{Cores: numCPU()}
	if cfg.Warmup > 0 {
		logf("warm-up: %.0f events/s for %s", cfg.WarmupRate, cfg.Warmup)
		b.offer(ctx, cfg.WarmupRate, cfg.Warmup)
		b.settle(ctx, cfg.SettleWait)
	}
	for _, rate := range cfg.LatencyRates {
		l := b.latency(ctx, rate, cfg.LatencyFor)
		res.Latency = append(res.Latency, l)
		logf("latency at %.0f/s: p50 %s p95 %s p99 %s, %d not received, delivered %.1f/s, %d refused", rate,
			FormatLatency(l.P50), FormatLatency(l.P95), FormatLatency(l.P99), l.NotReceived, l.Delivered, l.Refused)
		b.settle(ctx, cfg.SettleWait)
	}
	for _, rate := range cfg.Ladder {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		s := b.step(ctx, rate, cfg.HoldFor, true)
		res.Ladder = append(res.Ladder, s)
		logf("%.0f/s for %s: delivered %.1f/s, backlog growth %d, held %v, Gancho %.2f ms CPU/event, peak RSS %.0f MiB",
			rate, cfg.HoldFor, s.Delivered, s.BacklogGrowth, s.Held, s.CPU.PerEvent(s.CPU.Gancho), float64(s.PeakRSS)/(1<<20))
		if !s.Held {
			break
		}
		res.Held = rate
		res.HeldStep = &res.Ladder[len(res.Ladder)-1]
		if !b.settle(ctx, cfg.SettleWait) {
			break
		}
	}
	if len(res.Ladder) > 0 {
		b.settle(ctx, cfg.SettleWait)
		over := 2 * res.Held
		if over == 0 {
			over = 2 * cfg.Ladder[0]
		}
		var profiles chan error
		if pprofAddr != "" {
			profiles = make(chan error, 1)
			go func() { profiles <- takeProfiles(ctx, pprofAddr, cfg.PprofDir, cfg.OverloadFor) }()
		}
		s := b.step(ctx, over, cfg.OverloadFor, false)
		res.Overload = &s
		logf("overload %.0f/s for %s: delivered %.1f/s, %d refused, p50 %s", over, cfg.OverloadFor, s.Delivered, s.Refused, FormatLatency(s.P50))
		t := time.Now()
		if b.settle(ctx, cfg.DrainWait) {
			res.Drained = time.Since(t)
		} else {
			res.Drained, res.Left = cfg.DrainWait, b.backlog()
		}
		logf("backlog drained after %s (%d left)", res.Drained.Round(100*time.Millisecond), res.Left)
		if profiles != nil {
			if err := <-profiles; err != nil {
				logf("profiles: %v", err)
			} else {
				logf("profiles in %s", cfg.PprofDir)
			}
		}
	}
	return res, nil
}

// bench holds what the steps share.
type bench struct {
	cfg   Config
	pub   *publisher
	rec   *receiver
	procs processes
	logf  func(string, ...any)
}

// backlog is events accepted and not yet received.
func (b *bench) backlog() int { return b.pub.acceptedCount() - b.rec.count() }

// settle waits until every accepted event was received (true), or for at most wait.
func (b *bench) settle(ctx context.Context, wait time.Duration) bool {
	b.pub.wait() // answers still in flight add accepted events
	deadline := time.Now().Add(wait)
	for b.backlog() > 0 {
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.logf("backlog of %d not drained within %s", b.backlog(), wait)
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// offer publishes at rate for d and returns the window's publishing outcome.
func (b *bench) offer(ctx context.Context, rate float64, d time.Duration) *window {
	return b.pub.run(ctx, rate, d, nil)
}

// latency offers rate for d and measures each accepted event's publish-to-receive
// time, waiting up to SettleWait for the last receipts.
func (b *bench) latency(ctx context.Context, rate float64, d time.Duration) LatencyStep {
	w := b.pub.run(ctx, rate, d, nil)
	b.settle(ctx, b.cfg.SettleWait)
	events := w.accepted()
	l := LatencyStep{Rate: rate, Offered: w.offered, Accepted: len(events), Refused: w.refused, Failed: w.failed, Unsent: w.unsent,
		Wait: b.cfg.SettleWait}
	l.Delivered = float64(b.rec.between(w.start, w.end)) / w.end.Sub(w.start).Seconds()
	lat := b.rec.latencies(events)
	l.P50, l.P95, l.P99 = percentile(lat, 0.50), percentile(lat, 0.95), percentile(lat, 0.99)
	var sum time.Duration
	for _, x := range lat {
		if x == math.MaxInt64 {
			l.NotReceived++
		} else {
			sum += x
		}
	}
	if n := len(lat) - l.NotReceived; n > 0 {
		l.ReceivedLatencyMean = sum / time.Duration(n)
	}
	return l
}

// step offers rate for d and reports what was delivered meanwhile, whether the
// backlog grew over the last third, and the CPU and memory it took.
func (b *bench) step(ctx context.Context, rate float64, d time.Duration, judge bool) Step {
	b.procs.resetPeakRSS()
	before := b.procs.cpu()
	third := make(chan int, 1)
	w := b.pub.run(ctx, rate, d, func(elapsed time.Duration) {
		if elapsed >= d*2/3 {
			select {
			case third <- b.backlog():
			default:
			}
		}
	})
	after := b.procs.cpu()
	peak := b.procs.peakRSS()
	received := b.rec.between(w.start, w.end)
	growth := 0
	select {
	case at := <-third:
		growth = b.backlog() - at
	default:
	}
	b.pub.wait() // the window's counters are final once every publish was answered
	events := w.accepted()
	s := Step{Rate: rate, For: d, Offered: w.offered, Accepted: len(events), Refused: w.refused, Failed: w.failed, Unsent: w.unsent,
		PeakRSS: peak, BacklogGrowth: growth}
	s.Delivered = float64(received) / w.end.Sub(w.start).Seconds()
	s.CPU = CPU{Gancho: after.gancho - before.gancho, DynamoDB: after.emulators["dynamodb"] - before.emulators["dynamodb"],
		SQS: after.emulators["sqs"] - before.emulators["sqs"], Delivered: received}
	// Held: within 5 % of the offered rate, and a backlog that does not grow over the
	// last third by more than half a second's worth of events plus 5 % of that third.
	lastThird := (d / 3).Seconds()
	s.Held = judge && s.Delivered >= 0.95*rate && float64(s.BacklogGrowth) <= rate*(0.5+0.05*lastThird)
	lat := b.rec.latencies(events)
	s.P50, s.P99 = percentile(lat, 0.5), percentile(lat, 0.99)
	return s
}

// FormatLatency prints a latency as the tables show it.
func FormatLatency(d time.Duration) string {
	switch {
	case d == math.MaxInt64:
		return "not received"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

// percentile of xs (sorted by latencies), the nearest rank.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

// client is a loopback-only HTTP client.
func client(conns int, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: tr, Timeout: timeout}
}
