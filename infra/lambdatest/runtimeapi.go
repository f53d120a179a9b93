// Package lambdatest runs the real Lambda binaries (functions/*, built as bootstrap for
// Linux) against a local implementation of the Lambda Runtime API, each with its
// sample event from events/. RuntimeAPI is that implementation; the tests are in
// functions_test.go.
package lambdatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Runtime API limits and headers (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	maxResponseBytes = 6 << 20

	headerRequestID   = "Lambda-Runtime-Aws-Request-Id"
	headerDeadline    = "Lambda-Runtime-Deadline-Ms"
	headerFunctionARN = "Lambda-Runtime-Invoked-Function-Arn"
	headerTraceID     = "Lambda-Runtime-Trace-Id"
	headerErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// Outcome says how an invocation ended.
type Outcome string

// Outcomes.
const (
	OutcomeResponse  Outcome = "response"   // POST /runtime/invocation/{id}/response
	OutcomeError     Outcome = "error"      // POST /runtime/invocation/{id}/error
	OutcomeInitError Outcome = "init-error" // POST /runtime/init/error
)

// Result is what the function posted back.
type Result struct {
	Outcome   Outcome
	RequestID string
	Body      []byte // the response payload, or the error document
	ErrorType string // Lambda-Runtime-Function-Error-Type, for errors
}

// RuntimeAPI serves the Lambda Runtime API (2018-06-01) to one function process on a
// loopback port: AWS_LAMBDA_RUNTIME_API=<Addr()>. Each Invoke hands the next
// GET .../invocation/next one event and waits for what the function posts back.
type RuntimeAPI struct {
	// FunctionARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	FunctionARN string
	// Timeout sets each invocation's deadline (Lambda-Runtime-Deadline-Ms).
	Timeout time.Duration

	ln      net.Listener
	srv     *http.Server
	queue   chan *invocation
	initErr chan Result
	closed  chan struct{}
	once    sync.Once

	mu        sync.Mutex
	pending   map[string]*invocation // handed out, not yet answered
	firstPoll time.Time              // of the first GET .../invocation/next
}

type invocation struct {
	id    string
	event []byte
	done  chan Result // buffered: the handler never blocks on it
}

// NewRuntimeAPI starts a Runtime API on 127.0.0.1 and a free port.
func NewRuntimeAPI(functionARN string, timeout time.Duration) (*RuntimeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API: %w", err)
	}
	r := &RuntimeAPI{
		FunctionARN: functionARN,
		Timeout:     timeout,
		ln:          ln,
		queue:       make(chan *invocation),
		initErr:     make(chan Result, 1),
		closed:      make(chan struct{}),
		pending:     map[string]*invocation{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", r.next)
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", r.respond(OutcomeResponse))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", r.respond(OutcomeError))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", r.initError)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API.
func (r *RuntimeAPI) Addr() string { return r.ln.Addr().String() }

// Invoke gives event to the function and returns what it posted back: a response, an
// error, or an init error. It fails when ctx ends first (cancel it with a cause when
// the function's process exits).
func (r *RuntimeAPI) Invoke(ctx context.Context, event []byte) (Result, error) {
	inv := &invocation{id: newRequestID(), event: event, done: make(chan Result, 1)}
	select {
	case r.queue <- inv:
	case res := <-r.initErr:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("the function never asked for its invocation: %w", context.Cause(ctx))
	case <-r.closed:
		return Result{}, errors.New("runtime API closed")
	}
	select {
	case res := <-inv.done:
		return res, nil
	case res := <-r.initErr:
		return res, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invocation %s got no response: %w", inv.id, context.Cause(ctx))
	case <-r.closed:
		return Result{}, errors.New("runtime API closed")
	}
}

// FirstPoll is when the function first asked for an invocation (the end of its
// init), or zero before it has.
func (r *RuntimeAPI) FirstPoll() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstPoll
}

// Close stops the server. Stop the function first: a long poll on next ends when its
// connection does.
func (r *RuntimeAPI) Close() error {
	r.once.Do(func() { close(r.closed) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

// next long-polls for an invocation, as the real API does between invocations.
func (r *RuntimeAPI) next(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	if r.firstPoll.IsZero() {
		r.firstPoll = time.Now()
	}
	r.mu.Unlock()
	var inv *invocation
	select {
	case inv = <-r.queue:
	case <-req.Context().Done():
		return
	case <-r.closed:
		writeAPIError(w, http.StatusGone, "Runtime.Closed", "the runtime API is shutting down")
		return
	}
	r.mu.Lock()
	r.pending[inv.id] = inv
	r.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set(headerRequestID, inv.id)
	h.Set(headerDeadline, strconv.FormatInt(time.Now().Add(r.Timeout).UnixMilli(), 10))
	h.Set(headerFunctionARN, r.FunctionARN)
	h.Set(headerTraceID, newTraceID())
	_, _ = w.Write(inv.event)
}

func (r *RuntimeAPI) respond(outcome Outcome) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := req.PathValue("id")
		r.mu.Lock()
		inv, ok := r.pending[id]
		delete(r.pending, id)
		r.mu.Unlock()
		if !ok {
			writeAPIError(w, http.StatusBadRequest, "InvalidRequestID", "no invocation "+id+" is in progress")
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, maxResponseBytes+1))
		res := Result{Outcome: outcome, RequestID: id, Body: body, ErrorType: req.Header.Get(headerErrorType)}
		switch {
		case err != nil:
			res.Outcome, res.Body = OutcomeError, []byte(err.Error())
		case len(body) > maxResponseBytes:
			res.Outcome, res.ErrorType = OutcomeError, "Function.ResponseSizeTooLarge"
			inv.done <- res
			writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response exceeds 6 MB")
			return
		}
		// A response whose body failed mid-stream carries the error in trailers.
		if t := req.Trailer.Get(headerErrorType); t != "" {
			res.Outcome, res.ErrorType = OutcomeError, t
		}
		inv.done <- res
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"OK"}`))
	}
}

func (r *RuntimeAPI) initError(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, maxResponseBytes))
	select {
	case r.initErr <- Result{Outcome: OutcomeInitError, Body: body, ErrorType: req.Header.Get(headerErrorType)}:
	default: // one is enough
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(`{"status":"OK"}`))
}

func writeAPIError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg})
}

// newRequestID returns a random UUID, the form of Lambda request ids.
func newRequestID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header for an unsampled request.
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0",
		time.Now().Unix(), hex.EncodeToString(randomBytes(12)), hex.EncodeToString(randomBytes(8)))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
