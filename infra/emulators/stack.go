package emulators

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

const (
	readyTimeout  = 60 * time.Second       // from start until an emulator must answer
	probeTimeout  = 2 * time.Second        // for one readiness probe
	probeInterval = 100 * time.Millisecond // between readiness probes
	stopGrace     = 5 * time.Second        // between SIGTERM and SIGKILL
	startAttempts = 3                      // for a picked port that turned out taken
	loopback      = "127.0.0.1"
)

// Options configure Start.
type Options struct {
	// RepoRoot is the repository root, holding infra/local.
	RepoRoot string
	// Log receives the emulators' output, each line prefixed with the
	// emulator's name. Nil discards it; the last lines still appear in
	// errors.
	Log io.Writer
	// DynamoPort and SQSPort are the ports to listen on; 0 picks a free one.
	DynamoPort int
	SQSPort    int
}

// AllInterfacesEnv, set to "true", lets DynamoDB Local listen on every interface when
// its loopback launcher cannot be compiled (no javac).
const AllInterfacesEnv = "GANCHO_DYNAMODB_ALL_INTERFACES"

// Stack is a running pair of emulators: DynamoDB Local and fauxqs (SQS).
type Stack struct {
	DynamoEndpoint string // http://127.0.0.1:PORT
	// SQSEndpoint is fauxqs: SQS, SNS, STS and IAM, with accounts (see AccountConfig).
	SQSEndpoint string // http://127.0.0.1:PORT
	// DynamoAllInterfaces is true when DynamoDB Local could only be started
	// listening on every interface (no Java compiler for its loopback launcher).
	DynamoAllInterfaces bool

	procs    []*process
	stopOnce sync.Once
	stopErr  error
}

// Start starts DynamoDB Local and fauxqs and returns once both answer
// requests. The emulators keep running after ctx ends; call Stop. If Start
// fails, nothing it started is left running.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	t, err := findTools(opts.RepoRoot)
	if err != nil {
		return nil, err
	}
	var log io.Writer
	if opts.Log != nil {
		log = &syncWriter{w: opts.Log}
	}
	// DynamoDB Local has no listen-address option; the launcher binds it to loopback.
	// Without a Java compiler it could only listen on every interface, which exposes
	// the tables to the network: that takes an explicit opt-in, and is said loudly.
	launcherDir, lerr := compileLauncher(ctx, t)
	if lerr != nil {
		if os.Getenv(AllInterfacesEnv) != "true" {
			return nil, fmt.Errorf("DynamoDB Local cannot be kept on loopback (%w): install a JDK (javac), "+
				"or set %s=true to let it listen on every interface, reachable from other machines on its port", lerr, AllInterfacesEnv)
		}
		slog.Warn("DynamoDB Local will listen on EVERY interface, reachable from other machines on its port ("+AllInterfacesEnv+"=true); install a JDK (javac) to keep it on loopback",
			"reason", lerr)
	}
	services := []service{dynamoService(t, opts.DynamoPort, launcherDir), sqsService(t, opts.SQSPort)}
	started := make([]*process, len(services))
	endpoints := make([]string, len(services))
	errs := make([]error, len(services))
	// The first emulator to fail cancels the wait for the other.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for i, svc := range services {
		wg.Go(func() {
			started[i], endpoints[i], errs[i] = svc.start(sctx, log)
			if errs[i] != nil {
				cancel(errs[i])
			}
		})
	}
	wg.Wait()
	s := &Stack{DynamoEndpoint: endpoints[0], SQSEndpoint: endpoints[1], DynamoAllInterfaces: launcherDir == ""}
	for _, p := range started {
		if p != nil {
			s.procs = append(s.procs, p)
		}
	}
	if err := context.Cause(sctx); err != nil {
		return nil, errors.Join(fmt.Errorf("start local stack: %w", err), s.Stop())
	}
	return s, nil
}

// Stop stops both emulators: SIGTERM to their process groups, SIGKILL to
// what remains a few seconds later. It waits for them to exit and may be
// called more than once.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() {
		errs := make([]error, len(s.procs))
		var wg sync.WaitGroup
		for i, p := range s.procs {
			wg.Go(func() { errs[i] = p.stop(stopGrace) })
		}
		wg.Wait()
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Pids returns each running emulator's process id by name ("dynamodb",
// "sqs"), for whoever measures what they cost.
func (s *Stack) Pids() map[string]int {
	out := map[string]int{}
	for _, p := range s.procs {
		if !p.hasExited() && p.cmd.Process != nil {
			out[p.name] = p.cmd.Process.Pid
		}
	}
	return out
}

