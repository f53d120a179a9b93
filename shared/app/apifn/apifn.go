// Package apifn wires the Lambda of one API route: the HTTP API and what it needs, not
// the consumers or the sweeper (infra/templatecheck checks what each function links).
package apifn

import (
	"net/http"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/gancho-dev/gancho/shared/app/boot"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/metrics"
	"github.com/gancho-dev/gancho/shared/publish"
)

// NewAPI builds the HTTP API; client fetches tenants' JWKS and tests their endpoints.
func NewAPI(e boot.Env, publisher *publish.Publisher, client *http.Client) *httpapi.API {
	return httpapi.New(httpapi.Config{
		Store:        e.Clients.Store,
		Publisher:    publisher,
		DeadLetters:  e.Clients.Queue,
		Log:          e.Log,
		Policy:       e.Config.TargetPolicy(),
		AdminKeyHash: e.Config.AdminKeyHash,
		HTTPClient:   client,
	})
}

// StartRoute runs a Lambda serving one API route (HTTP API, payload 2.0). Its metrics
// (the publish routes') are written once per request, as the function name.
func StartRoute(name string) {
	e := boot.FromEnv()
	flush := e.StartMetrics(name)
	api := NewAPI(e, e.Publisher(), e.Outbound())
	lambda.Start(metrics.FlushAfter(httpadapter.NewV2(api.Handler(name)).ProxyWithContext, flush))
}
