// Package deliverfn wires the deliveries queue consumer Lambda: the consumer and the
// publisher it continues fan-outs with, not the HTTP API (no JWT or route handlers).
package deliverfn

import (
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/gancho-dev/gancho/shared/app/boot"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/publish"
)

// NewHandler builds the consumer; client sends the webhooks, publisher continues the
// fan-outs too large for the publish request; opts tune it (tests shorten its delays).
func NewHandler(e boot.Env, publisher *publish.Publisher, client *http.Client, opts ...deliver.Option) *deliver.Handler {
	base := []deliver.Option{deliver.WithFanOut(publisher), deliver.WithOperationalEvents(publisher)}
	if e.Clients.SQS != nil {
		base = append(base, deliver.WithForwarder(NewForwarder(e.Clients.SQS, os.Getenv)))
		base = append(base, deliver.WithTargetPolicy(e.Config.TargetPolicy()))
	}
	if e.Metrics != nil {
		base = append(base, deliver.WithMetrics(e.Metrics))
	}
	return deliver.NewHandler(e.Clients.Store, e.Clients.Queue, client, e.Log, append(base, opts...)...)
}

// StartDeliver runs the deliveries queue consumer Lambda; its metrics are written once
// per batch.
func StartDeliver() {
	e := boot.FromEnv()
	flush := e.StartMetrics(metrics.FunctionDeliver)
	lambda.Start(metrics.FlushAfter(NewHandler(e, e.Publisher(), e.Outbound()).Handle, flush))
}