// DynamoDB returns a client for the stack's DynamoDB endpoint.
func (s *Stack) DynamoDB() *dynamodb.Client {
	return NewDynamoDBClient(LocalConfig(), s.DynamoEndpoint)
}

// SQS returns a client for the stack's SQS endpoint.
func (s *Stack) SQS() *sqs.Client {
	return NewSQSClient(LocalConfig(), s.SQSEndpoint)
}

// service describes how to run and probe one emulator.
type service struct {
	name     string
	port     int // 0 picks one
	dir      string
	lifeline bool
	argv     func(port int) []string
	probe    func(ctx context.Context, endpoint string) error
}

// dynamoService runs DynamoDB Local through the loopback launcher compiled in
// launcherDir, or, when that is empty, the jar's own main (every interface).
func dynamoService(t tools, port int, launcherDir string) service {
	return service{
		name: "dynamodb",
		port: port,
		dir:  t.dynamoDir,
		argv: func(port int) []string {
			argv := []string{t.java, "-Djava.library.path=.:./DynamoDBLocal_lib"}
			if launcherDir != "" {
				argv = append(argv, "-cp", launcherDir+string(os.PathListSeparator)+"DynamoDBLocal.jar", launcherClass)
			} else {
				argv = append(argv, "-jar", "DynamoDBLocal.jar")
			}
			return append(argv, "-inMemory", "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port))
		},
		probe: func(ctx context.Context, endpoint string) error {
			_, err := NewDynamoDBClient(LocalConfig(), endpoint).ListTables(ctx, &dynamodb.ListTablesInput{},
				func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
			return err
		},
	}
}

func sqsService(t tools, port int) service {
	return service{
		name:     "sqs",
		port:     port,
		dir:      filepath.Dir(t.launcher),
		lifeline: true,
		argv: func(port int) []string {
			return []string{t.node, t.launcher, "--port", strconv.Itoa(port), "--exit-on-stdin-close"}
		},
		probe: func(ctx context.Context, endpoint string) error {
			_, err := NewSQSClient(LocalConfig(), endpoint).ListQueues(ctx, &sqs.ListQueuesInput{},
				func(o *sqs.Options) { o.RetryMaxAttempts = 1 })
			return err
		},
	}
}

// start runs the emulator until it answers. When the port was picked here
// and the emulator finds it taken, it tries again with another.
func (s service) start(ctx context.Context, log io.Writer) (*process, string, error) {
	attempts := 1
	if s.port == 0 {
		attempts = startAttempts
	}
	for i := 1; ; i++ {
		p, endpoint, err := s.startOnce(ctx, log)
		if err == nil {
			return p, endpoint, nil
		}
		if i >= attempts || !errors.Is(err, errEarlyExit) || !portTaken(err) {
			return nil, "", err
		}
		slog.Debug("emulator port was taken; retrying", "emulator", s.name, "err", err)
	}
}

func (s service) startOnce(ctx context.Context, log io.Writer) (*process, string, error) {
	port := s.port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, "", err
		}
	}
	began := time.Now()
	p, err := startProcess(s.name, s.dir, log, s.lifeline, s.argv(port)...)
	if err != nil {
		return nil, "", err
	}
	endpoint := "http://" + net.JoinHostPort(loopback, strconv.Itoa(port))
	if err := waitReady(ctx, p, func(ctx context.Context) error { return s.probe(ctx, endpoint) }); err != nil {
		return nil, "", errors.Join(err, p.stop(stopGrace))
	}
	slog.Debug("emulator ready", "emulator", s.name, "endpoint", endpoint, "after", time.Since(began))
	return p, endpoint, nil
}

// waitReady probes until the probe succeeds, the process exits, or
// readyTimeout passes.
func waitReady(ctx context.Context, p *process, probe func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	// A probe stuck on a port held by someone else ends when the process does.
	go func() {
		select {
		case <-p.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	ticker := time.NewTicker(probeInterval)
	defer ticker.Stop()
	for {
		pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
		err := probe(pctx)
		pcancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return p.exited()
		case <-ctx.Done():
			if p.hasExited() {
				return p.exited()
			}
			return fmt.Errorf("%s did not answer: %w (last probe: %v); last output:\n%s",
				p.name, ctx.Err(), err, p.tail.String())
		case <-ticker.C:
		}
	}
}

// portTaken reports whether an early exit was caused by a port in use.
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "Address already in use") || strings.Contains(msg, "EADDRINUSE")
}

// freePort returns a port that was free on the loopback interface.
func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
