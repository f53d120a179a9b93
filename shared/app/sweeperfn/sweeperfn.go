// Package sweeperfn wires the scheduled Lambda that re-queues parked deliveries: the
// store and the queue, nothing of the API or the consumer.
package sweeperfn

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/gancho-dev/gancho/shared/app/boot"
	"github.com/gancho-dev/gancho/shared/sweeper"
)

// New builds the sweeper.
func New(e boot.Env) *sweeper.Sweeper {
	return sweeper.New(e.Clients.Store, e.Clients.Queue, e.Log, time.Now)
}

// StartSweeper runs the scheduled Lambda that re-queues parked deliveries.
func StartSweeper() {
	s := New(boot.FromEnv())
	lambda.Start(func(ctx context.Context) error {
		_, err := s.Sweep(ctx)
		return err
	})
}
