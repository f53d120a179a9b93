package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/gancho-dev/gancho/infra/emulators"
)

// underStackEnv marks a run that RunUnderStack started, so it never starts another.
const underStackEnv = "GANCHO_BENCH_UNDER_STACK"

// HasStack reports whether the emulated stack's variables are set (the command runs
// under infra/cmd/withstack or make test).
func HasStack() bool { return os.Getenv("GANCHO_TABLE_NAME") != "" }

// RunUnderStack runs this program again with args under infra/cmd/withstack (fresh
// DynamoDB Local and SQS emulators, the template's tables and queues) and returns its
// exit code. It refuses when this run was itself started so, without a stack.
func RunUnderStack(root string, args []string) (int, error) {
	if os.Getenv(underStackEnv) != "" {
		return 0, errors.New("started under the local stack, but GANCHO_TABLE_NAME is not set")
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("go", append([]string{"run", "./infra/cmd/withstack", "--", exe}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), underStackEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("go run ./infra/cmd/withstack: %w", err)
	}
	return 0, nil
}

// Main is the body of a benchmark command named name: it parses args (parse returns
// flag.ErrHelp for -h), runs itself again under the emulated stack when it is not
// under one, and otherwise calls run with the repository root and the command line
// the figures are credited to. It returns the exit code.
func Main(name string, args []string, parse func([]string) error, run func(ctx context.Context, root, command string) error) int {
	if err := parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, name+":", err)
		return 2
	}
	root, err := emulators.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	if !HasStack() {
		code, err := RunUnderStack(root, args)
		if err != nil {
			fmt.Fprintln(os.Stderr, name+":", err)
			return 1
		}
		return code
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, root, Command(name, "bench", args)); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		return 1
	}
	return 0
}
