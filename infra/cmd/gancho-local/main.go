// Command gancho-local runs the whole of Gancho on this machine: DynamoDB Local and
// an SQS emulator on loopback ports (unless AWS_ENDPOINT_URL points elsewhere), every
// API route on http://127.0.0.1:$PORT (8080), and the delivery worker. Ctrl-C stops
// everything it started.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gancho-dev/gancho/infra/devstack"
	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/metrics"
)

// defaultStatsEvery is how often `make run` prints its stats line when something
// changed (GANCHO_LOCAL_STATS_EVERY).
const defaultStatsEvery = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gancho-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	root, err := emulators.RepoRoot()
	if err != nil {
		return err
	}
	port := getenv("PORT")
	if port == "" {
		port = "8080"
	}
	level := slog.LevelInfo
	if v := getenv("GANCHO_LOG_LEVEL"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("GANCHO_LOG_LEVEL: %w", err)
		}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if addr := getenv("GANCHO_PPROF_ADDR"); addr != "" {
		stopProfiling, err := serveProfiles(addr, log)
		if err != nil {
			return err
		}
		defer stopProfiling()
	}
	statsEvery := defaultStatsEvery
	if v := getenv("GANCHO_LOCAL_STATS_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("GANCHO_LOCAL_STATS_EVERY: want a duration such as 10s, or 0 for no stats line, got %q", v)
		}
		statsEvery = d
	}
	started := time.Now()
	dev, err := devstack.Start(ctx, devstack.Options{
		RepoRoot: root,
		Addr:     "127.0.0.1:" + port,
		APIKey:   getenv("GANCHO_DEV_API_KEY"),
		AdminKey: getenv("GANCHO_ADMIN_KEY"),
		Log:      log,
		Getenv:   getenv,
	})
	if err != nil {
		return err
	}
	took := time.Since(started)
	portal, err := demoPortalLink(ctx, dev)
	if err != nil {
		log.Warn("no portal link for the demo owner", "error", err)
		portal = "(could not make one: " + err.Error() + ")"
	}
	fmt.Fprint(stdout, banner(dev, getenv, took, portal))
	if statsEvery > 0 {
		t := time.NewTicker(statsEvery)
		defer t.Stop()
		go printStats(ctx, t.C, stdout, dev.App.Metrics.Snapshot)
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping...")
	return dev.Stop()
}

// banner says what runs where, what is exposed, and how to try it.
func banner(dev *devstack.Dev, getenv func(string) string, took time.Duration, portal string) string {
	var b strings.Builder
	var where, exposed string
	if dev.Emulators != nil {
		where = fmt.Sprintf("DynamoDB Local %s, SQS %s", dev.Emulators.DynamoEndpoint, dev.Emulators.SQSEndpoint)
		exposed = "API, DynamoDB Local and the SQS emulator listen on 127.0.0.1 only"
		if dev.Emulators.DynamoAllInterfaces {
			exposed = "WARNING: DynamoDB Local listens on EVERY interface (port " + portOf(dev.Emulators.DynamoEndpoint) +
				"), so other machines can read and write its tables; install a JDK (javac) to keep it on loopback.\n" +
				"             API and the SQS emulator listen on 127.0.0.1 only"
		}
	} else {
		where = "AWS endpoint " + getenv("AWS_ENDPOINT_URL") + getenv("AWS_ENDPOINT_URL_DYNAMODB")
		exposed = "API on 127.0.0.1 only; the AWS endpoint is not started here"
	}
	key := dev.KeySource
	if key != "GANCHO_ENCRYPTION_KEYS" {
		key += " (kept between runs; GANCHO_ENCRYPTION_KEYS overrides)"
	}
	fmt.Fprintf(&b, `
Gancho is running (ready in %.1fs)
  API          %s
  AWS          %s
  exposed      %s
  table        %s
  queue        %s
  ingest queue %s
  sealing key  %s
  tenant       %s
  API key      %s
  admin key    %s
  stats        %s (JSON; a summary line here when figures change, GANCHO_LOCAL_STATS_EVERY)
  portal       %s
               (the customer portal of owner %q for 24 h; open it in a browser)

`, took.Seconds(), dev.URL, where, exposed, dev.Config.TableName, dev.Config.QueueURL, dev.IngestQueueURL, key, dev.TenantID, dev.APIKey, dev.AdminKey,
		dev.URL+devstack.StatsPath, portal, demoOwner)
	b.WriteString(tryIt(dev.URL, dev.APIKey))
	b.WriteString("\nCtrl-C stops everything.\n")
	return b.String()
}

// printStats prints the summary line of read's figures at each tick, when it differs
// from the last one printed (an idle server prints nothing), until ctx ends.
func printStats(ctx context.Context, ticks <-chan time.Time, w io.Writer, read func() metrics.Snapshot) {
	last := metrics.Snapshot{}.Summary()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if line := read().Summary(); line != last {
				fmt.Fprintln(w, line)
				last = line
			}
		}
	}
}

// tryIt is a block of commands that work as pasted: a catalog type, a subscription
// to it, an event. The receiver it names prints each delivery.
func tryIt(api, key string) string {
	return fmt.Sprintf(`Try it:
  # in a second terminal, a receiver that prints each delivery: go run ./infra/cmd/receiver
  export GANCHO_API_KEY=%[2]s
  curl -s -X PUT %[1]s/v1/event-types/order.created -H "Authorization: Bearer $GANCHO_API_KEY" \
    -H 'Content-Type: application/json' -d '{"description":"an order was placed"}'
  curl -s %[1]s/v1/subscriptions -H "Authorization: Bearer $GANCHO_API_KEY" \
    -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:9000/hook","events":["order.*"]}'
  curl -s %[1]s/v1/events -H "Authorization: Bearer $GANCHO_API_KEY" \
    -H 'Content-Type: application/json' -d '{"type":"order.created","payload":{"orderId":42}}'
  # a customer portal link for one owner (open its url in a browser)
  curl -s %[1]s/v1/portal-links -H "Authorization: Bearer $GANCHO_API_KEY" \
    -H 'Content-Type: application/json' -d '{"ownerId":"%[3]s","expiresIn":3600}'
`, api, key, demoOwner)
}

// demoOwner is the owner whose customer portal make run opens.
const demoOwner = "demo"

// demoPortalLink mints a 24 h portal link for demoOwner through the API, as a
// provider's backend would.
func demoPortalLink(ctx context.Context, dev *devstack.Dev) (string, error) {
	body := fmt.Sprintf(`{"ownerId":%q,"expiresIn":%d}`, demoOwner, 24*60*60)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dev.URL+"/v1/portal-links", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+dev.APIKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var link struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<16)).Decode(&link); err != nil {
		return "", fmt.Errorf("portal link: %d: %w", res.StatusCode, err)
	}
	if res.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("portal link: %d %s", res.StatusCode, link.Detail)
	}
	return link.URL, nil
}

func portOf(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Port()
	}
	return endpoint
}

// serveProfiles serves Go's runtime profiles (net/http/pprof: CPU, goroutines, and
// mutex and block contention, which it turns on) on addr, a loopback address, for
// finding where a loaded process spends its time (infra/cmd/loadbench -pprof).
func serveProfiles(addr string, log *slog.Logger) (func(), error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("GANCHO_PPROF_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("GANCHO_PPROF_ADDR: want a loopback address such as 127.0.0.1:6060, got %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("GANCHO_PPROF_ADDR: %w", err)
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(int(time.Millisecond))
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("profiles", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}
