package gancho

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Event-type catalog limits.
const (
	// MaxSchemaBytes bounds an event type's JSON Schema, measured compacted.
	MaxSchemaBytes = 64 << 10
	// MaxEventTypes bounds a tenant's catalog, archived types included.
	MaxEventTypes = 1000
	// MaxSchemaErrors bounds the payload violations one refused publish reports.
	MaxSchemaErrors = 20
)

// EventType is one entry of a tenant's event catalog.
type EventType struct {
	TenantID    string          `json:"-"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty" doc:"the JSON Schema payloads must match"`
	// RetrySchedule, when set, replaces the subscriptions' schedules for deliveries
	// of events of this type published after it was set.
	RetrySchedule []int `json:"retrySchedule,omitempty" doc:"seconds before each retry, for deliveries of this type: replaces the subscriptions' own schedules"`
	Archived      bool  `json:"archived"`
	// BuiltIn marks the types Gancho itself defines (webhook.test); they cannot be
	// changed or archived and carry no timestamps.
	BuiltIn   bool      `json:"builtIn"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`

	// Rev counts the PUTs of this type; a compiled schema is current while its
	// revision is the catalog's.
	Rev int64 `json:"-"`
	// HasSchema is set by stores that list the catalog without loading schemas.
	HasSchema bool `json:"-"`
}

// Active reports whether new subscriptions and publishes may use the type.
func (et EventType) Active() bool { return !et.Archived }

// EventTypeInput is the body of PUT /v1/event-types/{name}. PUT replaces: an omitted
// description becomes empty and an omitted (or null) schema removes the schema.
type EventTypeInput struct {
	Description   *string         `json:"description"`
	Schema        json.RawMessage `json:"schema" doc:"a JSON Schema for the payload"`
	RetrySchedule *[]int          `json:"retrySchedule" doc:"seconds before each retry (1-20 steps), replacing the subscriptions' schedules for deliveries of this type; omitted or null: theirs"`
}

// BuiltInEventTypes are in every tenant's catalog.
func BuiltInEventTypes() []EventType {
	return append(operationalTypes(), EventType{
		Name:        TypeTest,
		Description: "Sent by POST /v1/subscriptions/{id}/test to check an endpoint; it cannot be published.",
		BuiltIn:     true,
	})
}

// IsBuiltInEventType reports whether name is defined by Gancho itself.
func IsBuiltInEventType(name string) bool {
	for _, b := range BuiltInEventTypes() {
		if b.Name == name {
			return true
		}
	}
	return false
}

// CheckEventTypeName validates the name of a catalog entry: an event type as
// published (dot-separated segments of letters, digits, '_' and '-'), never a
// pattern. Built-in names are a conflict, not a validation failure.
func CheckEventTypeName(name string) error {
	if IsBuiltInEventType(name) {
		return &Error{Kind: KindConflict, Detail: name + " is built in and cannot be changed or archived",
			Fields: []FieldError{{Field: "name", Message: "is built in and cannot be changed or archived"}}}
	}
	if strings.Contains(name, "*") {
		return Invalid(FieldError{Field: "name", Message: "must be one event type, not a pattern: '*' is not allowed"})
	}
	if IsOperational(name) {
		return &Error{Kind: KindConflict, Detail: "the " + OperationalPrefix + " prefix is Gancho's own operational events",
			Fields: []FieldError{{Field: "name", Message: "must not start with " + OperationalPrefix + " (Gancho's operational events)"}}}
	}
	if msg := checkEventType(name); msg != "" {
		return Invalid(FieldError{Field: "name", Message: msg})
	}
	return nil
}

