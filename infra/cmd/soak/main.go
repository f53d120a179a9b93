// Command soak runs the soak test (package infra/soak): SOAK_EVENTS events (2,000 by
// default) published to a Gancho process that is killed with SIGKILL twice, and exits
// non-zero if a delivery was lost, an event was stored twice, or a publish retried
// after a crash did not yield its first event.
//
//	go run ./infra/cmd/soak              # CI size
//	SOAK_EVENTS=20000 go run ./infra/cmd/soak
//
// SOAK_PUBLISHERS sets the concurrent publishing clients (8), SOAK_DEADLINE the whole
// run's deadline (a Go duration; default 6 min + 30 ms per event).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/infra/soak"
)

func main() {
	os.Exit(run())
}

func run() int {
	root, err := emulators.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	cfg, err := configure(soak.DefaultConfig(root), os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := soak.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak: could not run:", err)
		if res.LogPath != "" {
			fmt.Fprintln(os.Stderr, "soak: Gancho's log:", res.LogPath)
		}
		return 1
	}
	res.Print(os.Stdout)
	if !res.Passed() {
		return 1
	}
	return 0
}

// configure applies the SOAK_* variables to cfg.
func configure(cfg soak.Config, getenv func(string) string) (soak.Config, error) {
	if v := getenv("SOAK_EVENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("SOAK_EVENTS: want a positive number of events, got %q", v)
		}
		cfg.Events = n
	}
	if v := getenv("SOAK_PUBLISHERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("SOAK_PUBLISHERS: want a positive number of clients, got %q", v)
		}
		cfg.Publishers = n
	}
	cfg.Deadline = soak.DeadlineFor(cfg.Events)
	if v := getenv("SOAK_DEADLINE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("SOAK_DEADLINE: want a duration such as 10m, got %q", v)
		}
		cfg.Deadline = d
	}
	return cfg, nil
}
