// Package soak proves that Gancho loses nothing: it publishes events over HTTP to a
// Gancho process (infra/cmd/gancho-local) whose receivers fail at random, kills the
// process with SIGKILL twice (once while publishing, once while delivering) and
// restarts it against emulators that outlive it, and then checks that every expected
// delivery was received or is failed in the API. It also checks that a publish
// retried with the same idempotency key after a crash yields one event.
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gancho-dev/gancho/infra/emulators"
	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/seal"
)

// Subscriptions is how many subscriptions (and receivers) each event fans out to.
const Subscriptions = 5

// eventType is the type every load event has.
const eventType = "soak.tick"

// stackName is the stack gancho-local provisions; the soak provisions the same.
const stackName = "gancho-local"

// probeSubscriptions receive the probes' events: with none, a publish would not
// reach the queue, where the gate holds it.
const probeSubscriptions = 2

// Config sets up a soak run.
type Config struct {
	RepoRoot   string        // holds go.mod, template.yaml, infra/local
	Events     int           // events to publish
	Publishers int           // concurrent publishing clients
	Deadline   time.Duration // whole run, setup included
	// Faults per subscription; the last subscription is the flaky one.
	Faults []Faults
	// RetrySchedule and TimeoutSeconds of every subscription.
	RetrySchedule  []int
	TimeoutSeconds int
	// Visibility is the deliveries queue's visibility timeout during the run: messages
	// in flight when the process is killed come back after it. The template's 360 s is
	// six Lambda timeouts; here a batch never runs longer than a few delivery timeouts.
	Visibility time.Duration
	Out        io.Writer // progress and the report
}

// DefaultConfig is the CI-size soak.
func DefaultConfig(root string) Config {
	normal := Faults{ServerError: 0.06, Hang: 0.01, Reset: 0.03}
	return Config{
		RepoRoot:       root,
		Events:         2000,
		Publishers:     8,
		Faults:         []Faults{normal, normal, normal, normal, {ServerError: 0.25, Hang: 0.03, Reset: 0.12}},
		RetrySchedule:  []int{1, 2, 4},
		TimeoutSeconds: 1,
		Visibility:     20 * time.Second,
		Out:            os.Stdout,
	}
}

// DeadlineFor is the default overall deadline for n events.
func DeadlineFor(n int) time.Duration {
	return 6*time.Minute + time.Duration(n)*30*time.Millisecond
}

// Kill describes one SIGKILL of the Gancho process.
type Kill struct {
	When      string // "publishing" or "delivering"
	Published int    // events accepted when it happened
	Received  int    // pairs received when it happened
	Restart   time.Duration
}

// ProbeResult is one idempotency-after-crash check.
type ProbeResult struct {
	Name, Form, Cut string
	Passed          bool
	Detail          string
}

// Result is what a run found.
type Result struct {
	Outcome
	Answers    map[string]int // receiver answers by kind
	APIStatus  map[string]int // final delivery statuses in the API, by status
	Kills      []Kill
	Probes     []ProbeResult
	Elapsed    time.Duration
	PublishFor time.Duration // first publish to last accepted
	Retries    int           // publish requests beyond one per event
	LogPath    string        // the Gancho process's output
}

// Passed reports whether the run found nothing lost, no extra event, and every probe
// passed.
func (r Result) Passed() bool { return r.failures() == 0 }

func (r Result) failures() int {
	n := 0
	if r.Lost > 0 || r.Expected == 0 {
		n++
	}
	if r.ExtraEvents > 0 {
		n++
	}
	for _, p := range r.Probes {
		if !p.Passed {
			n++
		}
	}
	return n
}

