// Command gancho-local runs the whole of Gancho on this machine: DynamoDB Local and
// an SQS emulator on loopback ports (unless AWS_ENDPOINT_URL points elsewhere), every
// API route on http://127.0.0.1:$PORT (8080), and the delivery worker. Ctrl-C stops
// everything it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gancho-dev/gancho/infra/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "gancho-local:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	root, err := repoRoot()
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
	var where string
	if dev.Emulators != nil {
		where = fmt.Sprintf("DynamoDB Local %s, SQS %s", dev.Emulators.DynamoEndpoint, dev.Emulators.SQSEndpoint)
	} else {
		where = "AWS endpoint " + getenv("AWS_ENDPOINT_URL") + getenv("AWS_ENDPOINT_URL_DYNAMODB")
	}
	fmt.Fprintf(stdout, `
Gancho is running (ready in %.1fs)
  API        %s
  AWS        %s
  table      %s
  queue      %s
  tenant     %s
  API key    %s
  admin key  %s

Try it:
  export GANCHO_API_KEY=%s
  curl -s %s/v1/subscriptions -H "Authorization: Bearer $GANCHO_API_KEY" \
    -H 'Content-Type: application/json' -d '{"url":"http://127.0.0.1:9000/hook","events":["order.*"]}'
  curl -s %s/v1/events -H "Authorization: Bearer $GANCHO_API_KEY" \
    -H 'Content-Type: application/json' -d '{"type":"order.created","payload":{"orderId":42}}'

Ctrl-C stops everything.
`, time.Since(started).Seconds(), dev.URL, where, dev.Config.TableName, dev.Config.QueueURL, dev.TenantID, dev.APIKey, dev.AdminKey, dev.APIKey, dev.URL, dev.URL)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping...")
	return dev.Stop()
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod found)")
		}
		dir = parent
	}
}
