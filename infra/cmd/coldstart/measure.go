package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/infra/lambdatest"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
)

// function is what was measured of one function.
type function struct {
	Name      string
	Size      int64 // bootstrap for linux and this machine's architecture
	SizeArm64 int64 // for linux/arm64; 0: not built
	ToPoll    []time.Duration
	ToAnswer  []time.Duration
	Answer    string // what the last start answered: an HTTP status, "response" or an error
}

// report is everything measured.
type report struct {
	Functions []function
	Arch      string
	GoVersion string
	BuildCold time.Duration // go build of every function from an empty build cache; 0: not timed
	BuildWarm time.Duration // the same with the packages cached
	Runs      int
}

// measure builds the functions, seeds the keys their samples carry and starts each.
func measure(ctx context.Context, o options, root string) (report, error) {
	r := report{Arch: runtime.GOARCH, Runs: o.runs}
	names, err := lambdatest.FunctionFolders(root)
	if err != nil {
		return r, err
	}
	dir, err := os.MkdirTemp("", "gancho-coldstart-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		r.GoVersion = strings.TrimSpace(string(out))
	}

	// From an empty build cache (in dir, thrown away) and then from the one it filled.
	var cacheEnv []string
	if o.coldBuild {
		cacheEnv = []string{"GOCACHE=" + filepath.Join(dir, "gocache")}
		fmt.Fprintf(os.Stderr, "coldstart: building %d functions from an empty build cache...\n", len(names))
		t0 := time.Now()
		if _, err := lambdatest.Build(root, "linux", runtime.GOARCH, filepath.Join(dir, "cold"), names, cacheEnv...); err != nil {
			return r, err
		}
		r.BuildCold = time.Since(t0)
	}
	fmt.Fprintf(os.Stderr, "coldstart: building %d functions (linux/%s)...\n", len(names), runtime.GOARCH)
	t0 := time.Now()
	bins, err := lambdatest.Build(root, "linux", runtime.GOARCH, filepath.Join(dir, runtime.GOARCH), names, cacheEnv...)
	if err != nil {
		return r, err
	}
	r.BuildWarm = time.Since(t0)
	var arm map[string]string
	if o.arm64 {
		fmt.Fprintf(os.Stderr, "coldstart: building %d functions (linux/arm64)...\n", len(names))
		if arm, err = lambdatest.Build(root, "linux", "arm64", filepath.Join(dir, "arm64"), names); err != nil {
			return r, err
		}
	}
	if runtime.GOOS != "linux" {
		// The sizes are of the Linux binaries; this machine runs its own.
		if bins, err = lambdatest.Build(root, runtime.GOOS, runtime.GOARCH, filepath.Join(dir, runtime.GOOS), names); err != nil {
			return r, err
		}
	}

	set, err := seed(ctx, root)
	if err != nil {
		return r, err
	}
	for _, name := range names {
		f := function{Name: name}
		if f.Size, err = fileSize(filepath.Join(dir, runtime.GOARCH, name, "bootstrap")); err != nil {
			return r, err
		}
		if arm != nil {
			if f.SizeArm64, err = fileSize(arm[name]); err != nil {
				return r, err
			}
		}
		r.Functions = append(r.Functions, f)
	}
	// Round by round rather than function by function, so that a slow moment of the
	// machine spreads over every function instead of landing on one.
	for round := range o.runs {
		fmt.Fprintf(os.Stderr, "coldstart: starting each function, round %d of %d...\n", round+1, o.runs)
		for i := range r.Functions {
			f := &r.Functions[i]
			event, err := os.ReadFile(filepath.Join(root, "events", f.Name+".json"))
			if err != nil {
				return r, fmt.Errorf("the sample event of %s: %w", f.Name, err)
			}
			s, err := start(ctx, bins[f.Name], f.Name, event, lambdatest.FunctionEnv(f.Name, set), o.timeout)
			if err != nil {
				return r, fmt.Errorf("%s: %w", f.Name, err)
			}
			f.ToPoll, f.ToAnswer, f.Answer = append(f.ToPoll, s.toPoll), append(f.ToAnswer, s.toAnswer), s.answer
		}
	}
	return r, nil
}