// Run runs the soak. The returned error is for a run that could not be carried out;
// a run that finds losses returns a Result that did not pass.
func Run(ctx context.Context, cfg Config) (Result, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	out := cfg.Out
	logf := func(format string, args ...any) {
		fmt.Fprintf(out, "soak: %5.1fs  %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
	}
	if err := emulators.CheckInstalled(cfg.RepoRoot); err != nil {
		return Result{}, fmt.Errorf("%w (make deps installs them)", err)
	}
	dir, err := os.MkdirTemp("", "gancho-soak-")
	if err != nil {
		return Result{}, err
	}
	var result Result
	defer func() {
		if result.LogPath == "" { // kept only when there is something to look into
			_ = os.RemoveAll(dir)
		}
	}()
	bin, err := BuildServer(ctx, cfg.RepoRoot, dir)
	if err != nil {
		return Result{}, err
	}

	// The emulators belong to this process, so they outlive every Gancho process.
	emu, err := emulators.Start(ctx, emulators.Options{RepoRoot: cfg.RepoRoot})
	if err != nil {
		return Result{}, err
	}
	defer func() { _ = emu.Stop() }()
	res, err := emulators.Provision(ctx, emu.DynamoDB(), emu.SQS(), filepath.Join(cfg.RepoRoot, "template.yaml"), stackName)
	if err != nil {
		return Result{}, fmt.Errorf("provision: %w", err)
	}
	queueURL := res.Queues["DeliveriesQueue"].URL
	sq := emu.SQS()
	logf("emulators ready (DynamoDB %s, SQS %s), resources of template.yaml provisioned", emu.DynamoEndpoint, emu.SQSEndpoint)

	// Gancho reaches SQS through the gate, which can hold a publish between storing its
	// event and queueing its deliveries.
	gt, err := startGate(strings.TrimPrefix(emu.SQSEndpoint, "http://"))
	if err != nil {
		return Result{}, err
	}
	defer gt.close()

	apiKey := auth.NewAPIKey()
	srv, err := NewServer(bin, cfg.RepoRoot, map[string]string{
		"AWS_ENDPOINT_URL":          "",
		"AWS_ENDPOINT_URL_DYNAMODB": emu.DynamoEndpoint,
		"AWS_ENDPOINT_URL_SQS":      gt.URL,
		"AWS_REGION":                emulators.DefaultRegion,
		"AWS_ACCESS_KEY_ID":         emulators.LocalAccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     emulators.LocalSecretAccessKey,
		"AWS_SESSION_TOKEN":         "",
		"AWS_EC2_METADATA_DISABLED": "true",
		"GANCHO_DEV_API_KEY":        apiKey,
		"GANCHO_ADMIN_KEY":          "gk_admin_" + auth.NewAPIKey()[3:],
		// Given, not generated, so that what one process sealed the next one opens.
		"GANCHO_ENCRYPTION_KEYS": seal.NewKey("soak"),
		"GANCHO_LOG_LEVEL":       "info",
		// Messages in flight at a kill come back within the run.
		"GANCHO_LOCAL_VISIBILITY_SECONDS": strconv.Itoa(int(cfg.Visibility.Seconds())),
	}, filepath.Join(dir, "gancho.log"))
	if err != nil {
		return Result{}, err
	}
	defer srv.Stop()
	result.LogPath = srv.LogPath()
	start := func() error {
		if err := srv.Start(ctx); err != nil {
			return err
		}
		// gancho-local sets the template's attributes again on every start.
		_, err := sq.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(queueURL),
			Attributes: map[string]string{"VisibilityTimeout": strconv.Itoa(int(cfg.Visibility.Seconds()))}})
		return err
	}
	if err := start(); err != nil {
		return result, err
	}
	logf("gancho-local up at %s (log %s)", srv.URL, srv.LogPath())

	a := newAPI(srv.URL, apiKey, cfg.Publishers+8)
	ledger := NewLedger()
	subIDs, closeReceivers, err := setUp(ctx, a, cfg, ledger)
	if err != nil {
		return result, err
	}
	defer closeReceivers()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	// Publishing, in the background; the kills happen meanwhile.
	ld := &load{cfg: cfg, api: a, run: run, third: make(chan struct{}), done: make(chan struct{})}
	go ld.publish(ctx)

	var probeWG sync.WaitGroup
	var probes []*probe
	// crash kills the process and restarts it. With probes, it first holds SQS, starts
	// them and kills once their events are stored: the load's publishes in flight are
	// then stuck at the same point. Without, the kill lands wherever the work is, e.g.
	// between a receiver's answer and the attempt's record.
	crash := func(when string, names ...string) error {
		if len(names) > 0 {
			gt.hold()
		}
		var ps []*probe
		for _, name := range names {
			form := keyHeader
			if name[0] == 'b' {
				form = keyBody
			}
			p := newProbe(name, form, run)
			p.begin(ctx, a)
			ps = append(ps, p)
		}
		stored := make([]bool, len(ps))
		var wg sync.WaitGroup
		for i, p := range ps {
			wg.Go(func() { stored[i] = p.awaitStored(ctx, a) })
		}
		wg.Wait()
		k := Kill{When: when, Published: int(ld.accepted.Load()), Received: ledger.Received()}
		err := srv.Kill()
		gt.drop()
		if err != nil {
			return fmt.Errorf("kill: %w", err)
		}
		t := time.Now()
		for i, p := range ps {
			p.killed(stored[i])
		}
		if err := start(); err != nil {
			return fmt.Errorf("restart after the kill while %s: %w", when, err)
		}
		k.Restart = time.Since(t)
		result.Kills = append(result.Kills, k)
		logf("SIGKILL while %s (%d events accepted, %d deliveries received); back in %.1fs", when, k.Published, k.Received, k.Restart.Seconds())
		for _, p := range ps {
			probes = append(probes, p)
			probeWG.Go(func() { p.finish(ctx, a) })
		}
		return nil
	}

	select {
	case <-ld.third:
	case <-ld.done:
	}
	if err := crash("publishing", "h1", "b1"); err != nil {
		return result, err
	}
	<-ld.done
	if ld.err != nil {
		return result, ld.err
	}
	result.PublishFor, result.Retries = ld.elapsed, int(ld.requests.Load())-cfg.Events
	logf("published %d events in %.1fs (%d retried requests)", cfg.Events, ld.elapsed.Seconds(), result.Retries)
	if err := crash("delivering"); err != nil {
		return result, err
	}

	events := ld.published()
	failed := settle(ctx, a, events, subIDs, ledger, logf)

	// The final word comes from a fresh context: the run's may have run out.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Minute)
	defer fcancel()
	probeWG.Wait()
	status, counts, err := finalStatuses(fctx, a, events, subIDs)
	if err != nil {
		return result, err
	}
	for p := range failed {
		status[p] = "failed" // final: seen failed earlier
	}
	listed := map[int][]string{}
	stored, err := a.events(fctx, eventType)
	if err != nil {
		return result, err
	}
	for _, e := range stored {
		if e.Data.Seq != nil {
			listed[*e.Data.Seq] = append(listed[*e.Data.Seq], e.ID)
		}
	}
	receipts, answers := ledger.Snapshot()
	result.Outcome = Reconcile(events, Subscriptions, receipts, status, listed)
	result.Answers, result.APIStatus = answers, counts
	for _, p := range probes {
		ok, detail := p.verdict()
		result.Probes = append(result.Probes, ProbeResult{Name: p.req.eventType, Form: p.req.form, Cut: p.cut, Passed: ok, Detail: detail})
	}
	result.Elapsed = time.Since(started)
	if result.Passed() {
		result.LogPath = ""
	}
	return result, nil
}

