// Package app wires all of Gancho's parts together in one process, for the local
// server and the tests. A Lambda links only its own kind's wiring instead (apifn,
// deliverfn, sweeperfn, ingestfn, on top of boot), so a route's bootstrap carries no
// consumer or sweeper.
package app

import (
	"log/slog"

	"github.com/gancho-dev/gancho/shared/app/apifn"
	"github.com/gancho-dev/gancho/shared/app/boot"
	"github.com/gancho-dev/gancho/shared/app/deliverfn"
	"github.com/gancho-dev/gancho/shared/app/ingestfn"
	"github.com/gancho-dev/gancho/shared/app/sweeperfn"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/ingest"
	"github.com/gancho-dev/gancho/shared/metrics"
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
	// Metrics count what all its parts did since it was built (the local server
	// prints them; the Lambdas write EMF lines instead).
	Metrics *metrics.Counters
}

// New builds an App from cfg and its clients; deliverOpts tune the consumer (tests
// and local runs shorten its delays). Its parts share one publisher and one outbound
// client, as the functions of one kind do.
func New(cfg config.Config, clients config.Clients, log *slog.Logger, deliverOpts ...deliver.Option) *App {
	counters := metrics.NewCounters()
	e := boot.Env{Config: cfg, Clients: clients, Log: log, Metrics: counters}
	client := e.Outbound()
	publisher := e.Publisher()
	api := apifn.NewAPI(e, publisher, client)
	return &App{
		Config:  cfg,
		Clients: clients,
		Log:     log,
		API:     api,
		Deliver: deliverfn.NewHandler(e, publisher, client, deliverOpts...),
		Sweeper: sweeperfn.New(e),
		Ingest:  ingestfn.NewHandler(e, api, publisher),
		Metrics: counters,
	}
}