func fileSize(path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// seed stores a tenant owning the tenant key the sample events carry, so the API
// routes get past authentication and do their work, and returns the variables the
// template's parameters would give the functions: the hash of the operator key of
// the samples, and insecure targets allowed (everything here is on loopback).
func seed(ctx context.Context, root string) (map[string]string, error) {
	cfg, err := config.FromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("the stack's environment: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	clients, err := cfg.NewClients(cctx)
	if err != nil {
		return nil, err
	}
	// Tables and queues of its own: the sample key is fixed, and another user of the
	// stack (the functions' tests) seeds it for a tenant of its own at the same time.
	res, err := emulators.Provision(cctx, clients.DynamoDB, clients.SQS, filepath.Join(root, "template.yaml"),
		fmt.Sprintf("coldstart-%d", time.Now().UnixNano()%1e9))
	if err != nil {
		return nil, fmt.Errorf("provision the run's tables and queues: %w", err)
	}
	cfg.TableName, cfg.QueueURL, cfg.DLQURL = res.Tables["GanchoTable"], res.Queues["DeliveriesQueue"].URL, res.Queues["DeliveriesDLQ"].URL
	cfg.OrderedURL, cfg.IngestDLQURL = res.Queues["OrderedQueue"].URL, res.Queues["IngestDLQ"].URL
	if clients, err = cfg.NewClients(cctx); err != nil {
		return nil, err
	}
	tenantKey, adminKey, err := sampleKeys(root)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	t := gancho.Tenant{ID: gancho.NewID(gancho.PrefixTenant, now), Name: "cold start", Secret: gancho.NewSecret(), CreatedAt: now}
	k := gancho.APIKey{ID: gancho.NewID(gancho.PrefixKey, now), TenantID: t.ID, Name: "sample events", Scopes: gancho.AllTenantScopes, CreatedAt: now}
	err = clients.Store.CreateTenant(cctx, t, k, auth.HashKey(tenantKey))
	if errors.Is(err, gancho.ErrConflict) {
		// The key is left from an earlier run on a long-lived emulator: move it here.
		err = clients.Store.PutAPIKey(cctx, k, auth.HashKey(tenantKey))
	}
	if err != nil {
		return nil, fmt.Errorf("store the sample key: %w", err)
	}
	set := map[string]string{"GANCHO_ALLOW_INSECURE_TARGETS": "true", "GANCHO_TABLE_NAME": cfg.TableName,
		"GANCHO_DELIVERIES_QUEUE_URL": cfg.QueueURL, "GANCHO_DELIVERIES_DLQ_URL": cfg.DLQURL,
		"GANCHO_ORDERED_QUEUE_URL": cfg.OrderedURL, "GANCHO_INGEST_DLQ_URL": cfg.IngestDLQURL}
	if adminKey != "" {
		set["GANCHO_ADMIN_KEY_SHA256"] = auth.HashKey(adminKey)
	}
	return set, nil
}

// sampleKeys are the tenant and operator keys of the API routes' sample events.
func sampleKeys(root string) (tenant, admin string, err error) {
	for _, rt := range httpapi.Routes() {
		data, err := os.ReadFile(filepath.Join(root, "events", rt.Name+".json"))
		if err != nil {
			continue
		}
		var ev events.APIGatewayV2HTTPRequest
		if json.Unmarshal(data, &ev) != nil {
			continue
		}
		token, ok := strings.CutPrefix(ev.Headers["authorization"], "Bearer ")
		switch {
		case !ok:
		case rt.Scope == httpapi.ScopeAdmin:
			admin = token
		default:
			tenant = token
		}
	}
	if tenant == "" {
		return "", "", errors.New("no sample event of events/ carries a tenant key")
	}
	return tenant, admin, nil
}

// started is one start of a function.
type started struct {
	toPoll   time.Duration // from exec to its first GET .../invocation/next
	toAnswer time.Duration // from exec to its answer to the sample event
	answer   string
}

// start runs bin as Lambda would, hands it event and times its start.
func start(ctx context.Context, bin, name string, event []byte, env []string, timeout time.Duration) (started, error) {
	api, err := lambdatest.NewRuntimeAPI(lambdatest.FunctionARN(name), timeout)
	if err != nil {
		return started{}, err
	}
	defer api.Close()
	cmd := exec.Command(bin)
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+api.Addr())
	logs := &tail{}
	cmd.Stdout, cmd.Stderr = logs, logs
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return started{}, err
	}
	ictx, cancel := context.WithCancelCause(ctx)
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		cancel(fmt.Errorf("the function's process exited (%v)", err))
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	tctx, tcancel := context.WithTimeoutCause(ictx, timeout, fmt.Errorf("no answer within %s", timeout))
	defer tcancel()
	res, err := api.Invoke(tctx, event)
	done := time.Now()
	if err != nil {
		return started{}, fmt.Errorf("%w; its output ends:\n%s", err, logs)
	}
	if res.Outcome == lambdatest.OutcomeInitError {
		return started{}, fmt.Errorf("init failed: %s %s; its output ends:\n%s", res.ErrorType, res.Body, logs)
	}
	return started{toPoll: api.FirstPoll().Sub(t0), toAnswer: done.Sub(t0), answer: describe(res)}, nil
}

// describe says what a function answered: the status of an API response, else the
// outcome.
func describe(res lambdatest.Result) string {
	if res.Outcome != lambdatest.OutcomeResponse {
		return string(res.Outcome) + " " + res.ErrorType
	}
	var api struct {
		StatusCode int `json:"statusCode"`
	}
	if json.Unmarshal(res.Body, &api) == nil && api.StatusCode != 0 {
		return fmt.Sprintf("HTTP %d", api.StatusCode)
	}
	return "response"
}

// tail keeps the last few KiB a process wrote.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = slices.Clone(t.buf[len(t.buf)-tailBytes:])
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