// NewEventType validates a PUT of name and returns the type to store (without tenant
// or timestamps) and its compiled schema, nil when it has none. Every invalid field
// is reported at once.
func NewEventType(name string, in EventTypeInput) (EventType, *Schema, error) {
	var errs []FieldError
	if err := CheckEventTypeName(name); err != nil {
		var ge *Error
		if !errors.As(err, &ge) || ge.Kind != KindInvalid {
			return EventType{}, nil, err
		}
		errs = append(errs, ge.Fields...)
	}
	et := EventType{Name: name}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > MaxDescriptionLength {
			errs = append(errs, FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters", MaxDescriptionLength)})
		}
		et.Description = *in.Description
	}
	if in.RetrySchedule != nil {
		et.RetrySchedule = checkRetrySchedule(*in.RetrySchedule, func(field, format string, args ...any) {
			errs = append(errs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
		})
	}
	var sch *Schema
	if raw := bytes.TrimSpace(in.Schema); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			errs = append(errs, FieldError{Field: "schema", Message: "must be valid JSON"})
		} else if compact.Len() > MaxSchemaBytes {
			errs = append(errs, FieldError{Field: "schema", Message: fmt.Sprintf("must be at most %d bytes (compacted)", MaxSchemaBytes)})
		} else if s, err := CompileSchema(compact.Bytes()); err != nil {
			msg := "is not a valid JSON Schema: " + err.Error()
			if ce := (*SchemaCostError)(nil); errors.As(err, &ce) {
				msg = ce.Reason
			}
			errs = append(errs, FieldError{Field: "schema", Message: msg})
		} else {
			et.Schema, et.HasSchema, sch = compact.Bytes(), true, s
		}
	}
	if len(errs) > 0 {
		return EventType{}, nil, Invalid(errs...)
	}
	return et, sch, nil
}

// Schema-check bounds (the API contract: compiling a schema and checking a payload each have
// a CPU budget of about 50 ms). What a check costs is what the schema library makes
// of its input: it compares numbers exactly, as big rationals, so 1e999999 becomes a
// million-digit integer, and its compile time grows steeply with nesting. Numbers and
// nesting are therefore bounded before the library sees them, and a CPU budget,
// checked while the library works, cuts off whatever is still slow.
const (
	// SchemaCheckBudget is the CPU time one compile of a schema, or one check of a
	// payload, may take; a compile or check that runs out of it is refused. It is
	// CPU time, not elapsed time, so that a busy process does not refuse more.
	SchemaCheckBudget = 50 * time.Millisecond
	// MaxSchemaDepth bounds how deeply a schema's objects and arrays nest.
	MaxSchemaDepth = 64
	// MaxNumberDigits and MaxNumberExponent bound each number in a schema and in a
	// payload checked against one: at most MaxNumberDigits digits, and an exponent
	// (as written) within ±MaxNumberExponent. Every float64 as JSON encoders write
	// it, and every 256-bit integer, fits; exact arithmetic on such numbers takes
	// microseconds.
	MaxNumberDigits   = 100
	MaxNumberExponent = 400
	// storedSchemaBudget is the CPU time a schema accepted earlier may take to compile
	// again: a busy process must not refuse what a PUT accepted, and the bounds on
	// nesting and numbers keep it well below this.
	storedSchemaBudget = 10 * SchemaCheckBudget
	// maxIdleCopies bounds the compiled copies a schema keeps for concurrent checks.
	maxIdleCopies = 8
)

// budgetScale multiplies the budgets in builds that run slower (see race.go).
var budgetScale time.Duration = 1

// clockStart anchors threadCPU's fallback clock.
var clockStart = time.Now()

// cpuTimer measures the CPU time of the goroutine that started it, which stays on
// its OS thread until stop (so the thread's CPU time is the goroutine's).
type cpuTimer struct {
	start, limit time.Duration
}

func startCPUTimer(limit time.Duration) *cpuTimer {
	runtime.LockOSThread()
	return &cpuTimer{start: threadCPU(), limit: limit * budgetScale}
}

// over reports whether the limit is spent; a nil timer has none.
func (t *cpuTimer) over() bool { return t != nil && threadCPU()-t.start > t.limit }

func (t *cpuTimer) stop() { runtime.UnlockOSThread() }

// costlyNumberText explains the number bounds after "is a number".
var costlyNumberText = fmt.Sprintf("with more than %d digits or an exponent beyond ±%d: such numbers are too costly to compare exactly, so schema checks refuse them (send it as a string)", MaxNumberDigits, MaxNumberExponent)

// SchemaCostError refuses a schema for what checking it would cost rather than
// for being invalid. Reason completes "schema ...".
type SchemaCostError struct{ Reason string }

func (e *SchemaCostError) Error() string { return e.Reason }

// Schema is a compiled JSON Schema that event payloads must match. It is safe for
// concurrent use, and concurrent checks run in parallel: the library lets the
// budget counter be attached to a compiled schema only, not to one check, so each
// check borrows a compiled copy of its own. A copy is compiled only when every
// existing one is in use, so a process that checks one payload at a time (a
// Lambda) compiles a schema once.
type Schema struct {
	raw    json.RawMessage
	idle   chan *compiledSchema // copies not in use
	budget time.Duration        // CPU time of one check
	onStep func(v any)          // called at every step; tests hold checks with it
}

