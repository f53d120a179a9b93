package openapi

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Field tags that say what a json tag cannot:
//
//	doc:"text"                      the property's description
//	schema:"key=value,key,..."      schema keywords: enum=a|b|c, format=..., readOnly,
//	                                writeOnly, type=integer|string (a union, e.g. numbers
//	                                that may come as strings), minimum, maximum,
//	                                minLength, maxLength, minItems, maxItems, notEnum=a|b
//
// A type whose shape json tags cannot say at all (an array of raw items decoded one by
// one later, one of several shapes) finishes its reflected schema in a DescribeSchema
// method; see Describer.
const (
	docTag    = "doc"
	schemaTag = "schema"
)

// Describer is a request or response type that finishes its own reflected schema.
// DescribeSchema is called on the type's zero value.
type Describer interface {
	DescribeSchema(s Schema)
}

// Schema is a reflected object schema handed to a Describer.
type Schema struct {
	m     map[string]any
	g     *generator
	t     reflect.Type
	input bool
}

// Set sets a keyword of the schema.
func (s Schema) Set(key string, v any) { s.m[key] = v }

// Delete removes a keyword of the schema.
func (s Schema) Delete(key string) { delete(s.m, key) }

// Property is the schema of the named property, to change in place; a name the type
// does not have is reported as a problem of the document.
func (s Schema) Property(name string) map[string]any {
	props, _ := s.m["properties"].(map[string]any)
	p, ok := props[name].(map[string]any)
	if !ok {
		s.g.problem("%s describes property %q, which it does not have", s.t, name)
		return map[string]any{}
	}
	return p
}

// Of is the schema of a value of type t (a reference for a named struct type),
// registering its component.
func (s Schema) Of(t reflect.Type) map[string]any { return s.g.typeSchema(t, s.input) }

// Ref refers to the component of t, registering it.
func (s Schema) Ref(t reflect.Type) map[string]any { return Ref(s.g.component(t, s.input)) }

// Ref is a reference to the named component schema.
func Ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// Body is a request or response body: a reflected Go type, or an array or list of one.
// schema registers its components and returns the schema to use.
type Body interface {
	schema(g *generator) map[string]any
}

type reflected struct {
	t        reflect.Type
	input    bool
	required []string
}

// Out is a body of type T that the API encodes: its fields are required unless
// omitempty (or omitzero).
func Out[T any]() Body { return reflected{t: reflect.TypeFor[T]()} }

// In is a body of type T that the API decodes: its fields are optional but for
// required, which holds for this route only (PATCH requires nothing of what POST
// requires of the same type).
func In[T any](required ...string) Body {
	return reflected{t: reflect.TypeFor[T](), input: true, required: required}
}

func (r reflected) schema(g *generator) map[string]any {
	if r.t.Kind() != reflect.Struct {
		return g.typeSchema(r.t, r.input)
	}
	name := g.component(r.t, r.input)
	if len(r.required) == 0 {
		return Ref(name)
	}
	// The component is shared, so the route's required fields go next to the
	// reference, non-null.
	have, _ := g.schemas[name].(map[string]any)["properties"].(map[string]any)
	req, props := []any{}, map[string]any{}
	for _, f := range r.required {
		p, ok := have[f].(map[string]any)
		if !ok {
			g.problem("required field %s.%s does not exist", name, f)
			continue
		}
		req = append(req, f)
		if types, ok := p["type"].([]any); ok && len(types) == 2 && types[1] == "null" {
			props[f] = map[string]any{"type": types[0]}
		}
	}
	s := map[string]any{"allOf": []any{Ref(name)}, "required": req}
	if len(props) > 0 {
		s["properties"] = props
	}
	return s
}

type arrayBody struct{ item Body }

// ArrayOf is a JSON array of item.
func ArrayOf(item Body) Body { return arrayBody{item} }

func (a arrayBody) schema(g *generator) map[string]any {
	return map[string]any{"type": "array", "items": a.item.schema(g)}
}

type listBody struct {
	envelope reflect.Type
	item     Body
}

// List is a page of items: the struct Envelope (the API's list shape) whose data
// property holds the items; it is named after the item, "<Item>List".
func List[Envelope any](item Body) Body { return listBody{reflect.TypeFor[Envelope](), item} }

func (l listBody) schema(g *generator) map[string]any {
	item := l.item.schema(g)
	s := g.structSchema(l.envelope, false)
	props := s["properties"].(map[string]any)
	if _, ok := props["data"]; !ok {
		g.problem("list envelope %s has no data property", l.envelope)
	}
	props["data"] = map[string]any{"type": "array", "items": item}
	ref, _ := item["$ref"].(string)
	name := strings.TrimPrefix(ref, "#/components/schemas/") + "List"
	g.schemas[name] = s
	return Ref(name)
}

// generator builds the document, collecting component schemas as it goes.
type generator struct {
	schemas  map[string]any
	names    map[reflect.Type]string
	rename   map[reflect.Type]string
	problems []string
}

func newGenerator(rename map[reflect.Type]string) *generator {
	return &generator{schemas: map[string]any{}, names: map[reflect.Type]string{}, rename: rename}
}

func (g *generator) problem(format string, args ...any) {
	g.problems = append(g.problems, fmt.Sprintf(format, args...))
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	jsonMarsh     = reflect.TypeFor[json.Marshaler]()
	textMarsh     = reflect.TypeFor[encoding.TextMarshaler]()
	describerType = reflect.TypeFor[Describer]()
)

