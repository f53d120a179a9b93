// Package boot is what every Lambda does first: read the configuration and build the
// AWS clients, or fail its init. It links no service, so each function's own wiring
// (shared/app/apifn, deliverfn, sweeperfn, ingestfn) carries only the code it runs.
package boot

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/publish"
)

// Env is a configured process: its configuration, clients and logger, and where it
// counts what it does (nil: nowhere).
type Env struct {
	Config  config.Config
	Clients config.Clients
	Log     *slog.Logger
	Metrics metrics.Recorder
}

// StartMetrics makes e count what it does as the function named function (its folder
// under functions/): EMF lines on standard output on Lambda. The returned Flusher
// writes them; the function flushes it once per invocation (metrics.FlushAfter).
func (e *Env) StartMetrics(function string) metrics.Flusher {
	s := metrics.ForFunction(function, os.Getenv, os.Stdout)
	e.Metrics = s
	return s
}

// FromEnv builds the Env of a Lambda, or exits: a Lambda that cannot configure itself
// must fail its init, visibly, rather than serve errors. Its encryption keys are
// fetched here, once per cold start, when the environment names their secret.
func FromEnv() Env {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := config.Load(ctx, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gancho: configuration:", err)
		os.Exit(1)
	}
	log := cfg.Logger(os.Stdout)
	clients, err := cfg.NewClients(ctx)
	if err != nil {
		log.Error("init", "err", err)
		os.Exit(1)
	}
	return Env{Config: cfg, Clients: clients, Log: log}
}

// Outbound is the client that reaches customers' endpoints (deliveries, tests, token
// and JWKS requests): private addresses only when insecure targets are allowed.
func (e Env) Outbound() *http.Client {
	return outbound.NewClient(outbound.Options{AllowPrivate: e.Config.AllowInsecure})
}

// Publisher fans events out to subscriptions, for the API, the ingest consumer and
// the deliveries consumer's fan-out continuation alike.
func (e Env) Publisher() *publish.Publisher {
	p := publish.New(e.Clients.Store, e.Clients.Queue, time.Now)
	if e.Config.InlineFanOut > 0 {
		p.WithInlineFanOut(e.Config.InlineFanOut)
	}
	if e.Metrics != nil {
		p.WithMetrics(e.Metrics)
	}
	return p
}