// compiledSchema is one compiled copy of a Schema, used by one check at a time.
type compiledSchema struct {
	s *jsonschema.Schema
	b *runBudget
}

// Evaluation budgets. Some small schemas take exponential time (nested anyOf whose
// branches $ref the same definitions): every schema applied to a value is a step,
// and a validation that needs more steps than its budget is abandoned. Every
// timeCheckEvery steps (the first included), the CPU budget is checked too.
const (
	probeSteps       = 10_000
	minPayloadSteps  = 10_000
	stepsPerValue    = 10
	maxPayloadSteps  = 1_000_000
	timeCheckEvery   = 128
	budgetVocabulary = schemaBase + "vocab/evaluation-budget"
)

// runBudget is the budget of the check in progress on one compiled copy.
type runBudget struct {
	armed  bool
	left   int
	taken  int
	timer  *cpuTimer
	onStep func(any)
}

// errOverSteps and errOverTime are panicked out of the schema library and
// recovered by run.
var (
	errOverSteps = errors.New("schema evaluation over its step budget")
	errOverTime  = errors.New("schema evaluation over its time budget")
)

// stepCounter is attached to every schema object and counts its applications.
type stepCounter struct{ b *runBudget }

func (c stepCounter) Validate(_ *jsonschema.ValidatorContext, v any) {
	b := c.b
	if !b.armed {
		return
	}
	if b.onStep != nil {
		b.onStep(v)
	}
	b.left--
	if b.left < 0 {
		panic(errOverSteps)
	}
	b.taken++
	if b.taken%timeCheckEvery == 1 && b.timer.over() {
		panic(errOverTime)
	}
}

// message is the schema library's English text for one error, without location.
func message(k jsonschema.ErrorKind) string {
	return strings.TrimPrefix((&jsonschema.ValidationError{ErrorKind: k}).Error(), "at '': ")
}

// schemaLocation names the schema being compiled. Relative references resolve
// against it; the .invalid domain can never resolve, and nothing is fetched anyway.
const (
	schemaBase     = "https://gancho.invalid/"
	schemaLocation = schemaBase + "event-type-schema.json"
)

// noLoader refuses every document a schema refers to beyond itself and the JSON
// Schema meta-schemas (which the library embeds): no network or file access ever
// happens while compiling.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, errors.New("remote references are not fetched")
}

// CompileSchema compiles raw as a JSON Schema (draft 2020-12 unless its $schema
// names another draft). The error text is the compiler's reason, fit for users.
// Like the 2020-12 default, "format" is an annotation and is not asserted. Schemas
// too costly to check are refused with a *SchemaCostError: nested more than
// MaxSchemaDepth levels, holding numbers beyond the number bounds, taking more than
// SchemaCheckBudget of CPU to compile, or needing too many steps for trivial values.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	return compileSchema(raw, SchemaCheckBudget)
}

// CompileStoredSchema is CompileSchema for a schema accepted earlier, with more
// CPU time (see storedSchemaBudget).
func CompileStoredSchema(raw json.RawMessage) (*Schema, error) {
	return compileSchema(raw, storedSchemaBudget)
}

func compileSchema(raw json.RawMessage, budget time.Duration) (*Schema, error) {
	timer := startCPUTimer(budget)
	defer timer.stop()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("must be valid JSON")
	}
	// Nesting and numbers are bounded before the library sees the schema: compiling
	// (the library checks the schema against its meta-schema first) cannot be
	// interrupted everywhere, so its input must be cheap.
	if hits := overBounds(doc, MaxSchemaDepth, 1); len(hits) > 0 {
		at := pointer(hits[0].at)
		if hits[0].deep {
			return nil, &SchemaCostError{fmt.Sprintf("is too costly to check: its objects and arrays nest more than %d levels deep (at %q)", MaxSchemaDepth, at)}
		}
		return nil, &SchemaCostError{fmt.Sprintf("is too costly to check: at %q it has a number %s", at, costlyNumberText)}
	}
	overTime := &SchemaCostError{fmt.Sprintf("is too costly to check: it takes more than %s of CPU to compile (the budget of schema checks); use fewer nested levels and subschemas", budget)}
	c, err := compileCopy(doc, timer)
	if errors.Is(err, errOverTime) {
		return nil, overTime
	}
	if err != nil {
		return nil, err
	}
	for _, probe := range []any{map[string]any{}, []any{}, "", json.Number("0"), nil, true} {
		switch over, _ := c.run(probe, probeSteps, timer, nil); over {
		case errOverSteps:
			return nil, &SchemaCostError{fmt.Sprintf("is too costly to check: it needs more than %d evaluation steps to check even a trivial value; avoid nesting anyOf/oneOf/allOf whose branches refer to the same definitions", probeSteps)}
		case errOverTime:
			return nil, overTime
		}
	}
	if timer.over() {
		return nil, overTime
	}
	sch := &Schema{raw: bytes.Clone(raw), idle: make(chan *compiledSchema, maxIdleCopies), budget: SchemaCheckBudget}
	sch.idle <- c
	return sch, nil
}

