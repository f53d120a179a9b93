package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/app"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/config"
	"github.com/gancho-dev/gancho/shared/deliver"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/httpapi"
	"github.com/gancho-dev/gancho/shared/seal"
)

// Options configure Start.
type Options struct {
	RepoRoot  string       // holds template.yaml and infra/local
	Addr      string       // API listen address; default 127.0.0.1:8080
	StackName string       // names tables and queues; default gancho-local
	APIKey    string       // dev tenant's key; generated when empty
	AdminKey  string       // platform operator's key; generated when empty
	TenantID  string       // dev tenant's id; default "dev"
	Log       *slog.Logger // structured logs
	EmuLog    io.Writer    // emulator output; nil discards it
	Getenv    func(string) string
	// KeyFile keeps the sealing key between runs when GANCHO_ENCRYPTION_KEYS is unset;
	// default RepoRoot/.local/encryption-key.
	KeyFile string
	// DeliverOptions tune the consumer (tests shorten its thresholds).
	DeliverOptions []deliver.Option
	// InlineFanOut is the largest fan-out done inside a publish request (0: default).
	InlineFanOut int
	// SweepGrace is how long an event may wait in the outbox before the sweeper
	// repairs it (0: the default).
	SweepGrace time.Duration
	// NoWorker leaves the queues alone (tests that drive the consumers).
	NoWorker bool
	// SweepEvery is how often the sweeper runs (the deployed schedule: every minute).
	SweepEvery time.Duration
	// MaxRequests bounds the API requests worked on at once (0: GANCHO_LOCAL_MAX_REQUESTS,
	// else DefaultMaxRequests); one beyond it waits up to a second, then gets 503.
	MaxRequests int
}

// DefaultMaxRequests is how many API requests the local server works on at once: enough
// for a few hundred publishes a second on DynamoDB Local, few enough that the delivery
// worker's calls are not queued behind thousands of publishes.
const DefaultMaxRequests = 32

// Dev is a running local Gancho.
type Dev struct {
	URL       string // http://127.0.0.1:PORT
	APIKey    string
	AdminKey  string
	TenantID  string
	Config    config.Config
	App       *app.App
	Emulators *emulators.Stack // nil when AWS_ENDPOINT_URL pointed elsewhere
	Worker    *Worker          // feeds the deliveries queue to the consumer
	// IngestQueueURL takes events published without HTTP (the API contract); those that
	// fail validation land in IngestDLQURL with a "problem" attribute.
	IngestQueueURL, IngestDLQURL string
	// KeySource says where the sealing key came from: GANCHO_ENCRYPTION_KEYS or
	// the key file's path.
	KeySource string

	stop func() error
}

