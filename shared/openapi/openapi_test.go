package openapi_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gancho-dev/gancho/shared/auth"
	"github.com/gancho-dev/gancho/shared/openapi"
)

type problem struct {
	Type  string `json:"type"`
	Title string `json:"title"`
}

type widget struct {
	ID      string     `json:"id" schema:"readOnly" doc:"the widget's id"`
	Color   string     `json:"color" schema:"enum=red|blue"`
	Size    int        `json:"size,omitempty" schema:"minimum=1,maximum=9"`
	Seen    *time.Time `json:"seen"`
	Skipped string     `json:"-"`
	Part    part       `json:"part" doc:"the part it is made of"`
	Raw     json.RawMessage
}

type part struct {
	Name string `json:"name"`
}

type widgetInput struct {
	Color *string  `json:"color"`
	Parts []string `json:"parts"`
}

// DescribeSchema says what the tags cannot: the parts are part names.
func (widgetInput) DescribeSchema(s openapi.Schema) {
	s.Property("parts")["items"] = s.Ref(reflect.TypeFor[part]())
}

type badTags struct {
	A string `json:"a" schema:"colour=red"`
	B string `json:"b" schema:"minimum=x"`
}

type badDescriber struct {
	A string `json:"a"`
}

func (badDescriber) DescribeSchema(s openapi.Schema) { s.Property("b")["description"] = "none" }

func spec(routes []openapi.Route, docs map[string]openapi.Doc) openapi.Spec {
	return openapi.Spec{Routes: routes, Docs: docs, Problem: reflect.TypeFor[problem](),
		Event: reflect.TypeFor[part](), Notice: reflect.TypeFor[part](),
		IdempotencyKeyHeader: "Idempotency-Key", ReplayedHeader: "Idempotent-Replayed",
		MaxIdempotencyKeyLength: 255, MaxPathIDLength: 200,
		Names: map[reflect.Type]string{reflect.TypeFor[problem](): "Problem"}}
}

func build(t *testing.T, s openapi.Spec) (map[string]any, []string) {
	t.Helper()
	b, problems, err := openapi.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, problems
}

// Every route has a Doc and every Doc names a route; anything else is a problem.
func TestBuildReportsRoutesAndDocsThatDoNotMatch(t *testing.T) {
	get := func(name, path string) openapi.Route {
		return openapi.Route{Name: name, Method: "GET", Path: path, Scope: auth.ScopeNone, Summary: name}
	}
	ok := openapi.Doc{Success: []int{200}}
	for _, c := range []struct {
		name   string
		routes []openapi.Route
		docs   map[string]openapi.Doc
		want   []string
	}{
		{"one to one", []openapi.Route{get("a", "/a"), get("b", "/b")}, map[string]openapi.Doc{"a": ok, "b": ok}, nil},
		{"a route without a doc", []openapi.Route{get("a", "/a"), get("b", "/b")}, map[string]openapi.Doc{"a": ok},
			[]string{"route b (GET /b) has no entry"}},
		{"a doc without a route", []openapi.Route{get("a", "/a")}, map[string]openapi.Doc{"a": ok, "gone": ok},
			[]string{`entry "gone", which names no route`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, problems := build(t, spec(c.routes, c.docs))
			if len(problems) != len(c.want) {
				t.Fatalf("problems = %q, want %d matching %q", problems, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %q does not say %q", problems[i], w)
				}
			}
		})
	}
}

// Bodies are reflected from their types: json tags, omitempty, doc and schema tags,
// and a Describer.
func TestBodiesAreReflectedFromTypes(t *testing.T) {
	routes := []openapi.Route{{Name: "put-widget", Method: "PUT", Path: "/w/{id}", Scope: "widgets:write", Summary: "put"}}
	docs := map[string]openapi.Doc{"put-widget": {
		Request: openapi.In[widgetInput]("color"), Success: []int{200}, Response: openapi.Out[widget]()}}
	doc, problems := build(t, spec(routes, docs))
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	get := func(v any, path ...string) any {
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for _, c := range []struct {
		path []string
		want string
	}{
		{[]string{"Widget", "required"}, `["Raw","color","id","part","seen"]`},
		{[]string{"Widget", "properties", "id"}, `{"description":"the widget's id","readOnly":true,"type":"string"}`},
		{[]string{"Widget", "properties", "color"}, `{"enum":["red","blue"],"type":"string"}`},
		{[]string{"Widget", "properties", "size"}, `{"maximum":9,"minimum":1,"type":"integer"}`},
		{[]string{"Widget", "properties", "seen"}, `{"format":"date-time","type":["string","null"]}`},
		{[]string{"Widget", "properties", "part"}, `{"allOf":[{"$ref":"#/components/schemas/Part"}],"description":"the part it is made of"}`},
		{[]string{"Widget", "properties", "Raw"}, `{}`},
		{[]string{"WidgetInput", "properties", "parts", "items"}, `{"$ref":"#/components/schemas/Part"}`},
		// One component per type: the request, documented first, reflects it as input.
		{[]string{"Part"}, `{"properties":{"name":{"type":"string"}},"type":"object"}`},
	} {
		if got := js(get(schemas, c.path...)); got != c.want {
			t.Errorf("%s = %s, want %s", strings.Join(c.path, "."), got, c.want)
		}
	}
	if _, skipped := schemas["Widget"].(map[string]any)["properties"].(map[string]any)["Skipped"]; skipped {
		t.Error(`a json:"-" field is documented`)
	}
	body := get(doc, "paths", "/w/{id}", "put", "requestBody", "content", "application/json", "schema")
	if got := js(body); got != `{"allOf":[{"$ref":"#/components/schemas/WidgetInput"}],"properties":{"color":{"type":"string"}},"required":["color"]}` {
		t.Errorf("request body = %s", got)
	}
}

// Tags and Describers that name nothing are problems, not silently dropped.
func TestBadTagsAreProblems(t *testing.T) {
	routes := []openapi.Route{{Name: "a", Method: "POST", Path: "/a", Scope: auth.ScopeNone, Summary: "a"}}
	docs := map[string]openapi.Doc{"a": {Request: openapi.In[badDescriber](), Success: []int{200}, Response: openapi.Out[badTags]()}}
	_, problems := build(t, spec(routes, docs))
	for _, want := range []string{`unknown schema tag keyword "colour"`, "minimum needs an integer", `describes property "b"`} {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("problems %q do not say %q", problems, want)
		}
	}
}