// setUp registers the event types, starts the receivers and creates one subscription
// per receiver, plus the probes' subscriptions; it returns the load subscriptions' ids
// by receiver number.
func setUp(ctx context.Context, a *api, cfg Config, ledger *Ledger) (map[string]int, func(), error) {
	for _, t := range []string{eventType, "soak.idem.h1", "soak.idem.b1"} {
		if err := a.must(ctx, http.MethodPut, "/v1/event-types/"+t, map[string]any{"description": "soak"}, nil, 200, 201); err != nil {
			return nil, nil, err
		}
	}
	var recvs []*receiver
	closeAll := func() {
		for _, r := range recvs {
			r.close()
		}
	}
	subIDs := map[string]int{}
	for i := range Subscriptions {
		r, err := startReceiver(i, cfg.Faults[i], ledger)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		recvs = append(recvs, r)
		var sub struct {
			ID string `json:"id"`
		}
		err = a.must(ctx, http.MethodPost, "/v1/subscriptions", map[string]any{
			"name": fmt.Sprintf("soak-%d", i), "url": r.URL, "events": []string{eventType},
			"timeoutSeconds": cfg.TimeoutSeconds, "retrySchedule": cfg.RetrySchedule,
		}, &sub, http.StatusCreated)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		subIDs[sub.ID] = i
	}
	sink, err := startSink()
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	for i := range probeSubscriptions {
		err := a.must(ctx, http.MethodPost, "/v1/subscriptions", map[string]any{
			"name": fmt.Sprintf("soak-probe-%d", i), "url": sink.URL, "events": []string{"soak.idem.*"},
			"timeoutSeconds": cfg.TimeoutSeconds, "retrySchedule": cfg.RetrySchedule,
		}, nil, http.StatusCreated)
		if err != nil {
			closeAll()
			_ = sink.Close()
			return nil, nil, err
		}
	}
	return subIDs, func() { closeAll(); _ = sink.Close() }, nil
}