// compileCopy compiles doc, a schema within the bounds on nesting and numbers;
// once timer (if not nil) is over, it gives up with errOverTime.
func compileCopy(doc any, timer *cpuTimer) (*compiledSchema, error) {
	budget := &runBudget{}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.RegisterVocabulary(&jsonschema.Vocabulary{URL: budgetVocabulary,
		Compile: func(*jsonschema.CompilerContext, map[string]any) (jsonschema.SchemaExt, error) {
			// Called for every schema object compiled: where a slow compile is cut off.
			if timer.over() {
				return nil, errOverTime
			}
			return stepCounter{budget}, nil
		}})
	c.AssertVocabs()
	if err := c.AddResource(schemaLocation, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	s, err := c.Compile(schemaLocation)
	if errors.Is(err, errOverTime) {
		return nil, errOverTime
	}
	if err != nil {
		return nil, errors.New(compileReason(err))
	}
	return &compiledSchema{s: s, b: budget}, nil
}

// take returns a compiled copy for one check; put gives it back.
func (s *Schema) take() (*compiledSchema, error) {
	select {
	case c := <-s.idle:
		return c, nil
	default:
	}
	// Every copy is in use: compile another rather than wait for one. The schema
	// was accepted within the bounds, so this costs what its first compile did.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.raw))
	if err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	return compileCopy(doc, nil)
}

func (s *Schema) put(c *compiledSchema) {
	select {
	case s.idle <- c:
	default: // enough copies are idle already
	}
}

// run validates inst within a budget of steps and timer's; over is errOverSteps
// or errOverTime when it ran out of one.
func (c *compiledSchema) run(inst any, steps int, timer *cpuTimer, onStep func(any)) (over, err error) {
	*c.b = runBudget{armed: true, left: steps, timer: timer, onStep: onStep}
	defer func() {
		*c.b = runBudget{}
		if r := recover(); r != nil {
			if r != errOverSteps && r != errOverTime {
				panic(r)
			}
			over, err = r.(error), nil
		}
	}()
	return nil, c.s.Validate(inst)
}

// boundHit is a place in a JSON document that breaks a bound: a number beyond
// the number bounds or, when deep, nesting beyond the depth bound.
type boundHit struct {
	at   []string // JSON pointer tokens, unescaped
	deep bool
}

// overBounds lists, in document order (object members by name), at most max
// places where v, a decoded JSON value, breaks a bound; maxDepth 0 bounds no
// nesting.
func overBounds(v any, maxDepth, max int) []boundHit {
	w := boundWalk{maxDepth: maxDepth, max: max}
	w.walk(v, nil, 1)
	return w.hits
}

type boundWalk struct {
	maxDepth, max int
	hits          []boundHit
}

func (w *boundWalk) walk(v any, at []string, depth int) {
	if len(w.hits) >= w.max {
		return
	}
	switch v := v.(type) {
	case json.Number:
		if costlyNumber(string(v)) {
			w.hits = append(w.hits, boundHit{at: slices.Clone(at)})
		}
	case map[string]any:
		if w.maxDepth > 0 && depth > w.maxDepth {
			w.hits = append(w.hits, boundHit{at: slices.Clone(at), deep: true})
			return
		}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			w.walk(v[k], append(at, k), depth+1)
		}
	case []any:
		if w.maxDepth > 0 && depth > w.maxDepth {
			w.hits = append(w.hits, boundHit{at: slices.Clone(at), deep: true})
			return
		}
		for i, e := range v {
			w.walk(e, append(at, strconv.Itoa(i)), depth+1)
		}
	}
}

// costlyNumber reports whether n, a JSON number, is beyond the number bounds.
func costlyNumber(n string) bool {
	mant, exp := n, ""
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		mant, exp = n[:i], n[i+1:]
	}
	digits := len(strings.TrimPrefix(mant, "-"))
	if strings.Contains(mant, ".") {
		digits--
	}
	if digits > MaxNumberDigits {
		return true
	}
	exp = strings.TrimLeft(strings.TrimLeft(exp, "+-"), "0")
	if len(exp) > len(strconv.Itoa(MaxNumberExponent)) {
		return true
	}
	e, _ := strconv.Atoi(exp) // "" is 0
	return e > MaxNumberExponent
}

