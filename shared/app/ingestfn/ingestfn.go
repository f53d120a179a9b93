// Package ingestfn wires the ingest queue consumer Lambda. It validates events as
// POST /v1/events does, so it links the HTTP API, but not the deliveries consumer.
package ingestfn

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/gancho-dev/gancho/shared/app/apifn"
	"github.com/gancho-dev/gancho/shared/app/boot"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/ingest"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/publish"
)

// NewHandler builds the ingest consumer around api, which validates what it reads.
func NewHandler(e boot.Env, api *httpapi.API, publisher *publish.Publisher) *ingest.Handler {
	return ingest.NewHandler(api, publisher, e.Clients.Store, e.Clients.SQS, e.Config.IngestDLQURL, e.Log)
}

// StartIngest runs the ingest queue consumer Lambda; its metrics (the events it
// published) are written once per batch.
func StartIngest() {
	e := boot.FromEnv()
	if e.Config.IngestDLQURL == "" {
		fmt.Fprintln(os.Stderr, "gancho: configuration: missing environment: GANCHO_INGEST_DLQ_URL (the ingest dead-letter queue)")
		os.Exit(1)
	}
	flush := e.StartMetrics(metrics.FunctionIngest)
	publisher := e.Publisher()
	lambda.Start(metrics.FlushAfter(NewHandler(e, apifn.NewAPI(e, publisher, e.Outbound()), publisher).Handle, flush))
}
