// Command gancho is the Gancho command line (package shared/cli): gancho --help.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gancho-dev/gancho/shared/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, cli.Env{})
	stop()
	os.Exit(code)
}