// pointer is the JSON pointer of tokens.
func pointer(tokens []string) string {
	if len(tokens) == 0 {
		return ""
	}
	return "/" + strings.Join(escapeTokens(tokens), "/")
}

// countValues counts the JSON values in v, v included.
func countValues(v any) int {
	n := 1
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			n += countValues(e)
		}
	case []any:
		for _, e := range v {
			n += countValues(e)
		}
	}
	return n
}

// compileReason turns a compiler error into one user-facing sentence.
func compileReason(err error) string {
	var load *jsonschema.LoadURLError
	var meta *jsonschema.SchemaValidationError
	switch {
	case errors.As(err, &load):
		return fmt.Sprintf("it refers to %q, which is not allowed: only references within the schema itself (\"#...\") and the standard meta-schemas are resolved, never remote ones", strings.TrimPrefix(load.URL, schemaBase))
	case errors.As(err, &meta):
		var ve *jsonschema.ValidationError
		if errors.As(meta.Err, &ve) {
			leaves := validationLeaves(ve, nil)
			if len(leaves) > 0 {
				l := leaves[0]
				return fmt.Sprintf("at %q: %s", "/"+strings.Join(escapeTokens(l.InstanceLocation), "/"), message(l.ErrorKind))
			}
		}
	}
	return strings.ReplaceAll(err.Error(), schemaLocation, "")
}

// Validate checks payload (JSON) against the schema and returns at most
// MaxSchemaErrors violations, each naming "payload" plus the JSON pointer of the
// offending value (payload/total, payload/items/0/sku).
func (s *Schema) Validate(payload json.RawMessage) []FieldError {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return []FieldError{{Field: "payload", Message: "must be valid JSON"}}
	}
	timer := startCPUTimer(s.budget)
	defer timer.stop()
	// Numbers beyond the bounds never reach the library, whatever the schema says.
	if hits := overBounds(inst, 0, MaxSchemaErrors); len(hits) > 0 {
		out := make([]FieldError, len(hits))
		for i, h := range hits {
			out[i] = FieldError{Field: "payload" + pointer(h.at), Message: "is a number " + costlyNumberText}
		}
		return out
	}
	steps := min(minPayloadSteps+stepsPerValue*countValues(inst), maxPayloadSteps)
	c, err := s.take()
	if err != nil {
		return []FieldError{{Field: "payload", Message: "could not be checked against the schema"}}
	}
	over, err := c.run(inst, steps, timer, s.onStep)
	s.put(c)
	switch over {
	case errOverSteps:
		return []FieldError{{Field: "payload", Message: fmt.Sprintf("could not be checked: the event type's schema needs more than %d evaluation steps for it; simplify the schema", steps)}}
	case errOverTime:
		return []FieldError{{Field: "payload", Message: fmt.Sprintf("could not be checked within the time budget of %s of CPU for one payload: the event type's schema is too costly for it; simplify the schema or send a smaller payload", s.budget)}}
	}
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []FieldError{{Field: "payload", Message: "could not be checked against the schema"}}
	}
	var out []FieldError
	seen := map[FieldError]bool{}
	// Keep the first MaxSchemaErrors in pointer order as they come (the library
	// visits properties in map order), never sorting every error of a payload that
	// breaks the schema everywhere.
	less := func(a, b FieldError) bool {
		return cmp.Or(comparePointers(a.Field, b.Field), strings.Compare(a.Message, b.Message)) < 0
	}
	add := func(fe FieldError) {
		if seen[fe] {
			return
		}
		seen[fe] = true
		if len(out) == MaxSchemaErrors {
			if !less(fe, out[len(out)-1]) {
				return
			}
			out = out[:len(out)-1]
		}
		i, _ := slices.BinarySearchFunc(out, fe, func(a, b FieldError) int {
			if less(a, b) {
				return -1
			}
			return 1
		})
		out = slices.Insert(out, i, fe)
	}
	for _, l := range validationLeaves(ve, nil) {
		field := strings.Join(append([]string{"payload"}, escapeTokens(l.InstanceLocation)...), "/")
		// Missing and unexpected properties are named at the property itself.
		switch k := l.ErrorKind.(type) {
		case *kind.Required:
			for _, p := range k.Missing {
				add(FieldError{Field: field + "/" + escapeToken(p), Message: "is required"})
			}
			continue
		case *kind.AdditionalProperties:
			for _, p := range k.Properties {
				add(FieldError{Field: field + "/" + escapeToken(p), Message: "is not allowed"})
			}
			continue
		}
		add(FieldError{Field: field, Message: message(l.ErrorKind)})
	}
	if len(out) == 0 {
		out = append(out, FieldError{Field: "payload", Message: "does not match the event type's schema"})
	}
	return out
}

