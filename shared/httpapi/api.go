// Package httpapi is Gancho's HTTP API: plain http.Handlers, mounted all together by
// the local server and one route per Lambda behind API Gateway.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/catalog"
	"github.com/gancho-dev/gancho/shared/gancho"
	"github.com/gancho-dev/gancho/shared/publish"
	"github.com/gancho-dev/gancho/shared/results"
)

// Store is what the API needs from storage; each area of the API defines its part.
type Store interface {
	auth.KeyStore
	TenantStore
	catalog.Store // the event-type catalog's
	IdempotencyStore
	SubscriptionStore
	DeliveryStore
	results.Store // the pull-results routes'
}

// Publisher publishes events and queues deliveries again.
type Publisher interface {
	Publish(ctx context.Context, ev gancho.Event, idemKey, hash string) (publish.Result, error)
	BatchPublisher
	PublishTo(ctx context.Context, ev gancho.Event, subscriptionID string) (string, error)
	Requeue(ctx context.Context, marks publish.Requeuer, ds []gancho.Delivery) (int, error)
	RetryNow(ctx context.Context, marks publish.Requeuer, d gancho.Delivery, ordered bool) error
}

// API holds the handlers' dependencies.
type API struct {
	store     Store
	publisher Publisher
	dlq       publish.DeadLetters
	auth      *auth.Authenticator
	log       *slog.Logger
	policy    gancho.TargetPolicy
	adminHash string
	now       func() time.Time
	catalog   *catalog.Service
	results   *results.Service
}

// Config is what New needs.
type Config struct {
	Store     Store
	Publisher Publisher
	// DeadLetters is the queue whose dead letters the admin redrive moves back.
	DeadLetters publish.DeadLetters
	Log         *slog.Logger
	Policy      gancho.TargetPolicy
	// AdminKeyHash is the SHA-256 (hex) of the platform operator's key; empty
	// disables the admin routes.
	AdminKeyHash string
	// HTTPClient fetches tenants' JWKS documents; it must be the SSRF-guarded
	// outbound client (nil: a guarded client that reaches public addresses only).
	HTTPClient *http.Client
	Now        func() time.Time // nil: time.Now
}

// New returns the API.
func New(c Config) *API {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	authn := auth.New(auth.Config{Keys: c.Store, Issuers: c.Store, AdminKeyHash: c.AdminKeyHash, Client: c.HTTPClient, Now: now})
	return &API{store: c.Store, publisher: c.Publisher, dlq: c.DeadLetters, auth: authn,
		log: c.Log, policy: c.Policy, adminHash: c.AdminKeyHash, now: now, catalog: catalog.New(c.Store, now),
		results: results.New(c.Store, now, c.Log)}
}

// Handler serves the named routes, or every route when none is named. Unknown paths
// and methods get problem+json too.
func (a *API) Handler(names ...string) http.Handler {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	mux := http.NewServeMux()
	for _, rt := range Routes() {
		if len(names) > 0 && !want[rt.Name] {
			continue
		}
		mux.Handle(rt.Method+" "+rt.Path, a.wrap(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowed(r.URL.Path); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path, nil)
			return
		}
		writeProblem(w, http.StatusNotFound, "no route for "+r.Method+" "+r.URL.Path, nil)
	})
	return mux
}

// allowed lists the methods of every route whose path pattern matches path.
func allowed(path string) []string {
	var out []string
	got := strings.Split(strings.Trim(path, "/"), "/")
	for _, rt := range Routes() {
		want := strings.Split(strings.Trim(rt.Path, "/"), "/")
		if len(want) != len(got) {
			continue
		}
		match := true
		for i := range want {
			if want[i] != got[i] && !(strings.HasPrefix(want[i], "{") && got[i] != "") {
				match = false
				break
			}
		}
		if match {
			out = append(out, rt.Method)
		}
	}
	return out
}

type principalKey struct{}

func principal(r *http.Request) gancho.Principal {
	p, _ := r.Context().Value(principalKey{}).(gancho.Principal)
	return p
}

// wrap authenticates, checks the route's scope and logs one line per request.
func (a *API) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		attrs := []any{"route", rt.Name, "method", r.Method, "path", r.URL.Path}
		if rt.Scope != ScopeNone {
			p, err := a.auth.Authenticate(r)
			if err == nil {
				err = auth.Authorize(p, rt.Scope)
			}
			if err != nil {
				writeError(rec, r, a.log, err)
				a.log.InfoContext(r.Context(), "request", append(attrs, "status", rec.status, "durationMs", time.Since(start).Milliseconds())...)
				return
			}
			attrs = append(attrs, "tenantId", p.TenantID, "keyId", p.KeyID)
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		if id := r.PathValue("id"); len(id) > MaxPathIDLength {
			// Names nothing: answered here, before it reaches the store (whose key
			// size limit would make it a 500) or an Idempotency-Key record.
			writeError(rec, r, a.log, &gancho.Error{Kind: gancho.KindNotFound,
				Detail: fmt.Sprintf("not found: no id is longer than %d characters", MaxPathIDLength),
				Fields: []gancho.FieldError{{Field: "id", Message: fmt.Sprintf("is longer than %d characters", MaxPathIDLength)}}})
			a.log.InfoContext(r.Context(), "request", append(attrs, "status", rec.status, "durationMs", time.Since(start).Milliseconds())...)
			return
		}
		if r.Method == http.MethodPost {
			a.idempotent(rt, rec, r)
		} else {
			rt.handler(a, rec, r)
		}
		a.log.InfoContext(r.Context(), "request", append(attrs, "status", rec.status, "durationMs", time.Since(start).Milliseconds())...)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
