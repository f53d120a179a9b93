// Package cli is the gancho command line: login, the event catalog, subscriptions,
// publishing (one event or NDJSON in batches), events, deliveries and their attempts,
// retry, recover, redrive, and listen (a temporary subscription to a local port that
// prints every delivery with its verified signature). Run is the whole program, so
// tests drive it as a user would, against a running API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// Exit codes; scripts may rely on them (gancho --help lists them).
const (
	ExitOK      = 0 // success
	ExitAPI     = 1 // the API refused the request (4xx other than 401/403), or another failure
	ExitUsage   = 2 // bad usage: unknown command or flag, missing or malformed argument
	ExitServer  = 3 // server, throttling or network error (5xx, 429, unreachable): a retry may succeed
	ExitPartial = 4 // partial failure: some events of a publish were refused
	ExitAuth    = 5 // not logged in, or the API answered 401 or 403
)

// Env is what Run takes from its surroundings; the zero value uses the process's.
type Env struct {
	// Getenv reads GANCHO_URL, GANCHO_API_KEY and GANCHO_ADMIN_KEY; nil: os.Getenv.
	Getenv func(string) string
	// ConfigDir holds config.json; empty: os.UserConfigDir()/gancho.
	ConfigDir string
	// HTTPClient calls the API; nil: a client with a 60 s timeout.
	HTTPClient *http.Client
	// Terminal reports whether w is a terminal (progress bars, hidden key input);
	// nil: only os.Stdin/os.Stderr that are terminals.
	Terminal func(f any) bool
	// Now is the clock (durations in --since); nil: time.Now.
	Now func() time.Time
}

// usageError is a malformed command line (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// authError is a missing credential (exit 5).
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// partialError is a publish where some events were refused (exit 4); its counts are
// already printed.
type partialError struct{ published, failed int }

func (e *partialError) Error() string {
	return fmt.Sprintf("%d of %d events were not published", e.failed, e.published+e.failed)
}

// ExitCode maps an error of a command to the exit code scripts see.
func ExitCode(err error) int {
	var (
		ue *usageError
		ae *apiError
		ne *netError
		pe *partialError
		au *authError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &au):
		return ExitAuth
	case errors.As(err, &pe):
		return ExitPartial
	case errors.As(err, &ae):
		switch {
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return ExitAuth
		case ae.Status == http.StatusTooManyRequests || ae.Status >= 500:
			return ExitServer
		}
		return ExitAPI
	case errors.As(err, &ne), errors.Is(err, context.DeadlineExceeded):
		return ExitServer
	}
	return ExitAPI
}

// Run runs the gancho command line with args (without the program name) and returns
// its exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env Env) int {
	a := newApp(stdin, stdout, stderr, env)
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var pe *partialError
	if !errors.As(err, &pe) { // a partial publish has printed its own summary
		fmt.Fprintln(stderr, "Error: "+err.Error())
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "Run 'gancho --help' for usage.")
	}
	return ExitCode(err)
}

// app is one run of the command line: its streams, environment and global flags.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            Env
	json           bool
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, env Env) *app {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.HTTPClient == nil {
		env.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Terminal == nil {
		env.Terminal = isTerminal
	}
	return &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
}

const rootLong = `gancho manages a Gancho webhooks deployment from the command line: the event
catalog, subscriptions, publishing, deliveries and their attempts, and a local
listener that shows every delivery with its verified signature.

Credentials: 'gancho login' stores the API's base URL and an API key in the user's
config directory (config.json, mode 0600). GANCHO_URL and GANCHO_API_KEY override
them; GANCHO_ADMIN_KEY (or --admin-key) is the operator key that redrive needs.

Output: aligned tables by default; --json prints the API's JSON answers (one JSON
document per command, or one JSON object per line for streams such as publish
from NDJSON and listen). Errors go to standard error, with the API's problem
title, detail and each invalid field.

Exit codes:
  0  success
  1  the API refused the request (4xx other than 401/403: not found, invalid, conflict)
  2  bad usage: unknown command or flag, missing or malformed argument
  3  server, throttling or network error (5xx, 429, unreachable): a retry may succeed
  4  partial failure: some events of a publish were refused, the others were published
  5  authentication: not logged in, or the API answered 401 or 403`

const rootExample = `  gancho login --url http://127.0.0.1:8080 --key gk_...
  gancho event-types put order.created --description "an order was placed"
  gancho subscriptions create --url https://example.com/hooks --events 'order.*'
  gancho publish --type order.created --payload '{"orderId": 42}'
  gancho publish -f events.ndjson
  gancho deliveries list --subscription sub_... --status failed
  gancho listen --events 'order.*' --forward-to http://127.0.0.1:3000/webhooks`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gancho",
		Short:         "Manage a Gancho webhooks deployment",
		Long:          rootLong,
		Example:       rootExample,
		Version:       gancho.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = cmd.Help()
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print the API's JSON instead of tables")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		a.loginCommand(), a.logoutCommand(),
		a.eventTypesCommand(), a.subscriptionsCommand(),
		a.publishCommand(), a.eventsCommand(), a.deliveriesCommand(),
		a.retryCommand(), a.recoverCommand(), a.redriveCommand(),
		a.listenCommand(),
	)
	return root
}

// group is a command that only holds subcommands: without one, or with an unknown
// one, it is a usage error (cobra alone would print help and succeed).
func group(use, short string, aliases []string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:     use,
		Short:   short,
		Aliases: aliases,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				_ = cmd.Help()
				return usagef("%s needs a command", cmd.CommandPath())
			}
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		},
	}
	g.AddCommand(subs...)
	return g
}

// noArgs, exactArgs and rangeArgs are cobra's argument checks as usage errors.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), strings.Join(args, " "))
	}
	return nil
}

func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%s needs %s", cmd.CommandPath(), strings.Join(names, " and "))
		}
		for i, a := range args {
			if strings.TrimSpace(a) == "" {
				return usagef("%s: %s must not be empty", cmd.CommandPath(), names[i])
			}
		}
		return nil
	}
}

func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usagef("%s takes at most %d argument(s), got %q", cmd.CommandPath(), n, strings.Join(args, " "))
		}
		return nil
	}
}