// Start brings up the emulators (unless AWS_ENDPOINT_URL or the per-service
// AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SQS name running ones), creates the
// template's tables and queues, a dev tenant with its API key, the API server and the
// delivery worker.
func Start(ctx context.Context, o Options) (*Dev, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.StackName == "" {
		o.StackName = "gancho-local"
	}
	if o.TenantID == "" {
		o.TenantID = "dev"
	}
	d := &Dev{TenantID: o.TenantID}
	var cleanups []func() error
	d.stop = func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	fail := func(err error) (*Dev, error) {
		_ = d.stop()
		return nil, err
	}

	ddbEndpoint, sqsEndpoint := endpoint(getenv, "DYNAMODB"), endpoint(getenv, "SQS")
	if ddbEndpoint == "" || sqsEndpoint == "" {
		emu, err := emulators.Start(ctx, emulators.Options{RepoRoot: o.RepoRoot, Log: o.EmuLog})
		if err != nil {
			return fail(err)
		}
		cleanups = append(cleanups, emu.Stop)
		d.Emulators = emu
		ddbEndpoint, sqsEndpoint = emu.DynamoEndpoint, emu.SQSEndpoint
	}
	awsCfg := emulators.LocalConfig()
	if r := getenv("AWS_REGION"); r != "" {
		awsCfg.Region = r
	}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		awsCfg = emulators.StaticConfig(awsCfg.Region, id, secret, getenv("AWS_SESSION_TOKEN"))
	}
	ddb := emulators.NewDynamoDBClient(awsCfg, ddbEndpoint)
	sq := emulators.NewSQSClient(awsCfg, sqsEndpoint)
	res, err := emulators.Provision(ctx, ddb, sq, filepath.Join(o.RepoRoot, "template.yaml"), o.StackName)
	if err != nil {
		return fail(fmt.Errorf("create tables and queues: %w", err))
	}
	// A key made up per start would make everything sealed by the previous start
	// unreadable on emulators that outlive it (AWS_ENDPOINT_URL): keep one in a file.
	keys := getenv("GANCHO_ENCRYPTION_KEYS")
	d.KeySource = "GANCHO_ENCRYPTION_KEYS"
	if keys == "" {
		keyFile := o.KeyFile
		if keyFile == "" {
			keyFile = filepath.Join(o.RepoRoot, ".local", "encryption-key")
		}
		if keys, err = LocalKey(keyFile); err != nil {
			return fail(err)
		}
		d.KeySource = keyFile
	}
	sealer, err := seal.New(strings.Split(keys, ",")...)
	if err != nil {
		return fail(fmt.Errorf("GANCHO_ENCRYPTION_KEYS: %w", err))
	}
	d.AdminKey = o.AdminKey
	if d.AdminKey == "" {
		d.AdminKey = "gk_admin_" + auth.NewAPIKey()[3:]
	}
	d.Config = config.Config{
		Sealer:         sealer,
		AdminKeyHash:   auth.HashKey(d.AdminKey),
		TableName:      res.Tables["GanchoTable"],
		QueueURL:       res.Queues["DeliveriesQueue"].URL,
		DLQURL:         res.Queues["DeliveriesDLQ"].URL,
		OrderedURL:     res.Queues["OrderedQueue"].URL,
		IngestDLQURL:   res.Queues["IngestDLQ"].URL,
		AllowInsecure:  true, // local runs deliver to http:// and loopback receivers
		LocalEndpoints: true,
		InlineFanOut:   o.InlineFanOut,
		// The emulators act as this account for the stack's default credentials.
		AWSAccountID:      config.LocalAccountID,
		DestinationPrefix: getenv("GANCHO_DESTINATION_PREFIX"),
	}
	d.IngestQueueURL, d.IngestDLQURL = res.Queues["IngestQueue"].URL, d.Config.IngestDLQURL
	d.App = app.New(d.Config, d.Config.ClientsFrom(ddb, sq), o.Log, o.DeliverOptions...)
	if o.SweepGrace > 0 {
		d.App.Sweeper.WithGrace(o.SweepGrace)
	}

	d.APIKey = o.APIKey
	if d.APIKey == "" {
		d.APIKey = auth.NewAPIKey()
	}
	if err := ensureTenant(ctx, d.App, o.TenantID, d.APIKey); err != nil {
		return fail(err)
	}

	maxRequests := o.MaxRequests
	if v := getenv("GANCHO_LOCAL_MAX_REQUESTS"); maxRequests == 0 && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return fail(fmt.Errorf("GANCHO_LOCAL_MAX_REQUESTS: want 1-100000 requests, got %q", v))
		}
		maxRequests = n
	}
	if maxRequests == 0 {
		maxRequests = DefaultMaxRequests
	}

	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return fail(fmt.Errorf("listen: %w", err))
	}
	d.URL = "http://" + ln.Addr().String()
	srv := &http.Server{Handler: withStats(httpapi.Admit(d.App.API.Handler(), maxRequests, time.Second), d.App.Metrics),
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Log.Error("api server", "err", err)
		}
	}()
	cleanups = append(cleanups, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if errors.Is(err, context.DeadlineExceeded) {
			// A connection opened but never used stays "new" for 5 s before Shutdown
			// counts it idle, as long as this wait: close what is left rather than
			// fail the stop (a publish cut short here is one a client retries).
			o.Log.Warn("api server: connections still open after 5 s; closing them")
			return srv.Close()
		}
		return err
	})

	// GANCHO_LOCAL_VISIBILITY_SECONDS: how long the local workers' received messages
	// stay hidden (default 90 s: one and a half invocation timeouts).
	var visibility time.Duration
	if v := getenv("GANCHO_LOCAL_VISIBILITY_SECONDS"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 1 || secs > 43200 {
			return fail(fmt.Errorf("GANCHO_LOCAL_VISIBILITY_SECONDS: want 1-43200 seconds, got %q", v))
		}
		visibility = time.Duration(secs) * time.Second
	}
	wctx, cancelWorker := context.WithCancel(context.WithoutCancel(ctx))
	w := &Worker{SQS: sq, QueueURL: d.Config.QueueURL, QueueARN: res.Queues["DeliveriesQueue"].ARN, Handle: d.App.Deliver.Handle, Log: o.Log, Visibility: visibility}
	ordered := &Worker{SQS: sq, QueueURL: d.Config.OrderedURL, QueueARN: res.Queues["OrderedQueue"].ARN, Handle: d.App.Deliver.Handle, Log: o.Log, Visibility: visibility}
	ingest := &Worker{SQS: sq, QueueURL: d.IngestQueueURL, QueueARN: res.Queues["IngestQueue"].ARN, Handle: d.App.Ingest.Handle, Log: o.Log, Visibility: visibility}
	d.Worker = w
	var wg sync.WaitGroup
	if !o.NoWorker {
		wg.Add(3)
		go func() { defer wg.Done(); w.Run(wctx) }()
		go func() { defer wg.Done(); ordered.Run(wctx) }()
		go func() { defer wg.Done(); ingest.Run(wctx) }()
	}
	every := o.SweepEvery
	if every == 0 {
		every = 10 * time.Second
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				if _, err := d.App.Sweeper.Sweep(wctx); err != nil && wctx.Err() == nil {
					o.Log.Warn("sweep", "err", err)
				}
			}
		}
	}()
	cleanups = append(cleanups, func() error { cancelWorker(); wg.Wait(); return nil })
	return d, nil
}