// component registers the named struct type t as a component schema and returns its
// name: the name given in Spec.Names, else the Go name with an upper-case initial.
func (g *generator) component(t reflect.Type, input bool) string {
	if name, ok := g.names[t]; ok {
		return name
	}
	name := g.rename[t]
	if name == "" {
		name = t.Name()
		if name != "" {
			name = string(unicode.ToUpper(rune(name[0]))) + name[1:]
		}
	}
	if _, taken := g.schemas[name]; taken || name == "" {
		g.problem("type %s cannot be named %q in the document", t, name)
		name = strings.NewReplacer("/", ".", "[", "_", "]", "_", "*", "").Replace(t.String())
	}
	g.names[t] = name
	g.schemas[name] = map[string]any{} // placeholder: recursive types refer to it
	g.schemas[name] = g.structSchema(t, input)
	return name
}

// structSchema is the object schema of struct type t, following encoding/json: embedded
// structs without a name are flattened, "-" and unexported fields skipped. In output
// types a field is required unless it is omitempty (a pointer without omitempty is
// sent as null); in input types nothing is required by its tag.
func (g *generator) structSchema(t reflect.Type, input bool) map[string]any {
	properties := map[string]any{}
	var required []string
	g.fields(t, input, properties, &required, map[string]bool{})
	sort.Strings(required)
	s := map[string]any{"type": "object", "properties": properties}
	if len(required) > 0 {
		s["required"] = anySlice(required)
	}
	switch {
	case t.Implements(describerType):
		reflect.Zero(t).Interface().(Describer).DescribeSchema(Schema{m: s, g: g, t: t, input: input})
	case reflect.PointerTo(t).Implements(describerType):
		reflect.New(t).Interface().(Describer).DescribeSchema(Schema{m: s, g: g, t: t, input: input})
	}
	return s
}

func (g *generator) fields(t reflect.Type, input bool, properties map[string]any, required *[]string, seen map[string]bool) {
	var embedded []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, f)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		optional := slices.Contains(strings.Split(opts, ","), "omitempty") || slices.Contains(strings.Split(opts, ","), "omitzero")
		var fs map[string]any
		if slices.Contains(strings.Split(opts, ","), "string") && scalar(f.Type) {
			fs = map[string]any{"type": "string"}
		} else {
			fs = g.typeSchema(f.Type, input)
		}
		fs = g.annotate(t, f, fs)
		properties[name] = fs
		if !input && !optional {
			*required = append(*required, name)
		}
	}
	// Shallower fields win over those of embedded structs, as in encoding/json.
	for _, f := range embedded {
		ft := f.Type
		in := input
		if ft.Kind() == reflect.Pointer {
			ft, in = ft.Elem(), true // a nil embedded pointer leaves its fields out
		}
		g.fields(ft, in, properties, required, seen)
	}
}

// annotate applies f's doc and schema tags to its schema s. A reference cannot
// carry keywords of its own in every tool, so it is wrapped in allOf.
func (g *generator) annotate(t reflect.Type, f reflect.StructField, s map[string]any) map[string]any {
	doc, hasDoc := f.Tag.Lookup(docTag)
	kw, hasKW := f.Tag.Lookup(schemaTag)
	if !hasDoc && !hasKW {
		return s
	}
	out := make(map[string]any, len(s)+2)
	if _, isRef := s["$ref"]; isRef {
		out["allOf"] = []any{s}
	} else {
		for k, v := range s {
			out[k] = v
		}
	}
	if hasDoc {
		out["description"] = doc
	}
	if !hasKW {
		return out
	}
	for _, item := range strings.Split(kw, ",") {
		key, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
		switch key {
		case "readOnly", "writeOnly":
			out[key] = true
		case "format":
			out[key] = val
		case "enum":
			out[key] = anySlice(strings.Split(val, "|"))
		case "notEnum":
			out["not"] = map[string]any{"enum": anySlice(strings.Split(val, "|"))}
		case "type":
			types := anySlice(strings.Split(val, "|"))
			if len(types) == 1 {
				out[key] = types[0]
			} else {
				out[key] = types
			}
		case "minimum", "maximum", "minLength", "maxLength", "minItems", "maxItems":
			n, err := strconv.Atoi(val)
			if !hasVal || err != nil {
				g.problem("%s.%s: %s needs an integer", t, f.Name, key)
				continue
			}
			out[key] = n
		default:
			g.problem("%s.%s: unknown schema tag keyword %q", t, f.Name, key)
		}
	}
	return out
}

func scalar(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

// typeSchema is the schema of a value of type t.
func (g *generator) typeSchema(t reflect.Type, input bool) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{} // any JSON value
	case t.Kind() == reflect.Pointer:
		return nullable(g.typeSchema(t.Elem(), input))
	case t.Implements(jsonMarsh) || reflect.PointerTo(t).Implements(jsonMarsh):
		return map[string]any{}
	case t.Implements(textMarsh) || reflect.PointerTo(t).Implements(textMarsh):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem(), input)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), input)}
	case reflect.Struct:
		if t.Name() == "" {
			return g.structSchema(t, input)
		}
		return Ref(g.component(t, input))
	}
	return map[string]any{} // interfaces: any JSON value
}

// nullable lets s also be null.
func nullable(s map[string]any) map[string]any {
	if len(s) == 0 {
		return s
	}
	if typ, ok := s["type"].(string); ok {
		c := make(map[string]any, len(s))
		for k, v := range s {
			c[k] = v
		}
		c["type"] = []any{typ, "null"}
		return c
	}
	return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
}

func anySlice[T any](v []T) []any {
	out := make([]any, len(v))
	for i := range v {
		out[i] = v[i]
	}
	return out
}
