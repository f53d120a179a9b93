package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gancho-dev/gancho/shared/gancho"
)

// IdempotencyStore is what Idempotency-Key handling needs from storage.
type IdempotencyStore interface {
	BeginIdempotent(ctx context.Context, rec gancho.IdempotencyRecord, now time.Time) (gancho.IdempotencyRecord, bool, error)
	FinishIdempotent(ctx context.Context, rec gancho.IdempotencyRecord) error
	ReleaseIdempotent(ctx context.Context, rec gancho.IdempotencyRecord) error
}

// Idempotency-Key handling (the API contract, "Conventions").
const (
	// HeaderIdempotencyKey names the request header that makes a POST repeatable.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderIdempotentReplayed is set to "true" on a response replayed from a key.
	HeaderIdempotentReplayed = "Idempotent-Replayed"
	// MaxIdempotencyKeyLength bounds a key; keys are printable ASCII.
	MaxIdempotencyKeyLength = 255
	// IdempotencyWindow is how long a key's first response is replayed (the rules
	// are gancho's, shared with publishing).
	IdempotencyWindow = gancho.IdempotencyWindow
	// maxReplayBody bounds the responses that are stored; a larger one (only a big
	// page of results can be) is not remembered, and a repeat runs again.
	maxReplayBody = 256 << 10
)

// replayedHeaders are the response headers a replay restores besides the body.
var replayedHeaders = []string{"Content-Type", "Location"}

// ownIdempotency names the routes that handle their Idempotency-Key themselves. A
// publish claims its key in the publish store (publish.Publisher.Publish), header or
// body alike: a stored response could not make a retry after a crash finish the
// first run's event, and a released or expired response record would let it publish
// a second one.
var ownIdempotency = map[string]bool{"publish-event": true}

// idempotent runs a POST route under its Idempotency-Key, if the request has one:
// the first request with a key runs and its response is stored; a repeat with the
// same request within IdempotencyWindow gets that response again without running.
// A key is the credential's own (the API contract): a request by another credential with
// the same key runs as a new request and never sees the stored response.
func (a *API) idempotent(rt Route, w http.ResponseWriter, r *http.Request) {
	values, ok := r.Header[HeaderIdempotencyKey]
	if !ok || rt.Scope == ScopeNone || ownIdempotency[rt.Name] {
		// No key, no caller to confine one to (no POST route is public), or a
		// route that keeps its keys itself.
		rt.handler(a, w, r)
		return
	}
	key, err := checkIdempotencyKey(values)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	limit := bodyLimit(rt.Name)
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	if err != nil {
		writeError(w, r, a.log, gancho.Errorf(gancho.KindBadRequest, "could not read the request body"))
		return
	}
	if len(body) > limit {
		// Refused by the route whatever the key: nothing to remember.
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
		rt.handler(a, w, r)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))

	p := principal(r)
	now := a.now().UTC()
	rec := gancho.IdempotencyRecord{
		Tenant:      p.TenantID,
		Credential:  p.KeyID,
		Owner:       p.OwnerID,
		Key:         key,
		Route:       rt.Name,
		RequestHash: requestHash(r, body),
		Lock:        hex.EncodeToString(gancho.RandomToken(16)),
		LeaseUntil:  now.Add(gancho.IdempotencyLease),
		CreatedAt:   now,
		ExpiresAt:   now.Add(IdempotencyWindow),
	}
	if rt.Scope == ScopeAdmin {
		rec.Tenant, rec.Owner = "", ""
	}
	got, started, err := a.store.BeginIdempotent(r.Context(), rec, now)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if !started {
		a.answerExisting(w, r, rec, got)
		return
	}

	buf := &responseBuffer{header: http.Header{}}
	defer func() {
		// A panicking handler must not hold the key until its lease ends.
		if v := recover(); v != nil {
			a.releaseIdempotent(r, rec)
			panic(v)
		}
	}()
	rt.handler(a, buf, r)

	status := buf.statusCode()
	if status >= 500 || buf.transient || buf.body.Len() > maxReplayBody {
		a.releaseIdempotent(r, rec)
	} else {
		rec.Status, rec.Body = status, buf.body.Bytes()
		rec.Header = map[string]string{}
		for _, name := range replayedHeaders {
			if v := buf.header.Get(name); v != "" {
				rec.Header[name] = v
			}
		}
		ctx, cancel := detached(r)
		defer cancel()
		if err := a.store.FinishIdempotent(ctx, rec); err != nil {
			// The work is done: answer it. A repeat gets 409 until the lease ends.
			a.log.ErrorContext(r.Context(), "store idempotent response", "route", rt.Name, "err", err)
		}
	}
	buf.sendTo(w)
}