// Stop stops the worker, the server and the emulators Start started.
func (d *Dev) Stop() error { return d.stop() }

// endpoint returns the AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL setting.
func endpoint(getenv func(string) string, service string) string {
	if v := getenv("AWS_ENDPOINT_URL_" + service); v != "" {
		return v
	}
	return getenv("AWS_ENDPOINT_URL")
}

// LocalKey returns the sealing key kept in path ("id:base64", as in
// GANCHO_ENCRYPTION_KEYS), creating the file with a new key (mode 0600, its folder
// 0700) when it does not exist. Concurrent first uses agree on one key: the file
// appears whole, by a hard link that fails if another start made it first.
func LocalKey(path string) (string, error) {
	if key, err := readKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".encryption-key-*") // mode 0600
	if err != nil {
		return "", fmt.Errorf("key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(seal.NewKey("local") + "\n")
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("key file: %w", werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("key file: %w", err)
	}
	return readKeyFile(path)
}

// readKeyFile reads and checks a key file, tightening its mode to 0600.
func readKeyFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("key file %s: %w", path, err)
		}
	}
	key := strings.TrimSpace(string(raw))
	if _, err := seal.New(key); err != nil {
		return "", fmt.Errorf("key file %s: %w (delete it to start over; what it sealed is then lost)", path, err)
	}
	return key, nil
}

// ensureTenant creates the dev tenant with key, or gives an existing one that key.
func ensureTenant(ctx context.Context, a *app.App, tenantID, key string) error {
	now := time.Now().UTC()
	k := gancho.APIKey{ID: "key_dev", TenantID: tenantID, Name: "dev", Scopes: gancho.AllTenantScopes, CreatedAt: now}
	name := "Local development"
	t, err := gancho.NewTenant(gancho.TenantInput{ID: &tenantID, Name: &name}, now)
	if err != nil {
		return err
	}
	err = a.Clients.Store.CreateTenant(ctx, t, k, auth.HashKey(key))
	if errors.Is(err, gancho.ErrConflict) {
		err = a.Clients.Store.PutAPIKey(ctx, k, auth.HashKey(key))
	}
	if err != nil {
		return fmt.Errorf("create dev tenant: %w", err)
	}
	return nil
}
