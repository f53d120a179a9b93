// Package app wires Gancho's parts together from configuration: the same wiring for
// every Lambda and for the local server.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/ingest"
	"github.com/gancho-dev/gancho/shared/outbound"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// App is a configured Gancho.
type App struct {
	Config  config.Config
	Clients config.Clients
	Log     *slog.Logger
	API     *httpapi.API
	Deliver *deliver.Handler
	Sweeper *sweeper.Sweeper
	// Ingest consumes the ingest queue: events published without HTTP.
	Ingest *ingest.Handler
}

// New builds an App from cfg and its clients.
func New(cfg config.Config, clients config.Clients, log *slog.Logger) *App {
	policy := gancho.TargetPolicy{AllowInsecure: cfg.AllowInsecure}
	client := outbound.NewClient(outbound.Options{AllowPrivate: cfg.AllowInsecure})
	publisher := publish.New(clients.Store, clients.Queue, time.Now)
	if cfg.InlineFanOut > 0 {
		publisher.WithInlineFanOut(cfg.InlineFanOut)
	}
	api := httpapi.New(httpapi.Config{
		Store:        clients.Store,
		Publisher:    publisher,
		DeadLetters:  clients.Queue,
		Log:          log,
		Policy:       policy,
		AdminKeyHash: cfg.AdminKeyHash,
		HTTPClient:   client,
	})
	return &App{
		Config:  cfg,
		Clients: clients,
		Log:     log,
		API:     api,
		Deliver: deliver.NewHandler(clients.Store, clients.Queue, client, log,
			append([]deliver.Option{deliver.WithFanOut(publisher)}, cfg.DeliverOptions...)...),
		Sweeper: sweeper.New(clients.Store, clients.Queue, log, time.Now),
		Ingest:  ingest.NewHandler(api, publisher, clients.Store, clients.SQS, cfg.IngestDLQURL, log),
	}
}

// fromEnv builds the App of a Lambda, or exits: a Lambda that cannot configure itself
// must fail its init, visibly, rather than serve errors.
func fromEnv() *App {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gancho: configuration:", err)
		os.Exit(1)
	}
	log := cfg.Logger(os.Stdout)
	clients, err := cfg.NewClients(context.Background())
	if err != nil {
		log.Error("init", "err", err)
		os.Exit(1)
	}
	return New(cfg, clients, log)
}

// StartRoute runs a Lambda serving one API route (HTTP API, payload 2.0).
func StartRoute(name string) {
	a := fromEnv()
	lambda.Start(httpadapter.NewV2(a.API.Handler(name)).ProxyWithContext)
}

// StartSweeper runs the scheduled Lambda that re-queues parked deliveries.
func StartSweeper() {
	a := fromEnv()
	lambda.Start(func(ctx context.Context) error {
		_, err := a.Sweeper.Sweep(ctx)
		return err
	})
}

// StartIngest runs the ingest queue consumer Lambda.
func StartIngest() {
	a := fromEnv()
	if a.Config.IngestDLQURL == "" {
		fmt.Fprintln(os.Stderr, "gancho: configuration: missing environment: GANCHO_INGEST_DLQ_URL (the ingest dead-letter queue)")
		os.Exit(1)
	}
	lambda.Start(a.Ingest.Handle)
}

// StartDeliver runs the deliveries queue consumer Lambda.
func StartDeliver() {
	a := fromEnv()
	lambda.Start(a.Deliver.Handle)
}