// comparePointers orders JSON pointers token by token, array indexes by number, so
// payload/items/2 comes before payload/items/10.
func comparePointers(a, b string) int {
	ta, tb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := range min(len(ta), len(tb)) {
		x, errX := strconv.Atoi(ta[i])
		y, errY := strconv.Atoi(tb[i])
		if errX == nil && errY == nil {
			if c := cmp.Compare(x, y); c != 0 {
				return c
			}
			continue
		}
		if c := strings.Compare(ta[i], tb[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ta), len(tb))
}

// validationLeaves lists the innermost errors of a validation error tree in order.
func validationLeaves(ve *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return append(out, ve)
	}
	for _, c := range ve.Causes {
		out = validationLeaves(c, out)
	}
	return out
}

func escapeToken(tok string) string {
	return strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
}

func escapeTokens(toks []string) []string {
	out := make([]string, len(toks))
	for i, t := range toks {
		out[i] = escapeToken(t)
	}
	return out
}

// Catalog is a tenant's event types (built-in ones included) as subscriptions and
// publishes are checked against it.
type Catalog struct {
	byName map[string]EventType
	active []string // names of active types, sorted
	// open accepts types outside the catalog (the tenant's allowedEventTypesOnly is
	// false); archived types and schemas are enforced all the same.
	open bool
}

// Opened returns the catalog accepting types outside it, when open is true.
func (c *Catalog) Opened(open bool) *Catalog {
	cp := *c
	cp.open = open
	return &cp
}

// NewCatalog returns the catalog of types plus the built-in types.
func NewCatalog(types []EventType) *Catalog {
	c := &Catalog{byName: map[string]EventType{}}
	for _, et := range append(BuiltInEventTypes(), types...) {
		if _, dup := c.byName[et.Name]; dup {
			continue
		}
		c.byName[et.Name] = et
		if et.Active() {
			c.active = append(c.active, et.Name)
		}
	}
	sort.Strings(c.active)
	return c
}

// Lookup returns the named type, archived or not.
func (c *Catalog) Lookup(name string) (EventType, bool) {
	et, ok := c.byName[name]
	return et, ok
}

// Len is the number of types in the catalog, built-in ones included.
func (c *Catalog) Len() int { return len(c.byName) }

// catalogHint tells users where the catalog is.
const catalogHint = "see the catalog with GET /v1/event-types; add a type with PUT /v1/event-types/{name}"

// CheckPublishType reports why an event of type name may not be published, or ""
// when it may: the type must be an active catalog type.
func (c *Catalog) CheckPublishType(name string) string {
	et, ok := c.byName[name]
	switch {
	case !ok && c.open:
		return ""
	case !ok:
		return fmt.Sprintf("%q is not in this tenant's event-type catalog; %s", name, catalogHint)
	case et.Archived:
		return fmt.Sprintf("%q is archived (see the catalog with GET /v1/event-types); PUT /v1/event-types/%s restores it", name, name)
	}
	return ""
}

// CheckPattern reports why a subscription may not use pattern p, or "" when it may:
// "*", an active type, or "prefix.*" when at least one active type starts with
// "prefix.".
func (c *Catalog) CheckPattern(p string) string {
	if p == "*" {
		return ""
	}
	if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasSuffix(prefix, ".") {
		i := sort.SearchStrings(c.active, prefix)
		if c.open || i < len(c.active) && strings.HasPrefix(c.active[i], prefix) {
			return ""
		}
		return fmt.Sprintf("no active event type starts with %q; %s", prefix, catalogHint)
	}
	return c.CheckPublishType(p)
}

// CheckPatterns checks each of a subscription's patterns, naming events[i].
func (c *Catalog) CheckPatterns(patterns []string) []FieldError {
	var errs []FieldError
	for i, p := range patterns {
		if msg := c.CheckPattern(p); msg != "" {
			errs = append(errs, FieldError{Field: fmt.Sprintf("events[%d]", i), Message: msg})
		}
	}
	return errs
}
