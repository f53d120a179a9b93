// Command withstack runs a command against provisioned local AWS emulators.
//
//	go run ./infra/cmd/withstack [-stack gancho-test] [-v] -- go test ./...
//
// It starts DynamoDB Local and fauxqs (installing them with
// infra/local/install.sh when they are missing), creates the tables and
// queues of template.yaml as the named stack would have them, runs the
// command with AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS, credentials
// and GANCHO_* resource variables set, stops the emulators and exits with
// the command's exit code.
//
// When AWS_ENDPOINT_URL is already set (an emulator such as LocalStack is
// running), no emulator is started: the resources are provisioned against
// that endpoint instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/gancho-dev/gancho/infra/emulators"
)

// exitInterrupted is the exit code after SIGINT or SIGTERM during setup,
// as a shell reports a command ended by SIGINT.
const exitInterrupted = 130

// config is what the command line says.
type config struct {
	stackName string
	template  string
	verbose   bool
	noInstall bool
	command   []string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "withstack:", err)
		return 2
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	code, err := withStack(cfg, log)
	if err != nil {
		log.Error("withstack failed", "err", err)
		return 1
	}
	return code
}

func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("withstack", flag.ContinueOnError)
	fs.StringVar(&cfg.stackName, "stack", "gancho-test", "stack name that resource names derive from")
	fs.StringVar(&cfg.template, "template", "", "SAM template (default: template.yaml at the repository root)")
	fs.BoolVar(&cfg.verbose, "v", false, "show emulator output and debug logs")
	fs.BoolVar(&cfg.noInstall, "no-install", false, "fail instead of running infra/local/install.sh when emulators are missing")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: withstack [flags] -- command [args...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.command = fs.Args()
	if len(cfg.command) == 0 {
		fs.Usage()
		return cfg, errors.New("no command given")
	}
	return cfg, nil
}

// withStack brings the stack up, runs the command and takes the stack down.
func withStack(cfg config, log *slog.Logger) (int, error) {
	root, err := findRepoRoot()
	if err != nil {
		return 0, err
	}
	if cfg.template == "" {
		cfg.template = filepath.Join(root, "template.yaml")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env, stop, err := setUp(ctx, cfg, root, log)
	interrupted := ctx.Err() != nil
	cancel()
	if err != nil && interrupted {
		log.Info("interrupted while setting up", "err", err)
		return exitInterrupted, nil
	}
	if err != nil {
		return 0, err
	}
	code, runErr := runCommand(cfg.command, mergeEnv(os.Environ(), env))
	if err := stop(); err != nil {
		log.Warn("stopping the local stack", "err", err)
	}
	return code, runErr
}

// setUp provisions the template's resources, on emulators it starts unless
// AWS_ENDPOINT_URL names running ones, and returns the variables to run
// the command with and a function that stops what it started.
func setUp(ctx context.Context, cfg config, root string, log *slog.Logger) (map[string]string, func() error, error) {
	var (
		t    target
		stop = func() error { return nil }
	)
	if endpoint := os.Getenv("AWS_ENDPOINT_URL"); endpoint != "" {
		t = externalTarget(endpoint)
		log.Info("using running emulators", "dynamodb", t.dynamoEndpoint, "sqs", t.sqsEndpoint)
	} else {
		stack, err := startLocal(ctx, cfg, root, log)
		if err != nil {
			return nil, nil, err
		}
		t = localTarget(stack)
		stop = stack.Stop
	}
	res, err := emulators.Provision(ctx, t.dynamoDB(), t.sqs(), cfg.template, cfg.stackName)
	if err != nil {
		return nil, nil, errors.Join(err, stop())
	}
	log.Info("provisioned", "stack", cfg.stackName, "tables", len(res.Tables), "queues", len(res.Queues))
	return commandEnv(t, cfg.stackName, res), stop, nil
}

func startLocal(ctx context.Context, cfg config, root string, log *slog.Logger) (*emulators.Stack, error) {
	if err := ensureInstalled(ctx, root, cfg.noInstall, log); err != nil {
		return nil, err
	}
	var emulatorLog io.Writer
	if cfg.verbose {
		emulatorLog = os.Stderr
	}
	stack, err := emulators.Start(ctx, emulators.Options{RepoRoot: root, Log: emulatorLog})
	if err != nil {
		return nil, err
	}
	log.Info("local emulators ready", "dynamodb", stack.DynamoEndpoint, "sqs", stack.SQSEndpoint)
	return stack, nil
}

// ensureInstalled runs the install script when the emulators are missing.
func ensureInstalled(ctx context.Context, root string, noInstall bool, log *slog.Logger) error {
	err := emulators.CheckInstalled(root)
	if err == nil || noInstall {
		return err
	}
	script := emulators.InstallScript(root)
	log.Info("installing local emulators", "script", script, "reason", err)
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w", script, err)
	}
	return emulators.CheckInstalled(root)
}

// runCommand runs argv with env, passing SIGINT and SIGTERM on to it,
// and returns its exit code (128 + signal number when a signal ended it).
func runCommand(argv []string, env []string) (int, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = os.Stdin
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(signals)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", argv[0], err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	return exitCode(err)
}

func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return 0, fmt.Errorf("run command: %w", err)
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return exitErr.ExitCode(), nil
}

// findRepoRoot walks up from the working directory to the folder holding go.mod.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}