// answerExisting answers a request whose key is already held by got.
func (a *API) answerExisting(w http.ResponseWriter, r *http.Request, rec, got gancho.IdempotencyRecord) {
	switch {
	case got.RequestHash != rec.RequestHash:
		writeError(w, r, a.log, &gancho.Error{Kind: gancho.KindConflict,
			Detail: "this Idempotency-Key was already used within 24 h for a different request (method, path or body); use a new key",
			Fields: []gancho.FieldError{{Field: HeaderIdempotencyKey, Message: "was used for a different request"}}})
	case got.State != gancho.IdempotencyDone:
		w.Header().Set("Retry-After", "1")
		writeError(w, r, a.log, &gancho.Error{Kind: gancho.KindConflict,
			Detail: "a request with this Idempotency-Key is still running; retry later to get its response",
			Fields: []gancho.FieldError{{Field: HeaderIdempotencyKey, Message: "is in use by a request that is still running"}}})
	default:
		for name, v := range got.Header {
			w.Header().Set(name, v)
		}
		w.Header().Set(HeaderIdempotentReplayed, "true")
		w.WriteHeader(got.Status)
		_, _ = w.Write(got.Body)
	}
}

func (a *API) releaseIdempotent(r *http.Request, rec gancho.IdempotencyRecord) {
	ctx, cancel := detached(r)
	defer cancel()
	if err := a.store.ReleaseIdempotent(ctx, rec); err != nil {
		a.log.ErrorContext(r.Context(), "release idempotency key", "route", rec.Route, "err", err)
	}
}

// detached is the request's context without its cancellation, so a client that hangs
// up cannot leave a key held.
func detached(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
}

// checkIdempotencyKey accepts exactly one key of 1-255 printable ASCII characters.
func checkIdempotencyKey(values []string) (string, error) {
	bad := func(msg string) error {
		return &gancho.Error{Kind: gancho.KindBadRequest, Detail: HeaderIdempotencyKey + " " + msg,
			Fields: []gancho.FieldError{{Field: HeaderIdempotencyKey, Message: msg}}}
	}
	if len(values) != 1 {
		return "", bad("must be sent once")
	}
	k := values[0]
	if k == "" || len(k) > MaxIdempotencyKeyLength {
		return "", bad("must be 1-" + strconv.Itoa(MaxIdempotencyKeyLength) + " printable ASCII characters")
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", bad("must be 1-" + strconv.Itoa(MaxIdempotencyKeyLength) + " printable ASCII characters")
		}
	}
	return k, nil
}

// requestHash identifies a request by its method, path (with query) and body.
func requestHash(r *http.Request, body []byte) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(r.Method), []byte(r.URL.RequestURI()), body} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// responseBuffer records a handler's response so it can be stored before it is sent.
type responseBuffer struct {
	header http.Header
	status int
	body   bytes.Buffer
	// transient: the response reports a failure of ours that a repeat may not
	// meet (a batch item's 500), so it is not stored for replay.
	transient bool
}

// markTransient keeps w's response from being stored under its Idempotency-Key.
func markTransient(w http.ResponseWriter) {
	if b, ok := w.(*responseBuffer); ok {
		b.transient = true
	}
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *responseBuffer) statusCode() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

func (b *responseBuffer) sendTo(w http.ResponseWriter) {
	for name, v := range b.header {
		w.Header()[name] = v
	}
	w.WriteHeader(b.statusCode())
	_, _ = w.Write(b.body.Bytes())
}