// sink acknowledges everything (the probes' deliveries).
type sink struct {
	*http.Server
	URL string
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{Server: &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}, URL: "http://" + ln.Addr().String() + "/probe"}
	go func() { _ = s.Serve(ln) }()
	return s, nil
}

// load publishes the events, Publishers at a time.
type load struct {
	cfg Config
	api *api
	run string

	third    chan struct{} // closed when a third of the events are accepted
	done     chan struct{} // closed when publishing ended
	accepted atomic.Int64
	requests atomic.Int64
	elapsed  time.Duration
	err      error

	mu     sync.Mutex
	events []Published
}

func (l *load) publish(ctx context.Context) {
	defer close(l.done)
	began := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	seqs := make(chan int)
	var thirdOnce sync.Once
	var wg sync.WaitGroup
	for range l.cfg.Publishers {
		wg.Go(func() {
			for seq := range seqs {
				sent := time.Now()
				req := publishRequest{eventType: eventType, payload: map[string]any{"seq": seq},
					key: l.run + "-" + strconv.Itoa(seq), form: keyForm(seq)}
				res, tries, err := publishUntilAccepted(ctx, l.api, req)
				l.requests.Add(int64(tries))
				if err != nil {
					cancel(err)
					return
				}
				l.mu.Lock()
				l.events = append(l.events, Published{Seq: seq, EventID: res.ID, SentAt: sent})
				l.mu.Unlock()
				if l.accepted.Add(1) >= int64(l.cfg.Events/3) {
					thirdOnce.Do(func() { close(l.third) })
				}
			}
		})
	}
	for seq := 0; seq < l.cfg.Events && ctx.Err() == nil; seq++ {
		select {
		case seqs <- seq:
		case <-ctx.Done():
		}
	}
	close(seqs)
	wg.Wait()
	l.elapsed = time.Since(began)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		l.err = err
	}
}

func (l *load) published() []Published {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]Published(nil), l.events...)
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// settle waits until every expected pair is received or failed in the API, or the
// run's deadline; it returns the pairs seen failed.
func settle(ctx context.Context, a *api, events []Published, subIDs map[string]int, ledger *Ledger, logf func(string, ...any)) map[Pair]bool {
	failed := map[Pair]bool{}
	checked := map[int]time.Time{}
	lastLog := time.Time{}
	for {
		var open []Published
		openPairs := 0
		for _, ev := range events {
			n := 0
			for sub := range Subscriptions {
				p := Pair{ev.Seq, sub}
				if !failed[p] && !ledger.Has(p) {
					n++
				}
			}
			if n > 0 {
				open = append(open, ev)
				openPairs += n
			}
		}
		if time.Since(lastLog) >= 10*time.Second || openPairs == 0 {
			logf("received %d of %d deliveries, %d failed in the API, %d open", ledger.Received(), len(events)*Subscriptions, len(failed), openPairs)
			lastLog = time.Now()
		}
		if openPairs == 0 || ctx.Err() != nil {
			return failed
		}
		// Ask the API about the open pairs checked longest ago, a few at a time:
		// failed is final, anything else may still arrive.
		sort.SliceStable(open, func(i, j int) bool { return checked[open[i].Seq].Before(checked[open[j].Seq]) })
		var batch []Published
		for _, ev := range open {
			if len(batch) == 50 || time.Since(checked[ev.Seq]) < 5*time.Second {
				break
			}
			batch = append(batch, ev)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for _, ev := range batch {
			checked[ev.Seq] = time.Now()
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				ds, err := a.eventDeliveries(ctx, ev.EventID)
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				for _, d := range ds {
					if sub, ok := subIDs[d.SubscriptionID]; ok && d.Status == "failed" {
						failed[Pair{ev.Seq, sub}] = true
					}
				}
			})
		}
		wg.Wait()
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// finalStatuses reads every event's deliveries: each pair's status, and the count of
// deliveries by status.
func finalStatuses(ctx context.Context, a *api, events []Published, subIDs map[string]int) (map[Pair]string, map[string]int, error) {
	status := map[Pair]string{}
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, 8)
	for _, ev := range events {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ds, err := a.eventDeliveries(ctx, ev.EventID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for _, d := range ds {
				if sub, ok := subIDs[d.SubscriptionID]; ok {
					status[Pair{ev.Seq, sub}] = d.Status
					counts[d.Status]++
				}
			}
		})
	}
	wg.Wait()
	return status, counts, firstErr
}
