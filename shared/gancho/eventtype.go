package gancho

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
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

// EventType is one entry of a tenant's catalog (seed 003's GET /webhooks/events).
type EventType struct {
	TenantID    string          `json:"-"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Archived    bool            `json:"archived"`
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
	Description *string         `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

// BuiltInEventTypes are in every tenant's catalog.
func BuiltInEventTypes() []EventType {
	return []EventType{{
		Name:        TypeTest,
		Description: "Sent by POST /v1/subscriptions/{id}/test to check an endpoint; it cannot be published.",
		BuiltIn:     true,
	}}
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
	var sch *Schema
	if raw := bytes.TrimSpace(in.Schema); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, raw); err != nil {
			errs = append(errs, FieldError{Field: "schema", Message: "must be valid JSON"})
		} else if compact.Len() > MaxSchemaBytes {
			errs = append(errs, FieldError{Field: "schema", Message: fmt.Sprintf("must be at most %d bytes (compacted)", MaxSchemaBytes)})
		} else if s, err := CompileSchema(compact.Bytes()); err != nil {
			errs = append(errs, FieldError{Field: "schema", Message: "is not a valid JSON Schema: " + err.Error()})
		} else {
			et.Schema, et.HasSchema, sch = compact.Bytes(), true, s
		}
	}
	if len(errs) > 0 {
		return EventType{}, nil, Invalid(errs...)
	}
	return et, sch, nil
}

// Schema is a compiled JSON Schema that event payloads must match. It is safe for
// concurrent use; validations of one schema run one at a time.
type Schema struct {
	s *jsonschema.Schema

	mu    sync.Mutex // held while validating; guards steps
	steps *stepBudget
}

// Evaluation budgets. Some small schemas take exponential time (nested anyOf whose
// branches $ref the same definitions): every schema applied to a value is a step,
// and a validation that needs more steps than its budget is abandoned.
const (
	probeSteps       = 10_000
	minPayloadSteps  = 10_000
	stepsPerValue    = 10
	maxPayloadSteps  = 1_000_000
	budgetVocabulary = schemaBase + "vocab/evaluation-budget"
)

type stepBudget struct {
	armed bool
	left  int
}

// errOverBudget is panicked out of the schema library and recovered by run.
var errOverBudget = errors.New("schema evaluation over budget")

// stepCounter is attached to every schema object and counts its applications.
type stepCounter struct{ b *stepBudget }

func (c stepCounter) Validate(*jsonschema.ValidatorContext, any) {
	if c.b.armed {
		c.b.left--
		if c.b.left < 0 {
			panic(errOverBudget)
		}
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
// that already need too many steps to check trivial values are refused.
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, errors.New("must be valid JSON")
	}
	budget := &stepBudget{}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.RegisterVocabulary(&jsonschema.Vocabulary{URL: budgetVocabulary,
		Compile: func(*jsonschema.CompilerContext, map[string]any) (jsonschema.SchemaExt, error) {
			return stepCounter{budget}, nil
		}})
	c.AssertVocabs()
	if err := c.AddResource(schemaLocation, doc); err != nil {
		return nil, fmt.Errorf("add schema: %w", err)
	}
	s, err := c.Compile(schemaLocation)
	if err != nil {
		return nil, errors.New(compileReason(err))
	}
	sch := &Schema{s: s, steps: budget}
	for _, probe := range []any{map[string]any{}, []any{}, "", json.Number("0"), nil, true} {
		if over, _ := sch.run(probe, probeSteps); over {
			return nil, fmt.Errorf("it needs more than %d evaluation steps to check even a trivial value; avoid nesting anyOf/oneOf/allOf whose branches refer to the same definitions", probeSteps)
		}
	}
	return sch, nil
}

// run validates inst within a budget of steps; over reports that it ran out.
func (s *Schema) run(inst any, steps int) (over bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps.armed, s.steps.left = true, steps
	defer func() {
		s.steps.armed = false
		if r := recover(); r != nil {
			if r != errOverBudget {
				panic(r)
			}
			over, err = true, nil
		}
	}()
	return false, s.s.Validate(inst)
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
	steps := min(minPayloadSteps+stepsPerValue*countValues(inst), maxPayloadSteps)
	over, err := s.run(inst, steps)
	if over {
		return []FieldError{{Field: "payload", Message: fmt.Sprintf("could not be checked: the event type's schema needs more than %d evaluation steps for it; simplify the schema", steps)}}
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
	add := func(fe FieldError) {
		if !seen[fe] && len(out) < MaxSchemaErrors {
			seen[fe] = true
			out = append(out, fe)
		}
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
